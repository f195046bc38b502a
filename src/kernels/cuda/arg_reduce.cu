// CUDA arg_reduce (argmax/argmin along one axis) with the semantics of src/kernels/cpu/arg_reduce.cc.
// arg_reduce keeps the CPU's answer (first extreme, first NaN wins): along the last axis (inner 1)
// each row gets a block whose threads scan strided elements and combine (value, index) pairs in a
// tree that prefers NaN, then the extreme, then the lower index, or, for many rows of whole 16-byte
// packs, a warp (arg_reduce_half_warps for 16-bit floats, arg_reduce_packed_warps or
// arg_reduce_warps_vec otherwise); along another axis one thread per (outer, inner) column runs the
// CPU's loop (adjacent threads read adjacent elements).
#include <climits>
#include <cstring>
#include <type_traits>

#include "kernels/common/axis_view.h"
#include "kernels/cuda/packed_keys.cuh"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/make_non_bool.cuh"
#include "kernels/cuda/reduce_kernels.cuh"
#include "kernels/layer_attrs.h"

namespace tensorforge::cuda {

namespace {

using reduce_detail::kWarpRowPacks;
using reduce_detail::kWarpRowsAtLeast;
using reduce_detail::kWarpRowsPerBlock;

template <class T>
__global__ void arg_reduce_kernel(const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner, bool is_max) {
  const int64_t total = outer * inner;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < total; c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = c / inner, base = o * n * inner + (c - o * inner);
    auto best = load(x, base);
    int64_t at = 0;
    for (int64_t j = 1; j < n && best == best; ++j) {
      auto v = load(x, base + j * inner);
      if (v != v || (is_max ? v > best : v < best)) best = v, at = j;
    }
    y[c] = at;
  }
}

// A candidate of arg_reduce_rows: a value and its index along the axis (-1: none yet).
template <class V>
struct ArgPair {
  V v;
  int64_t i;
};

// The CPU's preference between two candidates: a NaN wins (the first NaN among NaNs), then the
// extreme, then, between equal values, the lower index.
template <class V>
__device__ __forceinline__ ArgPair<V> arg_better(ArgPair<V> a, ArgPair<V> b, bool is_max) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool a_nan = a.v != a.v, b_nan = b.v != b.v;
  if (a_nan || b_nan) return a_nan && (!b_nan || a.i < b.i) ? a : b;
  if (is_max ? b.v > a.v : b.v < a.v) return b;
  if (a.v == b.v && b.i < a.i) return b;
  return a;
}

// A lane's candidate after element j of value v (j increasing: the first of equals stays, the
// first NaN stays).
template <class V>
__device__ __forceinline__ void arg_step(ArgPair<V>& best, V v, int64_t j, bool is_max) {
  if (best.i < 0 || v != v || (best.v == best.v && (is_max ? v > best.v : v < best.v))) {
    if (best.i < 0 || best.v == best.v) best = {v, j};
  }
}

// One block per row of n contiguous elements (grid-stride over rows).
template <class T>
__global__ void arg_reduce_rows(const T* x, int64_t* y, int64_t rows, int64_t n, bool is_max) {
  using V = decltype(load(x, 0));
  __shared__ ArgPair<V> part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * n;
    ArgPair<V> best{V{}, -1};
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) arg_step(best, load(row, j), j, is_max);
    for (int o = 16; o > 0; o >>= 1) {
      ArgPair<V> other{shfl_down(best.v, o), shfl_down(best.i, o)};
      if (lane + o < 32) best = arg_better(best, other, is_max);
    }
    if (lane == 0) part[warp] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < warps; ++w) best = arg_better(best, part[w], is_max);
      y[r] = best.i;
    }
    __syncthreads();  // part is reused by the next row
  }
}

// arg_reduce_rows for many short rows, 16-byte aligned and a whole number of packs long: a warp a
// row, four 16-byte loads in flight per lane, no shared memory or barriers.
template <class T, int P>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    arg_reduce_warps_vec(const T* x, int64_t* y, int64_t rows, int64_t n, bool is_max) {
  using V = decltype(load(x, 0));
  const int lane = threadIdx.x & 31;
  const int64_t packs_end = n / P;
  for (int64_t r = blockIdx.x * int64_t(kWarpRowsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += int64_t(gridDim.x) * kWarpRowsPerBlock) {
    const Pack<T, P>* packs = reinterpret_cast<const Pack<T, P>*>(x + r * n);
    ArgPair<V> best{V{}, -1};
    int64_t p = lane;
    for (; p + 96 < packs_end; p += 128) {
      const Pack<T, P> u[4] = {packs[p], packs[p + 32], packs[p + 64], packs[p + 96]};
#pragma unroll
      for (int q = 0; q < 4; ++q)
#pragma unroll
        for (int k = 0; k < P; ++k) arg_step(best, load(u[q].v, k), (p + 32 * q) * P + k, is_max);
    }
    for (; p < packs_end; p += 32) {
      const Pack<T, P> u = packs[p];
#pragma unroll
      for (int k = 0; k < P; ++k) arg_step(best, load(u.v, k), p * P + k, is_max);
    }
    for (int o = 16; o > 0; o >>= 1) {
      ArgPair<V> other{shfl_down(best.v, o), shfl_down(best.i, o)};
      if (lane + o < 32) best = arg_better(best, other, is_max);
    }
    if (lane == 0) y[r] = best.i;
  }
}

// arg_reduce_warps_vec over packed keys (elements of at most 4 bytes, rows shorter than the key's
// index field): the answer is the largest word of the row, so each element costs a key and an
// unsigned max, with no branches.
template <class T, int P>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    arg_reduce_packed_warps(const T* x, int64_t* y, int64_t rows, int64_t n, bool is_max) {
  using K = Packed<T>;
  using W = typename K::Word;
  const int lane = threadIdx.x & 31;
  const int64_t packs_end = n / P;
  for (int64_t r = blockIdx.x * int64_t(kWarpRowsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += int64_t(gridDim.x) * kWarpRowsPerBlock) {
    const Pack<T, P>* packs = reinterpret_cast<const Pack<T, P>*>(x + r * n);
    W best = 0;
    auto take = [&](const Pack<T, P>& u, int64_t p) {
#pragma unroll
      for (int k = 0; k < P; ++k) {
        const W w = K::arg_key(u.v[k], p * P + k, is_max);
        best = w > best ? w : best;
      }
    };
    int64_t p = lane;
    for (; p + 224 < packs_end; p += 256) {  // eight loads in flight: a row of 4096 in two rounds
      Pack<T, P> u[8];
#pragma unroll
      for (int q = 0; q < 8; ++q) u[q] = packs[p + 32 * q];
#pragma unroll
      for (int q = 0; q < 8; ++q) take(u[q], p + 32 * q);
    }
    for (; p + 96 < packs_end; p += 128) {
      const Pack<T, P> u0 = packs[p], u1 = packs[p + 32], u2 = packs[p + 64], u3 = packs[p + 96];
      take(u0, p);
      take(u1, p + 32);
      take(u2, p + 64);
      take(u3, p + 96);
    }
    for (; p < packs_end; p += 32) take(packs[p], p);
    for (int o = 16; o > 0; o >>= 1) {
      const W other = __shfl_xor_sync(0xffffffffu, best, o);
      best = other > best ? other : best;
    }
    if (lane == 0) y[r] = K::index(best);
  }
}

// arg_reduce over many rows of 16-bit floats (16-byte aligned, whole 16-byte words, at most
// 32 * kWarpRowPacks words): a warp a row, each lane holding its words in registers (the row read
// once). The row's extreme by native pair maxima (minima for argmin), NaN propagating, exchanged over
// the warp; then each lane's first element equal to it (its first NaN when the extreme is NaN) by
// pair compare masks, and the warp's lowest such index. -0.0 equals 0.0, so the first of either
// wins, as on the CPU. About one instruction per two elements where a key per element takes several.
template <class T>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    arg_reduce_half_warps(const T* x, int64_t* y, int64_t rows, int64_t n, bool is_max) {
  constexpr int kWords = static_cast<int>(kWarpRowPacks);
  const uint32_t worst = worst_pair_bits<T>(is_max);
  auto extreme = [is_max](Pair<T> a, Pair<T> b) { return pair_extreme<T>(a, b, is_max); };
  const int lane = threadIdx.x & 31, words = static_cast<int>(n / 8);
  for (int64_t r = blockIdx.x * int64_t(kWarpRowsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += int64_t(gridDim.x) * kWarpRowsPerBlock) {
    const uint4* row = reinterpret_cast<const uint4*>(x + r * n);
    uint4 held[kWords];
#pragma unroll
    for (int q = 0; q < kWords; ++q)
      held[q] = lane + 32 * q < words ? row[lane + 32 * q] : make_uint4(worst, worst, worst, worst);
    Pair<T> m = pair_of<T>(worst);
#pragma unroll
    for (int q = 0; q < kWords; ++q)
      m = extreme(m, extreme(extreme(pair_of<T>(held[q].x), pair_of<T>(held[q].y)),
                             extreme(pair_of<T>(held[q].z), pair_of<T>(held[q].w))));
    uint32_t bits;
    memcpy(&bits, &m, sizeof bits);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const uint32_t other = __shfl_xor_sync(0xffffffffu, bits, o);
      const Pair<T> e = extreme(pair_of<T>(bits), pair_of<T>(other));
      memcpy(&bits, &e, sizeof bits);
    }
    // both halves: the row's extreme (the lanes now agree on the even and odd elements' extremes)
    const Pair<T> target = extreme(pair_of<T>(bits), pair_of<T>(bits >> 16 | bits << 16));
    const bool nan = __hneu2_mask(target, target) != 0u;  // the extreme is NaN: the first NaN wins
    int first = INT_MAX;
#pragma unroll
    for (int q = 0; q < kWords; ++q) {
      if (first != INT_MAX || lane + 32 * q >= words) continue;
      const uint32_t w4[4] = {held[q].x, held[q].y, held[q].z, held[q].w};
#pragma unroll
      for (int e = 0; e < 8 && first == INT_MAX; e += 2) {
        const Pair<T> p = pair_of<T>(w4[e / 2]);
        const uint32_t hit = nan ? __hneu2_mask(p, p) : __heq2_mask(p, target);
        if (hit) first = (lane + 32 * q) * 8 + e + ((hit & 0xffffu) ? 0 : 1);
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) first = min(first, __shfl_xor_sync(0xffffffffu, first, o));
    if (lane == 0) y[r] = first;
  }
}

template <class T>
class ArgReduceKernel : public Kernel {
 public:
  ArgReduceKernel(const AxisView& v, bool is_max) : v_(v), max_(is_max) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = v_.outer * v_.inner;
    if (total == 0 || v_.extent == 0) return;
    constexpr int P = vec_width<T>();
    if (P > 1 && v_.inner == 1 && v_.outer >= kWarpRowsAtLeast && v_.extent % P == 0 &&
        v_.extent <= 32 * kWarpRowPacks * P && reinterpret_cast<uintptr_t>(in[0].data) % 16 == 0) {
      const int64_t blocks = std::min<int64_t>((v_.outer + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock, 1 << 30);
      if constexpr (is_half_float_v<T>) {
        arg_reduce_half_warps<T><<<static_cast<unsigned>(blocks), 32 * kWarpRowsPerBlock, 0, stream()>>>(
            in[0].as<T>(), out[0].as<int64_t>(), v_.outer, v_.extent, max_);
        check_launch("launching arg_reduce_half_warps");
        return;
      }
      if constexpr (sizeof(T) <= 4) {
        if (v_.extent < Packed<T>::kMaxExtent) {
          arg_reduce_packed_warps<T, P><<<static_cast<unsigned>(blocks), 32 * kWarpRowsPerBlock, 0, stream()>>>(
              in[0].as<T>(), out[0].as<int64_t>(), v_.outer, v_.extent, max_);
          check_launch("launching arg_reduce_packed_warps");
          return;
        }
      }
      arg_reduce_warps_vec<T, P><<<static_cast<unsigned>(blocks), 32 * kWarpRowsPerBlock, 0, stream()>>>(
          in[0].as<T>(), out[0].as<int64_t>(), v_.outer, v_.extent, max_);
      check_launch("launching arg_reduce_warps_vec");
      return;
    }
    if (v_.inner == 1 && v_.extent >= 64) {
      arg_reduce_rows<<<row_blocks(v_.outer), row_threads(v_.extent), 0, stream()>>>(
          in[0].as<T>(), out[0].as<int64_t>(), v_.outer, v_.extent, max_);
      check_launch("launching arg_reduce_rows");
      return;
    }
    arg_reduce_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(in[0].as<T>(), out[0].as<int64_t>(), v_.outer,
                                                                     v_.extent, v_.inner, max_);
    check_launch("launching arg_reduce_kernel");
  }

 private:
  AxisView v_;
  bool max_;
};

}  // namespace

std::unique_ptr<Kernel> create_arg_reduce(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  AxisView v = axis_view(d, norm_axis(ir::attr_int(s.layer, "axis"), d.rank()));
  const bool is_max = ir::attr_string(s.layer, "op") == "argmax";
  return make_non_bool<ArgReduceKernel>(s.inputs[0]->dtype, v, is_max);
}

}  // namespace tensorforge::cuda
