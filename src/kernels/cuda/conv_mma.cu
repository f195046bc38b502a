// Stride-1 channels-last convolutions whose input pixels are 32 or 64 bytes (16 float16 or bfloat16
// channels, 64 int8 ones) by warp-level tensor-core MMAs (warp_mma.cuh): a stem's
// space-to-depth form (ResNet's 7x7 stride-2 convolution of 3 channels becomes a 4x4 stride-1 one
// of 16-channel pixels, conv.h) and the int8 layers of 64 input channels of a quantized ResNet's
// first stage. A tap of the window is one or two 32-byte reduction steps (m16n8k16 for float16 and
// bfloat16, m16n8k32 for int8), so a fragment of A is 16 adjacent pixels of one input row, read by
// ldmatrix from shared memory as they lie: no window is spread into a matrix first (the
// small-channel kernel's cost). cuDNN's plans took 1.2 ms for ResNet-50's stem at batch 256 on the
// H100 (about ten times the time of its bytes), and its int8 kernels 2-5x their bytes' time on
// those first-stage layers.
//
// A block keeps 64 output channels' weights in shared memory (taps x 64 rows) and loops over tiles
// of 16 x 16 output pixels; while it computes one tile from its input window (padding read as
// zeros) the next tile's window arrives by cp.async into the other buffer. Blocks of the same tile
// and different groups of 64 channels are adjacent in the grid, so they read the window while the
// L2 holds it. Each of a block's 8 warps computes two output rows (two m16 fragments) by 64
// channels (eight n8 fragments). The epilogue exchanges the sums within each quad of lanes so that
// every lane holds 8 adjacent channels of one pixel, and applies the layer's epilogue
// (conv_epilogues.cuh) to them with 16-byte (8-byte for int8) accesses.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/conv_epilogues.cuh"
#include "kernels/cuda/device_limits.h"
#include "kernels/cuda/warp_mma.cuh"

namespace tensorforge::cuda {

namespace {

constexpr int kWarps = 8, kThreads = kWarps * 32;
constexpr int kTileW = 16;          // output columns of a tile: one m16 fragment
constexpr int kTileH = 2 * kWarps;  // output rows of a tile: two a warp
constexpr int kCout = 64;           // output channels a block computes
constexpr int kMaxWindow = 4;       // windows up to 4 x 4

struct Geometry {
  int64_t n;
  int h, w, oh, ow, k, kh, kw, ph, pw;  // input extents, output extents and channels, window, padding
  int tiles_y, tiles_x, groups;         // tiles of an image; groups of 64 output channels
  int64_t tiles;                        // n * tiles_y * tiles_x
};

// Shared memory, in 16-byte units of rows of U: the weights (taps x 64 rows), then two windows.
template <int U>
constexpr int window_units(int kh, int kw) {
  return (kTileH + kh - 1) * (kTileW + kw - 1) * U;
}
template <int U>
constexpr size_t shared_bytes(int kh, int kw) {
  return size_t(kh * kw * kCout * U + 2 * window_units<U>(kh, kw)) * 16;
}

// The cp.async loads of tile `t`'s input window into `win` (zeros outside the input).
template <int U, class In>
__device__ __forceinline__ void load_window(const In* __restrict__ x, const Geometry& g, int64_t t, uint4* win) {
  constexpr int kPixelElems = U * 16 / int(sizeof(In));
  const int tx = static_cast<int>(t % g.tiles_x), ty = static_cast<int>(t / g.tiles_x % g.tiles_y);
  const int64_t b = t / (int64_t(g.tiles_x) * g.tiles_y);
  const int ww = kTileW + g.kw - 1, units = (kTileH + g.kh - 1) * ww * U;
  const int y0 = ty * kTileH - g.ph, x0 = tx * kTileW - g.pw;
  for (int e = threadIdx.x; e < units; e += kThreads) {
    const int row = e / U, u = e % U, iy = y0 + row / ww, ix = x0 + row % ww;
    const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
    const In* src = x + ((b * g.h + (inside ? iy : 0)) * g.w + (inside ? ix : 0)) * kPixelElems + u * (16 / sizeof(In));
    mma::copy16_async(win + mma::swizzled<U>(row, u), src, inside);
  }
}

template <class In, int U, class Epilogue>
__global__ void __launch_bounds__(kThreads, 2) mma_conv_kernel(const In* __restrict__ x, const In* __restrict__ w,
                                                               Geometry g, Epilogue epilogue) {
  using Acc = std::conditional_t<std::is_same_v<In, int8_t>, int, float>;
  constexpr int kSteps = U / 2;  // 32-byte reduction steps a tap
  constexpr int kPixelElems = U * 16 / int(sizeof(In));
  extern __shared__ uint4 shared[];
  const int taps = g.kh * g.kw, ww = kTileW + g.kw - 1, window = window_units<U>(g.kh, g.kw);
  uint4* weights = shared;                         // rows tap * 64 + n
  uint4* windows = shared + taps * kCout * U;      // two buffers of `window` units
  const int group = static_cast<int>(blockIdx.x % g.groups), c0 = group * kCout;
  const int stride = static_cast<int>(gridDim.x / g.groups);
  // w [K, kh, kw, C]: row tap * 64 + n holds output channel c0 + n's tap.
  for (int e = threadIdx.x; e < taps * kCout * U; e += kThreads) {
    const int row = e / U, u = e % U, tap = row / kCout, n = row % kCout;
    mma::copy16_async(weights + mma::swizzled<U>(row, u),
                      w + (int64_t(c0 + n) * taps + tap) * kPixelElems + u * (16 / sizeof(In)), true);
  }
  int64_t t = blockIdx.x / g.groups;
  if (t < g.tiles) load_window<U>(x, g, t, windows);
  mma::commit_async();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, quad = lane & 3;
  for (int buf = 0; t < g.tiles; t += stride, buf ^= 1) {
    if (t + stride < g.tiles) load_window<U>(x, g, t + stride, windows + (buf ^ 1) * window);
    mma::commit_async();
    mma::wait_async<1>();  // all but the group just issued: this tile's window (and the weights)
    __syncthreads();

    Acc acc[2][8][4];
#pragma unroll
    for (int m = 0; m < 2; ++m)
#pragma unroll
      for (int f = 0; f < 8; ++f)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[m][f][e] = Acc(0);
    const uint4* win = windows + buf * window;
    for (int i = 0; i < g.kh; ++i)
      for (int j = 0; j < g.kw; ++j) {
        const int tap = i * g.kw + j;
#pragma unroll
        for (int s = 0; s < kSteps; ++s) {
          uint32_t a[2][4];
#pragma unroll
          for (int m = 0; m < 2; ++m)  // window pixel (2 warp + m + i, j + lane % 16), unit 2s + lane / 16
            mma::ldmatrix4(win + mma::swizzled<U>((2 * warp + m + i) * ww + j + (lane & 15), 2 * s + (lane >> 4)), a[m]);
#pragma unroll
          for (int p = 0; p < 4; ++p) {  // fragments 2p and 2p + 1: channels 16p + (lane / 16) 8 + lane % 8
            uint32_t b[4];
            mma::ldmatrix4(
                weights + mma::swizzled<U>(tap * kCout + 16 * p + ((lane >> 4) << 3) + (lane & 7), 2 * s + ((lane >> 3) & 1)),
                b);
#pragma unroll
            for (int m = 0; m < 2; ++m) {
              mma::mma_step<In>(acc[m][2 * p], a[m], b[0], b[1]);
              mma::mma_step<In>(acc[m][2 * p + 1], a[m], b[2], b[3]);
            }
          }
        }
      }

    // A lane holds pixels lane / 4 (sums 0, 1) and lane / 4 + 8 (sums 2, 3) of each m fragment, channels
    // f 8 + 2 (lane % 4) + {0, 1} of each n8 fragment f; after the exchange, channels (4 group + lane % 4) 8
    // to + 8 of one pixel.
    const int tx = static_cast<int>(t % g.tiles_x), ty = static_cast<int>(t / g.tiles_x % g.tiles_y);
    const int64_t b = t / (int64_t(g.tiles_x) * g.tiles_y);
#pragma unroll
    for (int m = 0; m < 2; ++m)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int oy = ty * kTileH + 2 * warp + m, ox = tx * kTileW + (lane >> 2) + 8 * half;
#pragma unroll
        for (int grp = 0; grp < 2; ++grp) {
          uint32_t even[4], odd[4];
#pragma unroll
          for (int f = 0; f < 4; ++f) {
            even[f] = __float_as_uint(static_cast<float>(acc[m][4 * grp + f][2 * half]));
            odd[f] = __float_as_uint(static_cast<float>(acc[m][4 * grp + f][2 * half + 1]));
          }
          const uint4 e = mma::quad_transpose(even), o = mma::quad_transpose(odd);
          const float v[8] = {__uint_as_float(e.x), __uint_as_float(o.x), __uint_as_float(e.y), __uint_as_float(o.y),
                              __uint_as_float(e.z), __uint_as_float(o.z), __uint_as_float(e.w), __uint_as_float(o.w)};
          const int channel = c0 + (4 * grp + quad) * 8;
          if (oy < g.oh && ox < g.ow) epilogue(((b * g.oh + oy) * g.ow + ox) * g.k + channel, channel, v);
        }
      }
    __syncthreads();  // every warp is done with this window before the next prefetch overwrites it
  }
  mma::wait_async<0>();
}

template <class In, int U, class Epilogue>
void launch(const void* x, const void* w, const SmallConvGeometry& s, const Epilogue& epilogue) {
  Geometry g{s.n, static_cast<int>(s.h), static_cast<int>(s.w), static_cast<int>(s.oh), static_cast<int>(s.ow),
             static_cast<int>(s.k), static_cast<int>(s.kh), static_cast<int>(s.kw), static_cast<int>(s.ph),
             static_cast<int>(s.pw), 0, 0, static_cast<int>(s.k / kCout), 0};
  g.tiles_y = (g.oh + kTileH - 1) / kTileH, g.tiles_x = (g.ow + kTileW - 1) / kTileW;
  g.tiles = g.n * g.tiles_y * g.tiles_x;
  if (g.tiles == 0) return;
  const size_t shared = shared_bytes<U>(g.kh, g.kw);
  int dev = 0;
  cudaGetDevice(&dev);
  const DeviceLimits& lim = device_limits(dev);
  // Once per process and instantiation: room for the largest window the kernel takes.
  static const cudaError_t raised = cudaFuncSetAttribute(mma_conv_kernel<In, U, Epilogue>,
                                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                         static_cast<int>(shared_bytes<U>(kMaxWindow, kMaxWindow)));
  check(raised, "raising the MMA convolution's shared memory");
  // Blocks loop over tiles: up to two a multiprocessor (their registers bound them), `groups`
  // adjacent ones per tile.
  const int per_sm = std::clamp(static_cast<int>(lim.shared_per_sm / (shared + 1024)), 1, 2);
  const int64_t per_group = std::max<int64_t>(1, std::min<int64_t>(g.tiles, int64_t(lim.sms) * per_sm / g.groups));
  mma_conv_kernel<In, U, Epilogue><<<static_cast<unsigned>(per_group * g.groups), kThreads, shared, stream()>>>(
      static_cast<const In*>(x), static_cast<const In*>(w), g, epilogue);
  check_launch("launching the MMA convolution");
}

// Whether the kernel takes a stride-1 layer of these extents (stride, dilation and pixel size are the
// callers' to check).
bool geometry_fits(const SmallConvGeometry& g) {
  return g.n > 0 && g.k > 0 && g.k % kCout == 0 && g.kh >= 1 && g.kw >= 1 && g.kh <= kMaxWindow &&
         g.kw <= kMaxWindow && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph >= 0 && g.pw >= 0 &&
         g.ph < g.kh && g.pw < g.kw && g.oh == g.h + 2 * g.ph - g.kh + 1 && g.ow == g.w + 2 * g.pw - g.kw + 1 &&
         g.oh > 0 && g.ow > 0 && g.h < (1 << 24) && g.w < (1 << 24) && g.k < (1 << 24) &&
         g.n * g.h * g.w * g.c < (int64_t(1) << 40) && g.n * g.oh * g.ow * g.k < (int64_t(1) << 40);
}

// The stride-1 form of a space-to-depth regrouping.
SmallConvGeometry regrouped(const SpaceToDepth& s) {
  SmallConvGeometry g;
  g.n = s.n, g.h = s.hb, g.w = s.wb, g.c = s.cs, g.k = s.k, g.kh = s.kbh, g.kw = s.kbw;
  g.oh = s.hb - s.kbh + 1, g.ow = s.wb - s.kbw + 1;
  return g;
}

template <class T>
void float_conv(const void* xs, const void* ws, const void* bias, const void* residual, void* y,
                const SmallConvGeometry& g, ConvActivation act) {
  launch<T, 2>(xs, ws, g, FloatEpilogue<T>{static_cast<const T*>(bias), static_cast<const T*>(residual), static_cast<T*>(y), act});
}

// Int8 layers of 64 input channels, int8 or float16 output, int8 or float16 residual (what a quantized
// ResNet's first stage has; cuDNN takes the rest).
template <class T, class R>
void quantized_conv(const void* x, const void* w, const void* scale, const void* bias, const void* residual,
                    const void* residual_scale, void* y, const SmallConvGeometry& g, MatMulActivation act) {
  launch<int8_t, 4>(x, w, g, quantized_epilogue_of<T, R>(scale, bias, residual, residual_scale, y, act));
}

template <class T>
void quantized_with_residual(DataType residual_type, const void* x, const void* w, const void* scale,
                             const void* bias, const void* residual, const void* residual_scale, void* y,
                             const SmallConvGeometry& g, MatMulActivation act) {
  if (residual && residual_type == DataType::kFloat16)
    quantized_conv<T, __half>(x, w, scale, bias, residual, residual_scale, y, g, act);
  else
    quantized_conv<T, int8_t>(x, w, scale, bias, residual, residual_scale, y, g, act);
}

}  // namespace

bool conv_s2d_mma_fits(DataType t, const SpaceToDepth& s) {
  return (t == DataType::kFloat16 || t == DataType::kBFloat16) && s.cs == 16 && geometry_fits(regrouped(s));
}

void conv_s2d_mma_nhwc(DataType t, const void* xs, const void* ws, const void* bias, const void* residual, void* y,
                       const SpaceToDepth& s, ConvActivation act) {
  if (t == DataType::kFloat16)
    float_conv<__half>(xs, ws, bias, residual, y, regrouped(s), act);
  else
    float_conv<__nv_bfloat16>(xs, ws, bias, residual, y, regrouped(s), act);
}

bool quantized_conv_mma_fits(DataType out, bool has_residual, DataType residual_type, const SmallConvGeometry& g) {
  return (out == DataType::kInt8 || out == DataType::kFloat16) &&
         (!has_residual || residual_type == DataType::kInt8 || residual_type == DataType::kFloat16) && g.c == 64 &&
         geometry_fits(g);
}

void quantized_conv_mma_nhwc(DataType out, DataType residual_type, const void* x, const void* w, const void* scale,
                             const void* bias, const void* residual, const void* residual_scale, void* y,
                             const SmallConvGeometry& g, MatMulActivation act) {
  if (out == DataType::kFloat16)
    quantized_with_residual<__half>(residual_type, x, w, scale, bias, residual, residual_scale, y, g, act);
  else
    quantized_with_residual<int8_t>(residual_type, x, w, scale, bias, residual, residual_scale, y, g, act);
}

}  // namespace tensorforge::cuda
