// CUDA softmax / log-softmax along one axis, in float32 with the row maximum subtracted (NaN
// propagates as on the CPU): three passes over each row (max, sum of exponentials, write). The input
// is seen as outer x extent x inner: for inner == 1 rows of up to 1024 elements get a warp each (the
// row held in registers, read once, warp shuffles only: attention scores of 49 or 197 keys), longer
// rows a block each (block reductions); rows that are a whole number of 8- or 16-byte packs (and
// pointers aligned to them) are read and written a pack at a time and held in registers in both
// cases, up to 8192 elements of 2 bytes for a block, and rows of at most 32 16-byte packs take a
// group of lanes each, several rows a warp; otherwise one thread per (outer, inner) column
// looping over the axis (coalesced across threads).
#include <algorithm>

#include "kernels/common/axis_view.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/cuda/softmax.cuh"

namespace tensorforge::cuda {

namespace {

template <class T>
__global__ void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = MaxNanOp{}(mx, load(xr, j));
    mx = block_reduce(mx, MaxNanOp{}, -INFINITY);
    float sum = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) sum += expf(load(xr, j) - mx);
    sum = block_reduce(sum, SumOp{}, 0.0f);
    if (log) {
      const float shift = mx + logf(sum);
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = store_as<T>(load(xr, j) - shift);
    } else {
      const float inv = 1.0f / sum;
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = store_as<T>(expf(load(xr, j) - mx) * inv);
    }
  }
}

constexpr int kWarpRowMax = 1024;  // longest row softmax_warp_rows takes (32 lanes x 32 elements)
constexpr int kWarpRowWarps = 4;   // rows (warps) per block

/// One warp per row of n <= 32 * K elements: lane l holds elements l, l + 32, ... in registers.
template <class T, int K>
__global__ void __launch_bounds__(32 * kWarpRowWarps)
    softmax_warp_rows(const T* x, T* y, int64_t rows, int n, bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t r = blockIdx.x * int64_t(kWarpRowWarps) + (threadIdx.x >> 5);
  if (r >= rows) return;
  const T* xr = x + r * n;
  T* yr = y + r * n;
  float v[K];
  float mx = -INFINITY;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int j = lane + 32 * k;
    v[k] = j < n ? static_cast<float>(load(xr, j)) : -INFINITY;
    mx = MaxNanOp{}(mx, v[k]);
  }
  mx = warp_allreduce(mx, MaxNanOp{});
  float sum = 0;
#pragma unroll
  for (int k = 0; k < K; ++k)
    if (lane + 32 * k < n) sum += expf(v[k] - mx);
  sum = warp_allreduce(sum, SumOp{});
  const float shift = mx + logf(sum), inv = 1.0f / sum;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int j = lane + 32 * k;
    if (j < n) yr[j] = store_as<T>(log ? v[k] - shift : expf(v[k] - mx) * inv);
  }
}

template <class T, int K>
void launch_warp_rows(const T* x, T* y, int64_t rows, int n, bool log, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((rows + kWarpRowWarps - 1) / kWarpRowWarps);
  softmax_warp_rows<T, K><<<blocks, 32 * kWarpRowWarps, 0, s>>>(x, y, rows, n, log);
}

/// e^x for softmax over T: the hardware's approximation for 2-byte elements (its relative error,
/// about 2^-21 over softmax's range x <= 0, is far below their rounding), the exact expf for others.
template <class T>
__device__ __forceinline__ float softmax_exp(float x) {
  if constexpr (sizeof(T) == 2)
    return __expf(x);
  else
    return expf(x);
}

/// Reduction of v over the G lanes of a row's lane group (G a power of two up to 32; every lane of
/// the warp calls it).
template <int G, class A, class Op>
__device__ __forceinline__ A group_allreduce(A v, Op op) {
#pragma unroll
  for (int o = G / 2; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Rows of n elements, a whole number of W-element packs, held in registers as PK packs a thread
/// (read once, written once, each exponential computed once): a group of G lanes a row (Block
/// false, 32 / G rows a warp, kWarpRowWarps warps a block) or a block of kPackedRowThreads threads
/// a row (Block true, G unused). Pointers aligned to a pack.
constexpr int kPackedRowThreads = 256;
template <class T, int W, int PK, int G, bool Block>
__global__ void __launch_bounds__(Block ? kPackedRowThreads : 32 * kWarpRowWarps)
    softmax_packed_rows(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  using Pk = Pack<T, W>;
  constexpr int kGroups = Block ? 1 : 32 / G;  // rows a warp takes at once
  const int t = Block ? threadIdx.x : (threadIdx.x & (G - 1));
  const int width = Block ? kPackedRowThreads : G;
  const int64_t first = Block ? blockIdx.x : (blockIdx.x * int64_t(kWarpRowWarps) + (threadIdx.x >> 5)) * kGroups;
  const int64_t stride = Block ? int64_t(gridDim.x) : int64_t(gridDim.x) * kWarpRowWarps * kGroups;
  const int64_t packs = n / W;
  // Uniform across a block (Block) or a warp: every lane reaches the reductions, those of a row past
  // the end with nothing loaded.
  for (int64_t r0 = first; r0 < rows; r0 += stride) {
    const int64_t r = Block ? r0 : r0 + (threadIdx.x & 31) / G;
    const bool live = r < rows;
    const Pk* xr = reinterpret_cast<const Pk*>(x + r * n);
    Pk* yr = reinterpret_cast<Pk*>(y + r * n);
    float v[PK][W];
    float mx = -INFINITY;
#pragma unroll
    for (int k = 0; k < PK; ++k) {
      const int64_t p = t + int64_t(k) * width;
      if (live && p < packs) {
        const Pk u = xr[p];
#pragma unroll
        for (int q = 0; q < W; ++q) {
          v[k][q] = static_cast<float>(load(u.v, q));
          mx = MaxNanOp{}(mx, v[k][q]);
        }
      }
    }
    if constexpr (Block)
      mx = block_reduce(mx, MaxNanOp{}, -INFINITY);
    else
      mx = group_allreduce<G>(mx, MaxNanOp{});
    float sum = 0;
#pragma unroll
    for (int k = 0; k < PK; ++k)
      if (live && t + int64_t(k) * width < packs)
#pragma unroll
        for (int q = 0; q < W; ++q) {
          const float e = softmax_exp<T>(v[k][q] - mx);
          sum += e;
          if (!log) v[k][q] = e;
        }
    if constexpr (Block)
      sum = block_reduce(sum, SumOp{}, 0.0f);
    else
      sum = group_allreduce<G>(sum, SumOp{});
    const float shift = mx + logf(sum), inv = 1.0f / sum;
#pragma unroll
    for (int k = 0; k < PK; ++k) {
      const int64_t p = t + int64_t(k) * width;
      if (live && p < packs) {
        Pk u;
#pragma unroll
        for (int q = 0; q < W; ++q) u.v[q] = store_as<T>(log ? v[k][q] - shift : v[k][q] * inv);
        yr[p] = u;
      }
    }
  }
}

template <class T, int W, int PK, bool Block, int G = 32>
void launch_packed_rows(const T* x, T* y, int64_t rows, int64_t n, bool log, cudaStream_t s) {
  const int64_t per_block = Block ? 1 : kWarpRowWarps * (32 / G);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((rows + per_block - 1) / per_block, 1 << 30));
  softmax_packed_rows<T, W, PK, G, Block>
      <<<blocks, Block ? kPackedRowThreads : 32 * kWarpRowWarps, 0, s>>>(x, y, rows, n, log);
}

/// Launches softmax_packed_rows when the rows fit it (false otherwise): rows of at most 32 16-byte
/// packs a group of lanes each (the fewest lanes, 4 to 32, with a pack each: 16 for BERT's 128
/// float16 keys, two rows a warp), other rows of up to kWarpRowMax elements a warp each in 8-byte
/// packs (16-byte for 4-byte elements), longer ones a block each in 16-byte packs, up to 4 packs a
/// thread.
template <class T>
bool launch_packed(const T* x, T* y, int64_t rows, int64_t n, bool log, cudaStream_t s) {
  constexpr int V = vec_width<T>();
  constexpr int WW = sizeof(T) == 2 ? V / 2 : V;  // the warp's pack
  auto aligned = [&](int w) {
    const size_t b = static_cast<size_t>(w) * sizeof(T);
    return n % w == 0 && reinterpret_cast<uintptr_t>(x) % b == 0 && reinterpret_cast<uintptr_t>(y) % b == 0;
  };
  if (n <= 32 * V && aligned(V)) {
    const int64_t packs = n / V;
    if (packs <= 4)
      launch_packed_rows<T, V, 1, false, 4>(x, y, rows, n, log, s);
    else if (packs <= 8)
      launch_packed_rows<T, V, 1, false, 8>(x, y, rows, n, log, s);
    else if (packs <= 16)
      launch_packed_rows<T, V, 1, false, 16>(x, y, rows, n, log, s);
    else
      launch_packed_rows<T, V, 1, false, 32>(x, y, rows, n, log, s);
    return true;
  }
  if (n <= kWarpRowMax && aligned(WW)) {
    const int64_t per_lane = (n / WW + 31) / 32;
    if (per_lane <= 1)
      launch_packed_rows<T, WW, 1, false>(x, y, rows, n, log, s);
    else if (per_lane <= 2)
      launch_packed_rows<T, WW, 2, false>(x, y, rows, n, log, s);
    else if (per_lane <= 4)
      launch_packed_rows<T, WW, 4, false>(x, y, rows, n, log, s);
    else
      launch_packed_rows<T, WW, 8, false>(x, y, rows, n, log, s);
    return true;
  }
  if (n > kWarpRowMax && n <= int64_t(kPackedRowThreads) * V * 4 && aligned(V)) {
    const int64_t per_thread = (n / V + kPackedRowThreads - 1) / kPackedRowThreads;
    if (per_thread <= 1)
      launch_packed_rows<T, V, 1, true>(x, y, rows, n, log, s);
    else if (per_thread <= 2)
      launch_packed_rows<T, V, 2, true>(x, y, rows, n, log, s);
    else
      launch_packed_rows<T, V, 4, true>(x, y, rows, n, log, s);
    return true;
  }
  return false;
}

template <class T>
__global__ void softmax_columns(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  const int64_t total = outer * inner;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < total; c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = c / inner, base = o * n * inner + (c - o * inner);
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      float v = load(x, base + j * inner);
      mx = MaxNanOp{}(mx, v);
      if (v != v) break;
    }
    float sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += expf(load(x, base + j * inner) - mx);
    if (log) {
      const float shift = mx + logf(sum);
      for (int64_t j = 0; j < n; ++j) y[base + j * inner] = store_as<T>(load(x, base + j * inner) - shift);
    } else {
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < n; ++j) y[base + j * inner] = store_as<T>(expf(load(x, base + j * inner) - mx) * inv);
    }
  }
}

template <class T>
class SoftmaxKernel : public Kernel {
 public:
  explicit SoftmaxKernel(const KernelSpec& s)
      : v_(axis_view(s.inputs[0]->dims, norm_axis(ir::attr_int(s.layer, "axis"), s.inputs[0]->dims.rank()))),
        log_(ir::attr_int(s.layer, "log") != 0) {}

  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (v_.outer * v_.extent * v_.inner == 0) return;
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    if (v_.inner == 1 && launch_packed(x, y, v_.outer, v_.extent, log_, stream())) {
      check_launch("launching softmax_packed_rows");
    } else if (v_.inner == 1 && v_.extent <= kWarpRowMax && v_.outer <= (int64_t(1) << 32)) {
      const int n = static_cast<int>(v_.extent);
      if (n <= 32)
        launch_warp_rows<T, 1>(x, y, v_.outer, n, log_, stream());
      else if (n <= 64)
        launch_warp_rows<T, 2>(x, y, v_.outer, n, log_, stream());
      else if (n <= 128)
        launch_warp_rows<T, 4>(x, y, v_.outer, n, log_, stream());
      else if (n <= 256)
        launch_warp_rows<T, 8>(x, y, v_.outer, n, log_, stream());
      else if (n <= 512)
        launch_warp_rows<T, 16>(x, y, v_.outer, n, log_, stream());
      else
        launch_warp_rows<T, 32>(x, y, v_.outer, n, log_, stream());
      check_launch("launching softmax_warp_rows");
    } else if (v_.inner == 1) {
      softmax_rows<<<row_blocks(v_.outer), row_threads(v_.extent), 0, stream()>>>(x, y, v_.outer, v_.extent, log_);
      check_launch("launching softmax_rows");
    } else {
      softmax_columns<<<blocks_for(v_.outer * v_.inner), kThreads, 0, stream()>>>(x, y, v_.outer, v_.extent, v_.inner,
                                                                                 log_);
      check_launch("launching softmax_columns");
    }
  }

 private:
  AxisView v_;
  bool log_;
};

}  // namespace

std::unique_ptr<Kernel> create_softmax(const KernelSpec& s) {
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>)
      return std::make_unique<SoftmaxKernel<T>>(s);
    else
      return nullptr;
  });
}

}  // namespace tensorforge::cuda
