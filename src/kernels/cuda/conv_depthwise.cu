// A direct depthwise convolution over channels-last tensors (see conv.h): each thread computes one
// output position for V adjacent channels (16 bytes of them when C and the pointers allow), walking
// the kernel window (unrolled for 3 x 3 and 5 x 5, with the weights in registers) in float32 with the bias first, then the residual and the activation, rounding
// once at the store. Adjacent threads take adjacent channel groups of one position, so every tap
// reads whole 16-byte runs. A candidate beside cuDNN's plans, timed and checked against cuDNN's
// first plan like them (conv_graph.cc): at batch 1 cuDNN's depthwise kernels are launch-bound.
// 7 x 7 windows at stride 1 (ConvNeXt's) go by tiles instead (depthwise7_tile_kernel): a block loads
// its tile's input window into shared memory at once and each thread computes kStrip adjacent outputs
// of a row from there.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"

namespace tensorforge::cuda {

namespace {

// K > 0: a K x K window, unrolled, with the thread's weights held in registers: its V channels' taps
// are V * K * K adjacent elements of w ([C, K, K]), K * K 16-byte packs loaded once (adjacent
// threads read adjacent packs). kShared (7 x 7, ConvNeXt's): the block first copies every weight
// into shared memory as [tap][C] (coalesced reads), and each tap's V weights are one 16-byte
// shared read. K == 0: any window, weights read one by one. I indexes elements (32 bits when every
// tensor has fewer than 2^31 elements).
template <class T, int V, int K, class I, bool kShared = false>
__global__ void depthwise_nhwc_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                      const T* __restrict__ residual, T* __restrict__ y, DepthwiseGeometry geo,
                                      ConvActivation act) {
  const I groups = static_cast<I>(geo.c / V), c = static_cast<I>(geo.c), h = static_cast<I>(geo.h),
          wd = static_cast<I>(geo.w), oh = static_cast<I>(geo.oh), ow = static_cast<I>(geo.ow);
  const I kh = K ? K : static_cast<I>(geo.kh), kw = K ? K : static_cast<I>(geo.kw), taps = kh * kw;
  const I total = static_cast<I>(geo.n) * oh * ow * groups;
  extern __shared__ uint4 shared_words[];  // kShared: the weights as [tap][C]
  T* shared_w = reinterpret_cast<T*>(shared_words);
  if constexpr (kShared) {
    for (I e = threadIdx.x; e < c * taps; e += blockDim.x) shared_w[(e % taps) * c + e / taps] = w[e];
    __syncthreads();
  }
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * blockDim.x) {
    const I c0 = (i % groups) * V;
    I p = i / groups;
    const I ox = p % ow;
    p /= ow;
    const I oy = p % oh, b = p / oh;
    Pack<T, V> wp[K && !kShared ? K * K : 1];
    if constexpr (K > 0 && !kShared) {
      const Pack<T, V>* src = reinterpret_cast<const Pack<T, V>*>(w + c0 * taps);
#pragma unroll
      for (int j = 0; j < K * K; ++j) wp[j] = src[j];
    }
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = bias ? load(bias, c0 + v) : 0.0f;
    const I y0 = oy * I(geo.sh) - I(geo.ph), x0 = ox * I(geo.sw) - I(geo.pw);
#pragma unroll
    for (I ky = 0; ky < kh; ++ky) {
      const I iy = y0 + ky * I(geo.dh);
      if (iy < 0 || iy >= h) continue;
#pragma unroll
      for (I kx = 0; kx < kw; ++kx) {
        const I ix = x0 + kx * I(geo.dw);
        if (ix < 0 || ix >= wd) continue;
        const Pack<T, V> xv = *reinterpret_cast<const Pack<T, V>*>(x + ((b * h + iy) * wd + ix) * c + c0);
        const I tap = ky * kw + kx;
        Pack<T, V> wt;
        if constexpr (kShared) wt = *reinterpret_cast<const Pack<T, V>*>(shared_w + tap * c + c0);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          float wv;
          if constexpr (kShared) {
            wv = load(wt.v, v);
          } else if constexpr (K > 0) {
            const int e = v * K * K + int(tap);  // compile-time once unrolled
            wv = load(wp[e / V].v, e % V);
          } else {
            wv = load(w, (c0 + v) * taps + tap);
          }
          acc[v] += load(xv.v, v) * wv;
        }
      }
    }
    const I at = ((b * oh + oy) * ow + ox) * c + c0;
    Pack<T, V> out;
    if (residual) {
      const Pack<T, V> r = *reinterpret_cast<const Pack<T, V>*>(residual + at);
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] += load(r.v, v);
    }
#pragma unroll
    for (int v = 0; v < V; ++v) out.v[v] = store_as<T>(conv_activate(act, acc[v]));
    *reinterpret_cast<Pack<T, V>*>(y + at) = out;
  }
}

// 7 x 7, stride 1, no dilation, as tiles: a block of kTileThreads computes a TH x TW tile of
// outputs for one slice of GS 16-byte channel packs (blockIdx.y). It first copies the slice's
// weights into shared memory as [tap][slice] (contiguous in w, [C, 7, 7], read as 16-byte packs) and
// the tile's (TH + 6) x (TW + 6) input window with every load in flight at once, zeros outside the
// image; after one barrier each thread computes a strip of kStrip adjacent outputs of one row for one
// pack from shared memory: row by row of the window it converts the seven weight packs to float
// once, then each of the kStrip + 6 input packs the strip reads once, added to every output whose
// window holds it (each output's taps summed in window order; taps outside the image add zero).
// Loading the window at once is what makes it fast: the per-output and strip forms waited on memory
// once per window row (run AJ, benchmarks/RESULTS.md). MinBlocks (a probe's: the engine keeps 1) asks
// the compiler for that many resident blocks a multiprocessor (fewer registers a thread).
constexpr int kStrip = 4;
constexpr int kTileThreads = 128;

template <class T, int GS, int TW, int MinBlocks = 1>
__global__ void __launch_bounds__(kTileThreads, MinBlocks)
    depthwise7_tile_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                           const T* __restrict__ residual, T* __restrict__ y, DepthwiseGeometry geo,
                           ConvActivation act) {
  constexpr int K = 7, kTaps = K * K, V = 16 / sizeof(T), slice = GS * V, strips_x = TW / kStrip;
  constexpr int TH = kTileThreads / GS / strips_x, IH = TH + K - 1, IW = TW + K - 1, kCols = kStrip + K - 1;
  __shared__ __align__(16) T shared_w[kTaps * slice];
  __shared__ __align__(16) T tile[IH * IW * slice];
  const int c = static_cast<int>(geo.c), h = static_cast<int>(geo.h), wd = static_cast<int>(geo.w),
            oh = static_cast<int>(geo.oh), ow = static_cast<int>(geo.ow);
  const int tiles_x = (ow + TW - 1) / TW, tiles_y = (oh + TH - 1) / TH, t = static_cast<int>(blockIdx.x);
  const int b = t / (tiles_x * tiles_y), oy0 = (t / tiles_x) % tiles_y * TH, ox0 = t % tiles_x * TW;
  const int first_channel = static_cast<int>(blockIdx.y) * slice;
  const Pack<T, V>* wsrc = reinterpret_cast<const Pack<T, V>*>(w + static_cast<int64_t>(first_channel) * kTaps);
  for (int p = threadIdx.x; p < slice * kTaps / V; p += kTileThreads) {
    const Pack<T, V> pack = wsrc[p];
#pragma unroll
    for (int e = 0; e < V; ++e) {
      const int at = p * V + e;  // channel at / 49 of the slice, tap at % 49
      shared_w[(at % kTaps) * slice + at / kTaps] = pack.v[e];
    }
  }
  const int iy0 = oy0 - static_cast<int>(geo.ph), ix0 = ox0 - static_cast<int>(geo.pw);
  for (int p = threadIdx.x; p < IH * IW * GS; p += kTileThreads) {
    const int g = p % GS, at = p / GS, iy = iy0 + at / IW, ix = ix0 + at % IW;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (iy >= 0 && iy < h && ix >= 0 && ix < wd)
      v = *reinterpret_cast<const uint4*>(x + ((static_cast<int64_t>(b) * h + iy) * wd + ix) * c + first_channel +
                                          g * V);
    *reinterpret_cast<uint4*>(tile + at * slice + g * V) = v;
  }
  __syncthreads();
  const int g = static_cast<int>(threadIdx.x) % GS, s = static_cast<int>(threadIdx.x) / GS;
  const int r = s / strips_x, sx = s % strips_x, oy = oy0 + r, oxs = ox0 + kStrip * sx, c0 = first_channel + g * V;
  if (oy >= oh || oxs >= ow) return;
  float acc[kStrip][V];
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const float b0 = bias ? load(bias, c0 + v) : 0.0f;
#pragma unroll
    for (int o = 0; o < kStrip; ++o) acc[o][v] = b0;
  }
#pragma unroll
  for (int ky = 0; ky < K; ++ky) {
    float wf[K][V];
#pragma unroll
    for (int kx = 0; kx < K; ++kx) {
      const Pack<T, V> wt = *reinterpret_cast<const Pack<T, V>*>(shared_w + (ky * K + kx) * slice + g * V);
#pragma unroll
      for (int v = 0; v < V; ++v) wf[kx][v] = load(wt.v, v);
    }
    const T* row = tile + ((r + ky) * IW + kStrip * sx) * slice + g * V;
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
      const Pack<T, V> xv = *reinterpret_cast<const Pack<T, V>*>(row + j * slice);
      float xf[V];
#pragma unroll
      for (int v = 0; v < V; ++v) xf[v] = load(xv.v, v);
#pragma unroll
      for (int kx = 0; kx < K; ++kx) {
        const int o = j - kx;  // the output this tap of column j serves (compile-time once unrolled)
        if (o < 0 || o >= kStrip) continue;
#pragma unroll
        for (int v = 0; v < V; ++v) acc[o][v] += xf[v] * wf[kx][v];
      }
    }
  }
#pragma unroll
  for (int o = 0; o < kStrip; ++o) {
    if (oxs + o >= ow) break;
    const int64_t at = ((static_cast<int64_t>(b) * oh + oy) * ow + oxs + o) * c + c0;
    if (residual) {
      const Pack<T, V> rv = *reinterpret_cast<const Pack<T, V>*>(residual + at);
#pragma unroll
      for (int v = 0; v < V; ++v) acc[o][v] += load(rv.v, v);
    }
    Pack<T, V> out;
#pragma unroll
    for (int v = 0; v < V; ++v) out.v[v] = store_as<T>(conv_activate(act, acc[o][v]));
    *reinterpret_cast<Pack<T, V>*>(y + at) = out;
  }
}

template <class T, int GS, int TW, int MinBlocks = 1>
void launch_tile(const void* x, const void* w, const void* bias, const void* residual, void* y,
                 const DepthwiseGeometry& g, ConvActivation act) {
  constexpr int TH = kTileThreads / GS / (TW / kStrip), slice = GS * 16 / sizeof(T);
  const int64_t tiles = g.n * ((g.oh + TH - 1) / TH) * ((g.ow + TW - 1) / TW);
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(g.c / slice));
  depthwise7_tile_kernel<T, GS, TW, MinBlocks><<<grid, kTileThreads, 0, stream()>>>(
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
      static_cast<const T*>(residual), static_cast<T*>(y), g, act);
  check_launch("launching the 7x7 depthwise convolution (tiles)");
}

// The tile's shape: slices of 8 packs and 8 x 8 outputs for images at most 8 wide (ConvNeXt's last
// stage: less of the tile idle), else slices of the most packs up to 4 dividing C (4: 8 x 16 outputs;
// 2: 16 x 16; 1: 32 x 16). ConvNeXt-T's shapes, H100 (run AJ): 8 x 16 beat 8 x 8 by 12-15% on
// 56 x 56 and 28 x 28 images, 8 x 8 beat 8 x 16 by 30% on 7 x 7 at batch 32.
template <class T>
void launch_tiled(const void* x, const void* w, const void* bias, const void* residual, void* y,
                  const DepthwiseGeometry& g, ConvActivation act) {
  const int64_t packs = g.c / (16 / static_cast<int64_t>(sizeof(T)));
  if (packs % 8 == 0 && g.ow <= 8)
    launch_tile<T, 8, 8>(x, w, bias, residual, y, g, act);
  else if (packs % 4 == 0)
    launch_tile<T, 4, 16>(x, w, bias, residual, y, g, act);
  else if (packs % 2 == 0)
    launch_tile<T, 2, 16>(x, w, bias, residual, y, g, act);
  else
    launch_tile<T, 1, 16>(x, w, bias, residual, y, g, act);
}

// Whether every channel's 7 x 7 weights fit the per-output kernel's 48 KB of shared memory.
bool shared7_fits(const DepthwiseGeometry& g, size_t element_bytes) {
  return g.kh == 7 && g.kw == 7 && g.c * 49 * static_cast<int64_t>(element_bytes) <= 48 * 1024;
}

template <class T, int V, int K, class I, bool kShared = false>
void launch(const void* x, const void* w, const void* bias, const void* residual, void* y, const DepthwiseGeometry& g,
            ConvActivation act) {
  const int64_t total = g.n * g.oh * g.ow * (g.c / V);
  const size_t shared = kShared ? static_cast<size_t>(g.c * K * K) * sizeof(T) : 0;
  depthwise_nhwc_kernel<T, V, K, I, kShared><<<blocks_for(total), kThreads, shared, stream()>>>(
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
      static_cast<const T*>(residual), static_cast<T*>(y), g, act);
  check_launch("launching the depthwise convolution");
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }  // null is aligned

// Whether every tensor of the layer has fewer than 2^31 elements (32-bit element indices).
bool small(const DepthwiseGeometry& g) {
  return std::max(g.n * g.h * g.w, g.n * g.oh * g.ow) * g.c < (int64_t(1) << 31);
}

// The 3 x 3, 5 x 5 and 7 x 7 kernels with V channels a thread (7 x 7 with every channel's weights in
// shared memory when they fit).
template <class T, int V>
void launch_unrolled(const void* x, const void* w, const void* bias, const void* residual, void* y,
                     const DepthwiseGeometry& g, ConvActivation act) {
  if (shared7_fits(g, sizeof(T)))
    launch<T, V, 7, int32_t, true>(x, w, bias, residual, y, g, act);
  else if (g.kh == 7)
    launch<T, V, 0, int32_t>(x, w, bias, residual, y, g, act);
  else if (g.kh == 3)
    launch<T, V, 3, int32_t>(x, w, bias, residual, y, g, act);
  else
    launch<T, V, 5, int32_t>(x, w, bias, residual, y, g, act);
}

}  // namespace

bool conv_depthwise_tiled(DataType t, const DepthwiseGeometry& g) {
  const int64_t bytes = static_cast<int64_t>(element_size(t));
  return (t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16) && g.kh == 7 &&
         g.kw == 7 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && (g.c * bytes) % 16 == 0 && small(g);
}

void conv_depthwise_nhwc(DataType t, const void* x, const void* w, const void* bias, const void* residual, void* y,
                         const DepthwiseGeometry& g, ConvActivation act, int pack_bytes) {
  if (g.n * g.oh * g.ow * g.c == 0) return;
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      constexpr int N = vec_width<T>();
      const bool square = g.kh == g.kw && (g.kh == 3 || g.kh == 5);
      // 7 x 7 weights of every channel in the default 48 KB of shared memory per block.
      const bool shared7 = shared7_fits(g, sizeof(T));
      // Narrower packs: fewer channels a thread, so more threads and fewer registers (small layers).
      const int v = std::clamp(pack_bytes / static_cast<int>(sizeof(T)), 1, N);
      if (g.c % N == 0 && aligned16(x) && aligned16(residual) && aligned16(y)) {
        if (aligned16(w) && conv_depthwise_tiled(t, g)) {
          launch_tiled<T>(x, w, bias, residual, y, g, act);
        } else if (small(g) && (shared7 || (square && aligned16(w)))) {
          if (v == N)
            launch_unrolled<T, N>(x, w, bias, residual, y, g, act);
          else if (2 * v == N)
            launch_unrolled<T, (N > 1 ? N / 2 : 1)>(x, w, bias, residual, y, g, act);
          else
            launch_unrolled<T, (N > 3 ? N / 4 : 1)>(x, w, bias, residual, y, g, act);
        } else if (small(g))
          launch<T, N, 0, int32_t>(x, w, bias, residual, y, g, act);
        else
          launch<T, N, 0, int64_t>(x, w, bias, residual, y, g, act);
      } else {
        launch<T, 1, 0, int64_t>(x, w, bias, residual, y, g, act);
      }
    }
  });
}

}  // namespace tensorforge::cuda
