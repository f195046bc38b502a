// Walking the batch dims of a batched matrix operation (matmul, attention masks), shared by the CPU
// and CUDA kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "tensorforge/types.h"

namespace tensorforge {

/// Walks the row-major indices of a batch shape, keeping up to two operand offsets (in units of
/// whole matrices) current; strides are 0 along broadcast dims. No allocation.
class BatchWalker {
 public:
  /// `extents` is the output batch shape; sa and sb hold one stride per batch dim.
  BatchWalker(const std::vector<int64_t>& extents, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb)
      : extents_(extents), sa_(sa), sb_(sb) {}
  int64_t a() const { return a_; }
  int64_t b() const { return b_; }
  void next() {
    for (int d = static_cast<int>(extents_.size()) - 1; d >= 0; --d) {
      a_ += sa_[d];
      b_ += sb_[d];
      if (++index_[d] < extents_[d]) return;
      a_ -= sa_[d] * extents_[d];
      b_ -= sb_[d] * extents_[d];
      index_[d] = 0;
    }
  }

 private:
  const std::vector<int64_t>& extents_;
  const std::vector<int64_t>& sa_;
  const std::vector<int64_t>& sb_;
  int64_t index_[kMaxDims] = {};
  int64_t a_ = 0, b_ = 0;
};

}  // namespace tensorforge
