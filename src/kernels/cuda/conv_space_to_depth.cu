// A stride-2 convolution of few input channels in its space-to-depth form (see conv.h): the input
// regrouped into 2x2 blocks of pixels (4C channels, padded with zeros to Cs) and the weight regrouped
// the same way, so that cuDNN runs a stride-1 convolution of Cs channels, which its tensor-core
// kernels read well, instead of a 3-channel one, which they read slowly. Both regroupings write
// every element of their output (zeros where the block reaches past the input or the window).
#include <tuple>

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

// One regrouping: dst [n, hb, wb, cs][.., q] = src [n, h, w, c][2 by + dy - front_h, 2 bx + dx -
// front_w, ch], zero outside src. The input is regrouped with the layer's padding in front; the
// weight ([K, KH, KW, C]) with none (its blocks reaching past the window read zeros).
struct Regroup {
  int64_t n, h, w, c, hb, wb, cs, front_h, front_w;
};

template <class T>
__global__ void regroup(const T* __restrict__ src, T* __restrict__ dst, Regroup r) {
  const int64_t total = r.n * r.hb * r.wb * r.cs;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t q = i % r.cs, bx = i / r.cs % r.wb, by = i / (r.cs * r.wb) % r.hb, n = i / (r.cs * r.wb * r.hb);
    int64_t dy, dx, ch;
    T v = store_as<T>(0.0f);
    if (block_channel(q, r.c, dy, dx, ch)) {
      const int64_t iy = 2 * by + dy - r.front_h, ix = 2 * bx + dx - r.front_w;
      if (iy >= 0 && iy < r.h && ix >= 0 && ix < r.w) v = src[((n * r.h + iy) * r.w + ix) * r.c + ch];
    }
    dst[i] = v;
  }
}

template <class T>
void launch(const void* x, const void* w, void* xs, void* ws, const SpaceToDepth& s) {
  const Regroup input{s.n, s.h, s.w, s.c, s.hb, s.wb, s.cs, s.front_h, s.front_w};
  const Regroup weight{s.k, s.kh, s.kw, s.c, s.kbh, s.kbw, s.cs, 0, 0};
  for (const auto& [r, from, to] : {std::tuple{input, x, xs}, std::tuple{weight, w, ws}}) {
    regroup<T><<<blocks_for(r.n * r.hb * r.wb * r.cs), kThreads, 0, stream()>>>(static_cast<const T*>(from),
                                                                              static_cast<T*>(to), r);
    check_launch("launching a space-to-depth regrouping");
  }
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
