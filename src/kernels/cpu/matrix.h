// Factories of the CPU matrix kernels (matmul, attention; registered in matmul_family.cc) and the
// helpers they share: float16/bfloat16 <-> float32 staging buffers and batch offset walking.
#pragma once

#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_matmul(const KernelSpec& s);
std::unique_ptr<Kernel> create_attention(const KernelSpec& s);

/// Copies n elements of storage type T into float32.
template <class T>
void load_floats(const T* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load(src, i));
}

/// Stores n float32 values as storage type T (rounded).
template <class T>
void store_floats(const float* src, int64_t n, T* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = store_as<T>(src[i]);
}

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

}  // namespace tensorforge::cpu
