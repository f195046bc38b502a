// Shared pieces of the CUDA row-reduction kernels (softmax, normalization, reduce): warp and block
// reductions with shuffles (deterministic: a fixed tree for a given block size) and a NaN-propagating
// max. Blocks have a multiple of 32 threads, at most 1024.
#pragma once

#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

template <class A>
__device__ __forceinline__ A shfl_down(A v, int offset) {
  if constexpr (std::is_same_v<A, bool>)
    return __shfl_down_sync(0xffffffffu, static_cast<int>(v), offset) != 0;
  else if constexpr (std::is_integral_v<A> && sizeof(A) < 4)
    return static_cast<A>(__shfl_down_sync(0xffffffffu, static_cast<int>(v), offset));
  else if constexpr (std::is_same_v<A, int64_t>)
    return static_cast<A>(__shfl_down_sync(0xffffffffu, static_cast<long long>(v), offset));
  else if constexpr (std::is_same_v<A, uint64_t>)
    return static_cast<A>(__shfl_down_sync(0xffffffffu, static_cast<unsigned long long>(v), offset));
  else
    return __shfl_down_sync(0xffffffffu, v, offset);
}

/// Reduction of v over the warp; lane 0 holds the result.
template <class A, class Op>
__device__ __forceinline__ A warp_reduce(A v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, shfl_down(v, o));
  return v;
}

/// Reduction of v over the warp, returned to every lane (butterfly shuffles).
template <class A, class Op>
__device__ __forceinline__ A warp_allreduce(A v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Reduction of v over the block, returned to every thread. Every thread of the block must call it.
template <class A, class Op>
__device__ __forceinline__ A block_reduce(A v, Op op, A identity) {
  __shared__ A buf[33];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // a previous call's readers of buf[32] are done
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? buf[lane] : identity;
    v = warp_reduce(v, op);
    if (lane == 0) buf[32] = v;
  }
  __syncthreads();
  return buf[32];
}

struct SumOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};

/// max with NaN winning over everything (either argument order).
struct MaxNanOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return (b > a || b != b) ? b : a;
  }
};
struct MinNanOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return (b < a || b != b) ? b : a;
  }
};

/// Threads for a block that reduces rows of n elements: a multiple of 32, 32 .. 512.
inline int row_threads(int64_t n) {
  int64_t t = (n + 31) / 32 * 32;
  return static_cast<int>(t < 32 ? 32 : (t > 512 ? 512 : t));
}

/// Blocks for `rows` rows with a grid-stride loop over rows.
inline unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(rows < 1 ? 1 : (rows > (1 << 30) ? (1 << 30) : rows)); }

}  // namespace tensorforge::cuda
