// A direct depthwise convolution over channels-last tensors (see conv.h): each thread computes one
// output position for V adjacent channels (16 bytes of them when C and the pointers allow), walking
// the kernel window (unrolled for 3 x 3 and 5 x 5, with the weights in registers) in float32 with the bias first, then the residual and the activation, rounding
// once at the store. Adjacent threads take adjacent channel groups of one position, so every tap
// reads whole 16-byte runs. A candidate beside cuDNN's plans, timed and checked against cuDNN's
// first plan like them (conv_graph.cc): at batch 1 cuDNN's depthwise kernels are launch-bound.
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

// The 3 x 3, 5 x 5 and shared-memory 7 x 7 kernels with V channels a thread.
template <class T, int V>
void launch_unrolled(const void* x, const void* w, const void* bias, const void* residual, void* y,
                     const DepthwiseGeometry& g, ConvActivation act) {
  if (g.kh == 7)
    launch<T, V, 7, int32_t, true>(x, w, bias, residual, y, g, act);
  else if (g.kh == 3)
    launch<T, V, 3, int32_t>(x, w, bias, residual, y, g, act);
  else
    launch<T, V, 5, int32_t>(x, w, bias, residual, y, g, act);
}

}  // namespace

void conv_depthwise_nhwc(DataType t, const void* x, const void* w, const void* bias, const void* residual, void* y,
                         const DepthwiseGeometry& g, ConvActivation act, int pack_bytes) {
  if (g.n * g.oh * g.ow * g.c == 0) return;
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      constexpr int N = vec_width<T>();
      const bool small = std::max(g.n * g.h * g.w, g.n * g.oh * g.ow) * g.c < (int64_t(1) << 31);
      const bool square = g.kh == g.kw && (g.kh == 3 || g.kh == 5);
      // 7 x 7 weights of every channel in the default 48 KB of shared memory per block.
      const bool shared7 = g.kh == 7 && g.kw == 7 && g.c * 49 * int64_t(sizeof(T)) <= 48 * 1024;
      // Narrower packs: fewer channels a thread, so more threads and fewer registers (small layers).
      const int v = std::clamp(pack_bytes / static_cast<int>(sizeof(T)), 1, N);
      if (g.c % N == 0 && aligned16(x) && aligned16(residual) && aligned16(y)) {
        if (small && (shared7 || (square && aligned16(w)))) {
          if (v == N)
            launch_unrolled<T, N>(x, w, bias, residual, y, g, act);
          else if (2 * v == N)
            launch_unrolled<T, (N > 1 ? N / 2 : 1)>(x, w, bias, residual, y, g, act);
          else
            launch_unrolled<T, (N > 3 ? N / 4 : 1)>(x, w, bias, residual, y, g, act);
        } else if (small)
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
