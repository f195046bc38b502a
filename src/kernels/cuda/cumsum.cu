// CUDA cumsum along one axis with the CPU kernel's arithmetic (src/kernels/cpu/cumsum.cc): floating
// types accumulate in double and round on store (as the CPU and PyTorch's CPU kernel; fp64 adds are
// cheap next to the memory traffic of a scan), integers in 64-bit unsigned arithmetic and wrap to
// their width. The input is seen as outer x extent x inner: contiguous rows (inner == 1) longer than
// 64 get a block each, scanned a block-wide tile at a time (warp shuffles, then the warp totals) with
// a running carry, each thread taking one or two 16-byte packs of the tile where rows are whole
// packs; otherwise each (outer, inner) column gets a thread that adds along the axis in
// order (threads of adjacent columns read adjacent elements), which is the CPU's loop exactly.
#include <type_traits>

#include "kernels/common/axis_view.h"
#include "kernels/cuda/make_non_bool.cuh"
#include "kernels/cuda/row_reduce.cuh"

namespace tensorforge::cuda {

namespace {

template <class A>
__device__ __forceinline__ A shfl_up(A v, int offset) {
  if constexpr (std::is_same_v<A, double>)
    return __shfl_up_sync(0xffffffffu, v, offset);
  else
    return static_cast<A>(__shfl_up_sync(0xffffffffu, static_cast<unsigned long long>(v), offset));
}

/// Inclusive scan of v over the warp.
template <class A>
__device__ __forceinline__ A warp_scan(A v, int lane) {
  for (int o = 1; o < 32; o <<= 1) {
    const A t = shfl_up(v, o);
    if (lane >= o) v += t;
  }
  return v;
}

template <class T, class A>
__global__ void cumsum_rows(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n) {
  __shared__ A warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    A carry = 0;
    for (int64_t j0 = 0; j0 < n; j0 += blockDim.x) {
      const int64_t j = j0 + threadIdx.x;
      const A v = warp_scan(j < n ? static_cast<A>(load(xr, j)) : A(0), lane);
      if (lane == 31) warp_sums[warp] = v;
      __syncthreads();
      if (warp == 0) {
        const A w = warp_scan(lane < warps ? warp_sums[lane] : A(0), lane);
        if (lane < warps) warp_sums[lane] = w;
      }
      __syncthreads();
      if (j < n) yr[j] = store_as<T>(carry + (warp > 0 ? warp_sums[warp - 1] : A(0)) + v);
      carry += warp_sums[warps - 1];
      __syncthreads();  // every thread has read warp_sums before the next tile writes it
    }
  }
}

// cumsum_rows for rows that are a whole number of 16-byte packs (pointers aligned): each thread
// takes PK adjacent packs of V elements, keeps them as loaded (16 bytes a pack in registers, not
// V accumulators, so that more rows fit an SM at once), adds them up for the block's scan, then adds
// them again in order into the stored prefix: a tile is blockDim.x * PK * V elements, a row of 4096
// float16 values one tile of 256 threads.
template <class T, class A, int V, int PK>
__global__ void cumsum_rows_vec(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n) {
  __shared__ A warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int64_t packs = n / V;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const Pack<T, V>* xr = reinterpret_cast<const Pack<T, V>*>(x + r * n);
    Pack<T, V>* yr = reinterpret_cast<Pack<T, V>*>(y + r * n);
    A carry = 0;
    for (int64_t p0 = 0; p0 < packs; p0 += int64_t(blockDim.x) * PK) {
      const int64_t p = p0 + int64_t(threadIdx.x) * PK;
      Pack<T, V> u[PK];
#pragma unroll
      for (int k = 0; k < PK; ++k)
        if (p + k < packs) u[k] = xr[p + k];
      A total = 0;
#pragma unroll
      for (int k = 0; k < PK; ++k)
        if (p + k < packs)
#pragma unroll
          for (int e = 0; e < V; ++e) total += static_cast<A>(load(u[k].v, e));
      const A v = warp_scan(total, lane);  // this thread's packs' total, scanned over the warp
      if (lane == 31) warp_sums[warp] = v;
      __syncthreads();
      if (warp == 0) {
        const A w = warp_scan(lane < warps ? warp_sums[lane] : A(0), lane);
        if (lane < warps) warp_sums[lane] = w;
      }
      __syncthreads();
      A earlier = shfl_up(v, 1);  // the warp's packs before this thread's (exclusive scan)
      if (lane == 0) earlier = 0;
      A acc = carry + (warp > 0 ? warp_sums[warp - 1] : A(0)) + earlier;
#pragma unroll
      for (int k = 0; k < PK; ++k)
        if (p + k < packs) {
          Pack<T, V> out;
#pragma unroll
          for (int e = 0; e < V; ++e) out.v[e] = store_as<T>(acc += static_cast<A>(load(u[k].v, e)));
          yr[p + k] = out;
        }
      carry += warp_sums[warps - 1];
      __syncthreads();  // every thread has read warp_sums before the next tile writes it
    }
  }
}

template <class T, class A>
__global__ void cumsum_columns(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n, int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < total; c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = c / inner;
    A acc = 0;
    for (int64_t j = 0, off = o * n * inner + (c - o * inner); j < n; ++j, off += inner) {
      acc += static_cast<A>(load(x, off));
      y[off] = store_as<T>(acc);
    }
  }
}

template <class T>
class CumSumKernel : public Kernel {
  using A = std::conditional_t<is_float_v<T>, double, uint64_t>;

 public:
  explicit CumSumKernel(const AxisView& v) : v_(v) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (v_.outer * v_.extent * v_.inner == 0) return;
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    constexpr int V = vec_width<T>();
    if (v_.inner == 1 && v_.extent > 64 && V > 1 && v_.extent % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(y) % 16 == 0) {
      const int64_t packs = v_.extent / V;
      if (packs >= 512)  // two packs a thread: 256 threads a row of 4096 float16
        cumsum_rows_vec<T, A, V, 2><<<row_blocks(v_.outer), row_threads((packs + 1) / 2), 0, stream()>>>(
            x, y, v_.outer, v_.extent);
      else
        cumsum_rows_vec<T, A, V, 1><<<row_blocks(v_.outer), row_threads(packs), 0, stream()>>>(x, y, v_.outer,
                                                                                            v_.extent);
      check_launch("launching cumsum_rows_vec");
    } else if (v_.inner == 1 && v_.extent > 64) {
      cumsum_rows<T, A><<<row_blocks(v_.outer), row_threads(v_.extent), 0, stream()>>>(x, y, v_.outer, v_.extent);
      check_launch("launching cumsum_rows");
    } else {
      cumsum_columns<T, A><<<blocks_for(v_.outer * v_.inner), kThreads, 0, stream()>>>(x, y, v_.outer, v_.extent,
                                                                                        v_.inner);
      check_launch("launching cumsum_columns");
    }
  }

 private:
  AxisView v_;
};

}  // namespace

std::unique_ptr<Kernel> create_cumsum(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  const AxisView v = axis_view(d, norm_axis(ir::attr_int(s.layer, "axis"), d.rank()));
  return make_non_bool<CumSumKernel>(s.inputs[0]->dtype, v);
}

}  // namespace tensorforge::cuda
