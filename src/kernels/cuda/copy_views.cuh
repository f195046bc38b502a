// CUDA data-movement family helpers and the factories of reshape, transpose, expand and slice.
// The views are one strided copy: out[i] = in[offset + sum_k idx_k(i) * stride_k], the input offset
// computed from the output index with per-dim strides (like the CPU's StridedCopy), moving whole
// elements as unsigned words of the element's size (dtype-agnostic).
#pragma once

#include <vector>

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_reshape(const KernelSpec& s);
std::unique_ptr<Kernel> create_transpose(const KernelSpec& s);
std::unique_ptr<Kernel> create_expand(const KernelSpec& s);
std::unique_ptr<Kernel> create_slice(const KernelSpec& s);
std::unique_ptr<Kernel> create_as_strided(const KernelSpec& s);

/// Calls f(Tag<W>{}) with W the unsigned integer type of `elem` bytes (1, 2, 4 or 8).
template <class F>
decltype(auto) dispatch_bytes(size_t elem, F&& f) {
  switch (elem) {
    case 1: return f(Tag<uint8_t>{});
    case 2: return f(Tag<uint16_t>{});
    case 4: return f(Tag<uint32_t>{});
    default: return f(Tag<uint64_t>{});
  }
}

/// A strided view planned on the host: extents of 1 dropped, dims contiguous with their neighbour
/// merged. Passed to kernels by value.
struct StridedPlan {
  int rank = 0;
  int64_t dims[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  int64_t offset = 0;

  __device__ __forceinline__ int64_t in_offset(int64_t i) const {
    int64_t off = offset;
    for (int d = rank - 1; d >= 0; --d) {
      int64_t q = i / dims[d];
      off += (i - q * dims[d]) * strides[d];
      i = q;
    }
    return off;
  }
};

inline StridedPlan plan_strided(const Dims& out, const std::vector<int64_t>& in_strides, int64_t offset) {
  StridedPlan p;
  p.offset = offset;
  for (int k = 0; k < out.rank(); ++k) {
    if (out[k] == 1) continue;
    if (p.rank > 0 && p.strides[p.rank - 1] == in_strides[k] * out[k]) {  // contiguous with the previous dim
      p.dims[p.rank - 1] *= out[k];
      p.strides[p.rank - 1] = in_strides[k];
      continue;
    }
    p.dims[p.rank] = out[k];
    p.strides[p.rank] = in_strides[k];
    ++p.rank;
  }
  return p;
}

}  // namespace tensorforge::cuda
