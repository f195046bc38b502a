// A stride-2 convolution of few input channels in its space-to-depth form (see conv.h): the input
// regrouped into 2x2 blocks of pixels (4C channels, padded with zeros to Cs) and the weight regrouped
// the same way, so that cuDNN runs a stride-1 convolution of Cs channels, which its tensor-core
// kernels read well, instead of a 3-channel one, which they read slowly. Both regroupings write
// every element of their output (zeros where the block reaches past the input or the window).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"

namespace tensorforge::cuda {

namespace {

// Channel q of a block: its row and column within the 2x2 block and its input channel; false for
// the padding channels past 4C.
__device__ __forceinline__ bool block_channel(int64_t q, int64_t c, int64_t& dy, int64_t& dx, int64_t& ch) {
  if (q >= 4 * c) return false;
  dy = q / (2 * c);
  dx = (q / c) % 2;
  ch = q % c;
  return true;
}

// xs[n, by, bx, q] = x[n, 2 by + dy - front_h, 2 bx + dx - front_w, ch] (zero outside x).
template <class T>
__global__ void regroup_input(const T* __restrict__ x, T* __restrict__ xs, SpaceToDepth s) {
  const int64_t total = s.n * s.hb * s.wb * s.cs;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t q = i % s.cs, bx = i / s.cs % s.wb, by = i / (s.cs * s.wb) % s.hb, n = i / (s.cs * s.wb * s.hb);
    int64_t dy, dx, ch;
    T v = store_as<T>(0.0f);
    if (block_channel(q, s.c, dy, dx, ch)) {
      const int64_t iy = 2 * by + dy - s.front_h, ix = 2 * bx + dx - s.front_w;
      if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) v = x[((n * s.h + iy) * s.w + ix) * s.c + ch];
    }
    xs[i] = v;
  }
}

// ws[k, by, bx, q] = w[k, 2 by + dy, 2 bx + dx, ch] (zero past the window).
template <class T>
__global__ void regroup_weight(const T* __restrict__ w, T* __restrict__ ws, SpaceToDepth s) {
  const int64_t total = s.k * s.kbh * s.kbw * s.cs;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t q = i % s.cs, bx = i / s.cs % s.kbw, by = i / (s.cs * s.kbw) % s.kbh, k = i / (s.cs * s.kbw * s.kbh);
    int64_t dy, dx, ch;
    T v = store_as<T>(0.0f);
    if (block_channel(q, s.c, dy, dx, ch)) {
      const int64_t ky = 2 * by + dy, kx = 2 * bx + dx;
      if (ky < s.kh && kx < s.kw) v = w[((k * s.kh + ky) * s.kw + kx) * s.c + ch];
    }
    ws[i] = v;
  }
}

template <class T>
void launch(const void* x, const void* w, void* xs, void* ws, const SpaceToDepth& s) {
  regroup_input<T><<<blocks_for(s.n * s.hb * s.wb * s.cs), kThreads, 0, stream()>>>(static_cast<const T*>(x),
                                                                                   static_cast<T*>(xs), s);
  check_launch("launching the space-to-depth regrouping of an input");
  regroup_weight<T><<<blocks_for(s.k * s.kbh * s.kbw * s.cs), kThreads, 0, stream()>>>(static_cast<const T*>(w),
                                                                                     static_cast<T*>(ws), s);
  check_launch("launching the space-to-depth regrouping of a weight");
}

}  // namespace

bool space_to_depth_of(const SmallConvGeometry& g, SpaceToDepth& s) {
  if (g.c < 1 || g.c > kSmallConvMaxChannels || g.sh != 2 || g.sw != 2 || g.dh != 1 || g.dw != 1) return false;
  if (g.kh < 3 || g.kw < 3) return false;  // a 1x1 or 2x2 window gains nothing
  s = SpaceToDepth{};
  s.n = g.n, s.h = g.h, s.w = g.w, s.c = g.c, s.k = g.k, s.kh = g.kh, s.kw = g.kw;
  s.front_h = g.ph, s.front_w = g.pw;
  s.kbh = (g.kh + 1) / 2, s.kbw = (g.kw + 1) / 2;
  s.hb = g.oh + s.kbh - 1, s.wb = g.ow + s.kbw - 1;
  s.cs = (4 * g.c + 7) / 8 * 8;
  return true;
}

void space_to_depth_nhwc(DataType t, const void* x, const void* w, void* xs, void* ws, const SpaceToDepth& s) {
  if (t == DataType::kFloat16)
    launch<__half>(x, w, xs, ws, s);
  else if (t == DataType::kBFloat16)
    launch<__nv_bfloat16>(x, w, xs, ws, s);
  else
    launch<float>(x, w, xs, ws, s);
}

}  // namespace tensorforge::cuda
