// CUDA resize of the spatial dims with the CPU kernel's rules (src/kernels/cpu/resize.cc): PyTorch's
// legacy 'nearest' (src = floor(dst * scale), with its in == out and out == 2 * in shortcuts) and
// (bi/tri)linear with align_corners or the half-pixel rule. A warp per output row (16 elements or
// more; else a thread per output element) computes the row's depth and height taps once and each
// element's width tap, with the CPU's float32 formulas, every multiply and add rounded separately
// (no fused multiply-add), so indices, weights and results equal the CPU's. Rows of whole 16-byte
// packs store a pack a lane.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/common/spatial_geometry.h"
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

namespace {

struct ResizeGeom {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  float scale[3] = {0, 0, 0};  // nearest / half-pixel: the input/output ratio; align_corners: (in-1)/(out-1)
  int nsp = 1;
  bool align = false;
};

// I: the index type (32 bits when the tensors allow, so that the per-element tap costs no 64-bit
// arithmetic).
template <class I>
struct Tap {
  I i0, i1;
  float l0, l1;
};

template <class I>
__device__ __forceinline__ Tap<I> nearest_tap(const ResizeGeom& g, int d, I o) {
  const I in = I(g.in[d]), out = I(g.out[d]);
  const I i = out == in       ? o
              : out == 2 * in ? o >> 1
                              : min(static_cast<I>(floorf(__fmul_rn(static_cast<float>(o), g.scale[d]))), in - 1);
  return {i, i, 1.0f, 0.0f};
}

template <class I>
__device__ __forceinline__ Tap<I> linear_tap(const ResizeGeom& g, int d, I o) {
  const I in = I(g.in[d]);
  if (in == I(g.out[d])) return {o, o, 1.0f, 0.0f};
  const float s = g.scale[d], fo = static_cast<float>(o);
  const float src = g.align ? __fmul_rn(s, fo) : fmaxf(__fsub_rn(__fmul_rn(s, __fadd_rn(fo, 0.5f)), 0.5f), 0.0f);
  Tap<I> t;
  t.i0 = min(static_cast<I>(floorf(src)), in - 1);
  t.l1 = fminf(fmaxf(__fsub_rn(src, static_cast<float>(t.i0)), 0.0f), 1.0f);
  t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
  t.l0 = __fsub_rn(1.0f, t.l1);
  return t;
}

/// a * la + b * lb, each product rounded, as the CPU computes it.
__device__ __forceinline__ float blend(float a, float la, float b, float lb) {
  return __fadd_rn(__fmul_rn(a, la), __fmul_rn(b, lb));
}

/// The (bi/tri)linear value at taps td, th, tw of plane xp: along the width first, then height, then
/// depth, each blend rounded as the CPU's.
template <class T, class I>
__device__ __forceinline__ float interpolate(const T* xp, const ResizeGeom& g, const Tap<I>& td, const Tap<I>& th,
                                             const Tap<I>& tw) {
  auto along_w = [&](I d, I h) {
    const T* row = xp + (d * I(g.in[1]) + h) * I(g.in[2]);
    return blend(load(row, tw.i0), tw.l0, load(row, tw.i1), tw.l1);
  };
  auto along_hw = [&](I d) {
    return g.nsp < 2 ? along_w(d, th.i0) : blend(along_w(d, th.i0), th.l0, along_w(d, th.i1), th.l1);
  };
  return g.nsp < 3 ? along_hw(td.i0) : blend(along_hw(td.i0), td.l0, along_hw(td.i1), td.l1);
}

// I: the index type, 32 bits when every index (plus a grid stride) stays below 2^31.
template <class T, class I>
__global__ void resize_kernel(const T* __restrict__ x, T* __restrict__ y, I total, ResizeGeom g, bool linear) {
  const I iv = I(g.in[0] * g.in[1] * g.in[2]);
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * I(blockDim.x)) {
    I q = i, o[3];
    for (int d = 2; d >= 0; --d) {
      o[d] = q % I(g.out[d]);
      q /= I(g.out[d]);
    }
    const T* xp = x + q * iv;
    if (!linear) {
      const Tap<I> td = nearest_tap(g, 0, o[0]), th = nearest_tap(g, 1, o[1]), tw = nearest_tap(g, 2, o[2]);
      y[i] = xp[(td.i0 * I(g.in[1]) + th.i0) * I(g.in[2]) + tw.i0];
      continue;
    }
    y[i] = store_as<T>(interpolate(xp, g, linear_tap(g, 0, o[0]), linear_tap(g, 1, o[1]), linear_tap(g, 2, o[2])));
  }
}

// Output rows of 16 or more elements: warp threadIdx.y of a block takes one row (fixed plane, depth
// and height), computes its depth and height taps once, then its lanes walk the row's width; the
// same formulas as resize_kernel, so the same results.
template <class T, class I>
__global__ void resize_rows(const T* __restrict__ x, T* __restrict__ y, I rows, ResizeGeom g, bool linear) {
  const I iv = I(g.in[0] * g.in[1] * g.in[2]), ow = I(g.out[2]);
  for (I r = blockIdx.x * I(blockDim.y) + threadIdx.y; r < rows; r += I(gridDim.x) * I(blockDim.y)) {
    const I oh = r % I(g.out[1]), q = r / I(g.out[1]), od = q % I(g.out[0]), plane = q / I(g.out[0]);
    const T* xp = x + plane * iv;
    T* yr = y + r * ow;
    if (!linear) {
      const Tap<I> td = nearest_tap(g, 0, od), th = nearest_tap(g, 1, oh);
      const T* row = xp + (td.i0 * I(g.in[1]) + th.i0) * I(g.in[2]);
      for (I j = threadIdx.x; j < ow; j += 32) yr[j] = row[nearest_tap(g, 2, j).i0];
      continue;
    }
    const Tap<I> td = linear_tap(g, 0, od), th = linear_tap(g, 1, oh);
    for (I j = threadIdx.x; j < ow; j += 32) yr[j] = store_as<T>(interpolate(xp, g, td, th, linear_tap(g, 2, j)));
  }
}

// Output rows of whole 16-byte packs (V elements; 32-bit indices, aligned output): as resize_rows,
// but a warp takes a run of kRowRun consecutive rows (their plane, depth and height found by division
// once, then stepped), and lane k computes the row's packs k, k + 32, ... into registers, every load
// of a pack before its one 16-byte store. The width taps of the lane's first pack are the same in
// every row: kept for the run as a source index (and, when linear, the second tap's weight; the
// rest of the tap follows from them as linear_tap derives it).
constexpr int kRowRun = 4;
constexpr int kRowsPerBlock = 8;
template <class T, int V, bool Linear>
__global__ void __launch_bounds__(32 * kRowsPerBlock) resize_row_packs(const T* __restrict__ x, T* __restrict__ y,
                                                                       int32_t rows, ResizeGeom g) {
  using I = int32_t;
  const I iv = I(g.in[0] * g.in[1] * g.in[2]), ow = I(g.out[2]), packs = ow / V, in2 = I(g.in[2]);
  const I out0 = I(g.out[0]), out1 = I(g.out[1]), lane = threadIdx.x;
  auto width_tap = [&](I j) { return Linear ? linear_tap(g, 2, j) : nearest_tap(g, 2, j); };
  I first_i[V];  // pack `lane`'s width taps
  float first_l[Linear ? V : 1];
#pragma unroll
  for (int e = 0; e < V; ++e) {
    const Tap<I> t = width_tap(lane * V + e);
    first_i[e] = t.i0;
    if constexpr (Linear) first_l[e] = t.l1;
  }
  for (I r0 = (blockIdx.x * I(blockDim.y) + threadIdx.y) * kRowRun; r0 < rows;
       r0 += I(gridDim.x) * I(blockDim.y) * kRowRun) {
    I oh = r0 % out1, q = r0 / out1, od = q % out0, plane = q / out0;
    const I end = min(r0 + kRowRun, rows);
    for (I r = r0; r < end; ++r) {
      const T* xp = x + plane * iv;
      Pack<T, V>* yr = reinterpret_cast<Pack<T, V>*>(y + r * ow);
      const Tap<I> td = Linear ? linear_tap(g, 0, od) : nearest_tap(g, 0, od);
      const Tap<I> th = Linear ? linear_tap(g, 1, oh) : nearest_tap(g, 1, oh);
      const T* row = xp + (td.i0 * I(g.in[1]) + th.i0) * in2;  // the nearest row
      for (I k = lane; k < packs; k += 32) {
        Pack<T, V> out;
#pragma unroll
        for (int e = 0; e < V; ++e) {
          Tap<I> tw;
          if (k == lane) {
            tw.i0 = first_i[e];
            if constexpr (Linear) {
              tw.l1 = first_l[e];
              tw.i1 = tw.i0 + (tw.i0 < in2 - 1 && in2 != ow ? 1 : 0);
              tw.l0 = __fsub_rn(1.0f, tw.l1);
            }
          } else {
            tw = width_tap(k * V + e);
          }
          if constexpr (Linear)
            out.v[e] = store_as<T>(interpolate(xp, g, td, th, tw));
          else
            out.v[e] = row[tw.i0];
        }
        yr[k] = out;
      }
      if (++oh == out1) {  // the next row: the next height, perhaps the next depth and plane
        oh = 0;
        if (++od == out0) {
          od = 0;
          ++plane;
        }
      }
    }
  }
}

// Nearest resize that doubles the last two spatial dims exactly (and keeps the depth): every input
// element becomes a 2x2 block of the output. A warp takes 32 consecutive V-element packs of the input
// (which may span rows) and each pack becomes two output packs in each of the two rows it doubles
// into. Lane j stores output packs j and 32 + j of the group (pack j / 2's low or high half, and pack
// 16 + j / 2's, fetched by shuffles), so each store instruction of the warp writes one contiguous
// run: 2x nearest of [8, 64, 112, 112] float16 at 91% of the H100's copy rate (the memory-bound
// benchmark), against 62% when each lane stored its own pack's four outputs.
template <class T, int V>
__global__ void resize_double_nearest(const T* __restrict__ x, T* __restrict__ y, int32_t packs, int32_t row_packs) {
  static_assert(sizeof(Pack<T, V>) == sizeof(uint4), "16-byte packs");
  const int lane = threadIdx.x & 31;
  const int32_t step = gridDim.x * blockDim.x;  // a multiple of 32: a warp's lanes loop together
  for (int32_t i0 = (blockIdx.x * blockDim.x + threadIdx.x) & ~31; i0 < packs; i0 += step) {
    uint4 in = make_uint4(0, 0, 0, 0);
    if (i0 + lane < packs) in = reinterpret_cast<const uint4*>(x)[i0 + lane];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int src = half * 16 + (lane >> 1);
      uint4 u;
      u.x = __shfl_sync(0xffffffffu, in.x, src);
      u.y = __shfl_sync(0xffffffffu, in.y, src);
      u.z = __shfl_sync(0xffffffffu, in.z, src);
      u.w = __shfl_sync(0xffffffffu, in.w, src);
      const int32_t i = i0 + src;
      if (i >= packs) continue;
      Pack<T, V> p, out;
      memcpy(&p, &u, sizeof u);
      const int base = (lane & 1) * (V / 2);  // the low half of the pack's elements, or the high
#pragma unroll
      for (int e = 0; e < V / 2; ++e) out.v[2 * e] = out.v[2 * e + 1] = p.v[base + e];
      const int32_t row = i / row_packs, k = i - row * row_packs;  // the input row (plane, depth, height)
      Pack<T, V>* o = reinterpret_cast<Pack<T, V>*>(y) + (2 * row) * (2 * row_packs) + 2 * k + (lane & 1);
      o[0] = out;
      o[2 * row_packs] = out;
    }
  }
}

// Bilinear resize of two spatial dims that doubles both by the half-pixel rule (scale 0.5): output
// column 2c blends input columns c - 1 and c by 1/4 and 3/4 (column 0 takes column 0 by 1 and column
// 1 by 0), column 2c + 1 blends c and c + 1 (the last column, itself) by 3/4 and 1/4: the taps and
// weights linear_tap finds, blended in interpolate's order (width, then height, every product and sum
// rounded), so the results equal the general kernels'. A thread takes one output pack (V columns,
// from V / 2 input columns and their two neighbours) in the output rows of kDoubleRows input rows,
// blending each input row along the width once for the output rows on either side of it; the lanes
// of a warp store consecutive packs of a row. 2x bilinear of [8, 64, 112, 112] float16 at 88% of
// the H100's copy rate (the memory-bound benchmark), against 26% through resize_row_packs.
constexpr int kDoubleRows = 2;
template <class T, int V>
__global__ void resize_double_linear(const T* __restrict__ x, T* __restrict__ y, int32_t items, int32_t h,
                                     int32_t w) {
  constexpr int H = V / 2;  // input columns under an output pack
  const int32_t row_packs = 2 * w / V, strips = (h + kDoubleRows - 1) / kDoubleRows;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < items; i += gridDim.x * blockDim.x) {
    const int32_t j = i % row_packs, t = i / row_packs, s = t % strips, plane = t / strips, c0 = H * j;
    const T* xp = x + plane * h * w;
    T* yp = y + plane * 4 * h * w;
    auto along_w = [&](int32_t r, float (&a)[V]) {
      const T* row = xp + r * w;
      const Pack<T, H> p = *reinterpret_cast<const Pack<T, H>*>(row + c0);
      float e[H + 2];
#pragma unroll
      for (int q = 0; q < H; ++q) e[q + 1] = load(p.v, q);
      e[0] = j > 0 ? float(load(row, c0 - 1)) : e[1];
      e[H + 1] = c0 + H < w ? float(load(row, c0 + H)) : e[H];
#pragma unroll
      for (int q = 0; q < H; ++q) {
        a[2 * q] = j == 0 && q == 0 ? blend(e[1], 1.0f, w > 1 ? e[2] : e[1], 0.0f) : blend(e[q], 0.25f, e[q + 1], 0.75f);
        a[2 * q + 1] = blend(e[q + 1], 0.75f, e[q + 2], 0.25f);
      }
    };
    const int32_t k0 = s * kDoubleRows;
    float above[V], at[V], below[V];  // rows k - 1, k, k + 1 (clamped) along the width
    along_w(max(k0 - 1, 0), above);
    along_w(k0, at);
#pragma unroll
    for (int d = 0; d < kDoubleRows; ++d) {
      const int32_t k = k0 + d;
      if (k >= h) break;
      along_w(min(k + 1, h - 1), below);
      Pack<T, V> even, odd;
#pragma unroll
      for (int q = 0; q < V; ++q) {
        even.v[q] = store_as<T>(k > 0 ? blend(above[q], 0.25f, at[q], 0.75f) : blend(at[q], 1.0f, below[q], 0.0f));
        odd.v[q] = store_as<T>(blend(at[q], 0.75f, below[q], 0.25f));
      }
      reinterpret_cast<Pack<T, V>*>(yp + (2 * k) * (2 * w))[j] = even;
      reinterpret_cast<Pack<T, V>*>(yp + (2 * k + 1) * (2 * w))[j] = odd;
#pragma unroll
      for (int q = 0; q < V; ++q) {
        above[q] = at[q];
        at[q] = below[q];
      }
    }
  }
}

constexpr int64_t kRowMin = 16;  // the shortest output row resize_rows takes

template <class T>
class ResizeKernel : public Kernel {
 public:
  ResizeKernel(const ResizeGeom& g, bool linear, bool narrow) : g_(g), linear_(linear), narrow_(narrow) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = out[0].numel();
    if (!total) return;
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    constexpr int V = vec_width<T>();
    if (!linear_ && narrow_ && g_.out[0] == g_.in[0] && g_.out[1] == 2 * g_.in[1] && g_.out[2] == 2 * g_.in[2] &&
        V % 2 == 0 && g_.in[2] % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(y) % 16 == 0) {
      const int64_t packs = in[0].numel() / V;
      resize_double_nearest<T, V><<<blocks_for(packs), kThreads, 0, stream()>>>(x, y, int32_t(packs),
                                                                              int32_t(g_.in[2] / V));
      check_launch("launching resize (exact doubling)");
      return;
    }
    if (linear_ && narrow_ && g_.nsp == 2 && !g_.align && g_.out[1] == 2 * g_.in[1] && g_.out[2] == 2 * g_.in[2] &&
        g_.scale[1] == 0.5f && g_.scale[2] == 0.5f && V >= 2 && g_.in[2] % (V / 2) == 0 &&
        reinterpret_cast<uintptr_t>(x) % (sizeof(T) * (V / 2)) == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0) {
      const int64_t h = g_.in[1], w = g_.in[2], planes = in[0].numel() / (h * w);
      const int64_t items = planes * ((h + kDoubleRows - 1) / kDoubleRows) * (2 * w / V);
      resize_double_linear<T, V><<<blocks_for(items), kThreads, 0, stream()>>>(x, y, int32_t(items), int32_t(h),
                                                                             int32_t(w));
      check_launch("launching resize (bilinear doubling)");
      return;
    }
    if (g_.out[2] >= kRowMin) {
      const int64_t rows = total / g_.out[2];
      const dim3 block(32, kRowsPerBlock);
      const unsigned grid = static_cast<unsigned>(std::min<int64_t>((rows + kRowsPerBlock - 1) / kRowsPerBlock, 1 << 20));
      if (narrow_ && g_.out[2] % V == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0) {
        const int64_t per_block = int64_t(kRowsPerBlock) * kRowRun;
        const auto run_grid = static_cast<unsigned>(std::min<int64_t>((rows + per_block - 1) / per_block, 1 << 20));
        if (linear_)
          resize_row_packs<T, V, true><<<run_grid, block, 0, stream()>>>(x, y, int32_t(rows), g_);
        else
          resize_row_packs<T, V, false><<<run_grid, block, 0, stream()>>>(x, y, int32_t(rows), g_);
        check_launch("launching resize (row packs)");
        return;
      }
      if (narrow_)
        resize_rows<T, int32_t><<<grid, block, 0, stream()>>>(x, y, int32_t(rows), g_, linear_);
      else
        resize_rows<T, int64_t><<<grid, block, 0, stream()>>>(x, y, rows, g_, linear_);
      check_launch("launching resize (rows)");
      return;
    }
    if (narrow_)
      resize_kernel<T, int32_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, int32_t(total), g_, linear_);
    else
      resize_kernel<T, int64_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, total, g_, linear_);
    check_launch("launching resize");
  }

 private:
  ResizeGeom g_;
  bool linear_, narrow_;
};

}  // namespace

std::unique_ptr<Kernel> create_resize(const KernelSpec& s) {
  ResizeGeom g;
  const Dims& x = s.inputs[0]->dims;
  g.nsp = x.rank() - 2;
  spatial_extents(x, g.in);
  spatial_extents(s.outputs[0]->dims, g.out);
  const bool linear = ir::attr_string(s.layer, "mode") == "linear";
  g.align = linear && ir::attr_int(s.layer, "align_corners") != 0;
  const auto& scales = ir::attr_floats(s.layer, "scales");
  for (int i = 0; i < 3; ++i) {
    const int sp = i - (3 - g.nsp);  // index into the spatial attributes, < 0 for a padded unit dim
    const double scale = sp >= 0 && !scales.empty() ? scales[sp] : 0.0;
    const int64_t in = g.in[i], out = g.out[i];
    if (g.align)
      g.scale[i] = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
    else  // PyTorch's compute_scales_value: the given ratio, else in / out
      g.scale[i] = scale > 0 ? static_cast<float>(scale) : static_cast<float>(in) / static_cast<float>(out);
  }
  const int64_t limit = int64_t(1) << 30;
  const bool narrow = x.volume() < limit && s.outputs[0]->dims.volume() < limit;
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>)
      return std::make_unique<ResizeKernel<T>>(g, linear, narrow);
    else
      return nullptr;  // inference admits floating-point inputs only
  });
}

}  // namespace tensorforge::cuda
