// A stride-2 convolution of few input channels in its space-to-depth form (see conv.h): the input
// regrouped into 2x2 blocks of pixels (4C channels, padded with zeros to Cs) and the weight regrouped
// the same way, so that cuDNN runs a stride-1 convolution of Cs channels, which its tensor-core
// kernels read well, instead of a 3-channel one, which they read slowly. Both regroupings write
// every element of their output (zeros where the block reaches past the input or the window).
#include <cstring>
#include <tuple>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"

namespace tensorforge::cuda {

namespace {

// A block's channels: 4C rounded up to 8 (SpaceToDepth.cs).
constexpr int64_t block_channels(int64_t c) { return (4 * c + 7) / 8 * 8; }

// One regrouping: dst [n, hb, wb, cs][.., q] = src [n, h, w, c][2 by + dy - front_h, 2 bx + dx -
// front_w, ch] with q = (2 dy + dx) c + ch, zero outside src and for q >= 4c. The input is regrouped
// with the layer's padding in front; the weight ([K, KH, KW, C]) with none (its blocks reaching past
// the window read zeros).
struct Regroup {
  int64_t n, h, w, hb, wb, front_h, front_w;
};

// A thread a block of 2x2 pixels: in channels-last order a block row's two pixels are 2C contiguous
// elements, which are channels [2 dy C, 2 (dy + 1) C) of the block, so a thread copies two runs of
// 2C elements (or zeros past the input) and writes its CS channels as 16-byte words.
template <class T, int C>
__global__ void regroup(const T* __restrict__ src, T* __restrict__ dst, Regroup r) {
  constexpr int CS = static_cast<int>(block_channels(C)), kWords = CS * sizeof(T) / 16;
  static_assert(CS * sizeof(T) % 16 == 0, "whole 16-byte words a block");
  const int64_t total = r.n * r.hb * r.wb;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t bx = i % r.wb, t = i / r.wb, by = t % r.hb, n = t / r.hb;
    T v[CS];
#pragma unroll
    for (int q = 0; q < CS; ++q) v[q] = store_as<T>(0.0f);
#pragma unroll
    for (int dy = 0; dy < 2; ++dy) {
      const int64_t iy = 2 * by + dy - r.front_h;
      if (iy < 0 || iy >= r.h) continue;
#pragma unroll
      for (int dx = 0; dx < 2; ++dx) {
        const int64_t ix = 2 * bx + dx - r.front_w;
        if (ix < 0 || ix >= r.w) continue;
        const T* p = src + ((n * r.h + iy) * r.w + ix) * C;
#pragma unroll
        for (int ch = 0; ch < C; ++ch) v[(2 * dy + dx) * C + ch] = p[ch];
      }
    }
    uint4 words[kWords];
    memcpy(words, v, sizeof words);
    uint4* d = reinterpret_cast<uint4*>(dst + i * CS);
#pragma unroll
    for (int q = 0; q < kWords; ++q) d[q] = words[q];
  }
}

template <class T, int C>
void launch(const void* x, const void* w, void* xs, void* ws, const SpaceToDepth& s) {
  const Regroup input{s.n, s.h, s.w, s.hb, s.wb, s.front_h, s.front_w};
  const Regroup weight{s.k, s.kh, s.kw, s.kbh, s.kbw, 0, 0};
  for (const auto& [r, from, to] : {std::tuple{input, x, xs}, std::tuple{weight, w, ws}}) {
    regroup<T, C><<<blocks_for(r.n * r.hb * r.wb), kThreads, 0, stream()>>>(static_cast<const T*>(from),
                                                                            static_cast<T*>(to), r);
    check_launch("launching a space-to-depth regrouping");
  }
}

template <class T>
void launch(const void* x, const void* w, void* xs, void* ws, const SpaceToDepth& s) {
  switch (s.c) {
    case 1: return launch<T, 1>(x, w, xs, ws, s);
    case 2: return launch<T, 2>(x, w, xs, ws, s);
    case 3: return launch<T, 3>(x, w, xs, ws, s);
    default: return launch<T, 4>(x, w, xs, ws, s);
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
  s.cs = block_channels(g.c);
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
