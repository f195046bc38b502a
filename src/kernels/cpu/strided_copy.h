// Copying a strided view of a contiguous tensor into a contiguous output, by bytes (dtype-agnostic).
// Transpose, expand and slice are all this copy with different input strides; the plan merges
// dimensions that are contiguous in both, and copies the innermost two dims by rows or 32x32 tiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensorforge/types.h"

namespace tensorforge::cpu {

/// out[i] = in[offset + sum_k idx_k(i) * in_strides[k]] for every row-major index i of `out_dims`
/// (strides and offset in elements of `elem` bytes; stride 0 repeats an element).
class StridedCopy {
 public:
  StridedCopy() = default;
  StridedCopy(const Dims& out_dims, const std::vector<int64_t>& in_strides, int64_t in_offset, size_t elem);
  /// Performs the copy; allocates nothing.
  void run(const void* in, void* out) const;

 private:
  int rank_ = 0;  ///< >= 2 after planning, unless empty_.
  int64_t dims_[kMaxDims] = {};
  int64_t strides_[kMaxDims] = {};
  int64_t offset_ = 0;
  size_t elem_ = 1;
  bool empty_ = true;
};

}  // namespace tensorforge::cpu
