// A direct depthwise convolution over channels-last tensors (see conv.h): each thread computes one
// output position for V adjacent channels (16 bytes of them when C and the pointers allow), walking
// the kernel window in float32 with the bias first, then the residual and the activation, rounding
// once at the store. Adjacent threads take adjacent channel groups of one position, so every tap
// reads whole 16-byte runs. A candidate beside cuDNN's plans, timed and checked against cuDNN's
// first plan like them (conv_graph.cc): at batch 1 cuDNN's depthwise kernels are launch-bound.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"

namespace tensorforge::cuda {

namespace {

template <class T, int V>
__global__ void depthwise_nhwc_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                      const T* __restrict__ residual, T* __restrict__ y, DepthwiseGeometry g,
                                      ConvActivation act) {
  const int64_t groups = g.c / V, total = g.n * g.oh * g.ow * groups, taps = g.kh * g.kw;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c0 = (i % groups) * V;
    int64_t p = i / groups;
    const int64_t ox = p % g.ow;
    p /= g.ow;
    const int64_t oy = p % g.oh, b = p / g.oh;
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = bias ? load(bias, c0 + v) : 0.0f;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t ix = ox * g.sw - g.pw + kx * g.dw;
        if (ix < 0 || ix >= g.w) continue;
        const Pack<T, V> xv = *reinterpret_cast<const Pack<T, V>*>(x + ((b * g.h + iy) * g.w + ix) * g.c + c0);
        const int64_t tap = ky * g.kw + kx;
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] += load(xv.v, v) * load(w, (c0 + v) * taps + tap);
      }
    }
    const int64_t at = ((b * g.oh + oy) * g.ow + ox) * g.c + c0;
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

template <class T, int V>
void launch(const void* x, const void* w, const void* bias, const void* residual, void* y, const DepthwiseGeometry& g,
            ConvActivation act) {
  const int64_t total = g.n * g.oh * g.ow * (g.c / V);
  depthwise_nhwc_kernel<T, V><<<blocks_for(total), kThreads, 0, stream()>>>(
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
      static_cast<const T*>(residual), static_cast<T*>(y), g, act);
  check_launch("launching the depthwise convolution");
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }  // null is aligned

}  // namespace

void conv_depthwise_nhwc(DataType t, const void* x, const void* w, const void* bias, const void* residual, void* y,
                         const DepthwiseGeometry& g, ConvActivation act) {
  if (g.n * g.oh * g.ow * g.c == 0) return;
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      constexpr int N = vec_width<T>();
      if (g.c % N == 0 && aligned16(x) && aligned16(residual) && aligned16(y))
        launch<T, N>(x, w, bias, residual, y, g, act);
      else
        launch<T, 1>(x, w, bias, residual, y, g, act);
    }
  });
}

}  // namespace tensorforge::cuda
