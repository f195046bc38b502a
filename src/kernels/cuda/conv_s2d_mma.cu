// A stem's space-to-depth form (see conv.h: ResNet's 7x7 stride-2 convolution of 3 channels becomes
// a 4x4 stride-1 one of 16-channel pixels) by warp-level tensor-core MMAs (mma.sync m16n8k16, float32
// sums). With 16 input channels a window tap is exactly one k16 step, so a fragment of A is 16
// adjacent pixels of one input row, read from shared memory by ldmatrix as they lie: no window is
// spread into a matrix first (the small-channel kernel's cost). cuDNN's plans of the same form took
// 1.2 ms for ResNet-50's stem at batch 256 on the H100, about ten times the time of its bytes.
//
// A block keeps its 64 output channels' weights in shared memory (taps x 64 rows of 16 channels) and
// loops over tiles of 16 x 16 output pixels: while it computes one tile from its input window
// (19 x 19 pixels for a 4x4 window) the next tile's window arrives by cp.async into the other
// buffer. Each of its 8 warps computes two output rows (two m16 fragments) by 64 channels (eight n8
// fragments). Shared rows are 32 bytes, two 16-byte halves swapped in every other group of four
// rows, so that ldmatrix's eight rows of a phase fall in distinct banks. The epilogue adds the bias,
// applies the activation in float32, rounds once, and exchanges words within each quad of lanes so
// that every lane writes 8 adjacent channels of one pixel as one 16-byte store.
#include <algorithm>
#include <mutex>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/device_limits.h"

namespace tensorforge::cuda {

namespace {

constexpr int kWarps = 8, kThreads = kWarps * 32;
constexpr int kTileW = 16;          // output columns of a tile: one m16 fragment
constexpr int kTileH = 2 * kWarps;  // output rows of a tile: two a warp
constexpr int kCout = 64;           // output channels a block computes
constexpr int kChannels = 16;       // input channels: one k16 step a tap
constexpr int kMaxTaps = 16;        // a window of at most 4 x 4

struct Geometry {
  int64_t n;
  int h, w, oh, ow, k, kh, kw;  // input extents (16 channels), output extents and channels, window
  int tiles_y, tiles_x;
  int64_t tiles;  // n * tiles_y * tiles_x
};

// The 16-byte unit holding half `half` of shared row `row` (the swizzle the header describes).
__device__ __forceinline__ int unit(int row, int half) { return 2 * row + (half ^ ((row >> 2) & 1)); }

__device__ __forceinline__ void copy16_async(void* shared, const void* global, bool inside) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(global), "r"(inside ? 16 : 0));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void wait_async() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix4(const uint4* shared, uint32_t (&r)[4]) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

template <class T>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  const T a = store_as<T>(lo), b = store_as<T>(hi);
  return uint32_t(*reinterpret_cast<const uint16_t*>(&a)) | (uint32_t(*reinterpret_cast<const uint16_t*>(&b)) << 16);
}

__device__ __forceinline__ uint32_t pick(uint32_t a, uint32_t b, uint32_t c, uint32_t d, int k) {
  return k == 0 ? a : k == 1 ? b : k == 2 ? c : d;
}

// Within each quad of lanes, lane i returns as word j the word w[i] of quad lane j: the four lanes'
// pairs of channels of four n8 fragments become each lane's eight channels of one fragment.
__device__ __forceinline__ uint4 quad_transpose(const uint32_t (&w)[4]) {
  const int lane = threadIdx.x & 31, i = lane & 3;
  uint32_t r[4];
#pragma unroll
  for (int j = 0; j < 4; ++j)  // round j: lane i reads quad lane (i + j) & 3, which sends its word for us
    r[j] = __shfl_sync(0xffffffffu, pick(w[0], w[1], w[2], w[3], (i - j) & 3), (lane & ~3) | ((i + j) & 3));
  return make_uint4(pick(r[0], r[1], r[2], r[3], (0 - i) & 3), pick(r[0], r[1], r[2], r[3], (1 - i) & 3),
                    pick(r[0], r[1], r[2], r[3], (2 - i) & 3), pick(r[0], r[1], r[2], r[3], (3 - i) & 3));
}

// Issues the cp.async loads of tile `t`'s input window into `win` (zeros past the input).
template <class T>
__device__ __forceinline__ void load_window(const T* __restrict__ x, const Geometry& g, int64_t t, uint4* win) {
  const int tx = static_cast<int>(t % g.tiles_x), ty = static_cast<int>(t / g.tiles_x % g.tiles_y);
  const int64_t b = t / (int64_t(g.tiles_x) * g.tiles_y);
  const int ww = kTileW + g.kw - 1, units = (kTileH + g.kh - 1) * ww * 2;
  const int y0 = ty * kTileH, x0 = tx * kTileW;
  for (int u = threadIdx.x; u < units; u += kThreads) {
    const int row = u >> 1, half = u & 1, iy = y0 + row / ww, ix = x0 + row % ww;
    const bool inside = iy < g.h && ix < g.w;
    const T* src = x + ((b * g.h + (inside ? iy : 0)) * g.w + (inside ? ix : 0)) * kChannels + half * 8;
    copy16_async(win + unit(row, half), src, inside);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads, 2) s2d_mma_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                           const T* __restrict__ bias, T* __restrict__ y, Geometry g,
                                                           ConvActivation act) {
  extern __shared__ uint4 shared[];
  const int taps = g.kh * g.kw, ww = kTileW + g.kw - 1, window_units = (kTileH + g.kh - 1) * ww * 2;
  uint4* weights = shared;                     // [tap][64 channels] rows
  uint4* windows = shared + taps * kCout * 2;  // two buffers of window_units
  const int c0 = blockIdx.y * kCout;           // the block's first output channel
  // Weights: w [K, kh, kw, 16] -> row tap * 64 + n.
  for (int u = threadIdx.x; u < taps * kCout * 2; u += kThreads) {
    const int row = u >> 1, half = u & 1, tap = row / kCout, n = row % kCout;
    copy16_async(weights + unit(row, half), w + ((int64_t(c0 + n) * taps + tap) * kChannels + half * 8), true);
  }
  int64_t t = blockIdx.x;
  if (t < g.tiles) load_window(x, g, t, windows);
  commit_async();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, quad = lane & 3;
  float bias_v[8][2];
#pragma unroll
  for (int f = 0; f < 8; ++f)
#pragma unroll
    for (int e = 0; e < 2; ++e) bias_v[f][e] = bias ? load(bias, c0 + f * 8 + quad * 2 + e) : 0.0f;

  for (int buf = 0; t < g.tiles; t += gridDim.x, buf ^= 1) {
    const int64_t next = t + gridDim.x;
    if (next < g.tiles) load_window(x, g, next, windows + (buf ^ 1) * window_units);
    commit_async();
    wait_async<1>();  // all but the group just issued: this tile's window (and the weights)
    __syncthreads();

    float acc[2][8][4];
#pragma unroll
    for (int m = 0; m < 2; ++m)
#pragma unroll
      for (int f = 0; f < 8; ++f)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[m][f][e] = 0.0f;
    const uint4* win = windows + buf * window_units;
    for (int i = 0; i < g.kh; ++i)
      for (int j = 0; j < g.kw; ++j) {
        uint32_t a[2][4];
#pragma unroll
        for (int m = 0; m < 2; ++m)  // pixels (2 warp + m + i, j + lane % 16) of the window, half lane / 16
          ldmatrix4(win + unit((2 * warp + m + i) * ww + j + (lane & 15), lane >> 4), a[m]);
        const int tap = i * g.kw + j;
#pragma unroll
        for (int p = 0; p < 4; ++p) {  // fragments 2p and 2p + 1: channels 16p + (lane / 16) 8 + lane % 8
          uint32_t b[4];
          ldmatrix4(weights + unit(tap * kCout + 16 * p + ((lane >> 4) << 3) + (lane & 7), (lane >> 3) & 1), b);
#pragma unroll
          for (int m = 0; m < 2; ++m) {
            mma16816<T>(acc[m][2 * p], a[m], b[0], b[1]);
            mma16816<T>(acc[m][2 * p + 1], a[m], b[2], b[3]);
          }
        }
      }

    // Epilogue: a lane holds pixels lane / 4 and lane / 4 + 8 of each m fragment, channels
    // f * 8 + 2 (lane % 4) + {0, 1} of each n8 fragment f.
    const int tx = static_cast<int>(t % g.tiles_x), ty = static_cast<int>(t / g.tiles_x % g.tiles_y);
    const int64_t b = t / (int64_t(g.tiles_x) * g.tiles_y);
#pragma unroll
    for (int m = 0; m < 2; ++m)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int oy = ty * kTileH + 2 * warp + m, ox = tx * kTileW + (lane >> 2) + 8 * half;
#pragma unroll
        for (int group = 0; group < 2; ++group) {
          uint32_t words[4];
#pragma unroll
          for (int f = 0; f < 4; ++f) {
            const int frag = 4 * group + f;
            words[f] = pack2<T>(conv_activate(act, acc[m][frag][2 * half] + bias_v[frag][0]),
                                conv_activate(act, acc[m][frag][2 * half + 1] + bias_v[frag][1]));
          }
          const uint4 out = quad_transpose(words);  // channels (4 group + quad) 8 .. + 8 of the pixel
          if (oy < g.oh && ox < g.ow)
            *reinterpret_cast<uint4*>(y + ((b * g.oh + oy) * g.ow + ox) * g.k + c0 + (4 * group + quad) * 8) = out;
        }
      }
    __syncthreads();  // every warp is done with this window before the next prefetch overwrites it
  }
  wait_async<0>();
}

// Shared memory: the weights' rows and two windows, 32 bytes a row.
constexpr size_t shared_bytes(int64_t kbh, int64_t kbw) {
  return size_t(kbh * kbw) * kCout * 32 + 2 * size_t(kTileH + kbh - 1) * (kTileW + kbw - 1) * 32;
}
size_t shared_bytes(const SpaceToDepth& s) { return shared_bytes(s.kbh, s.kbw); }
constexpr size_t kMaxShared = shared_bytes(4, 4);

template <class T>
void launch(const void* xs, const void* ws, const void* bias, void* y, const SpaceToDepth& s, ConvActivation act) {
  const int oh = static_cast<int>(s.hb - s.kbh + 1), ow = static_cast<int>(s.wb - s.kbw + 1);
  Geometry g{s.n, static_cast<int>(s.hb), static_cast<int>(s.wb), oh, ow, static_cast<int>(s.k),
             static_cast<int>(s.kbh), static_cast<int>(s.kbw), (oh + kTileH - 1) / kTileH, (ow + kTileW - 1) / kTileW, 0};
  g.tiles = g.n * g.tiles_y * g.tiles_x;
  if (g.tiles == 0) return;
  const size_t shared = shared_bytes(s);
  int dev = 0;
  cudaGetDevice(&dev);
  const DeviceLimits& lim = device_limits(dev);
  // Once per process and instantiation: room for the largest window (4 x 4) the kernel takes.
  static const cudaError_t raised = cudaFuncSetAttribute(s2d_mma_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                         static_cast<int>(kMaxShared));
  check(raised, "raising the space-to-depth MMA convolution's shared memory");
  // Blocks loop over tiles: two a multiprocessor (their registers bound them), per 64 channels.
  const int per_sm = std::clamp(static_cast<int>(lim.shared_per_sm / (shared + 1024)), 1, 2);
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(g.tiles, int64_t(lim.sms) * per_sm));
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(g.k / kCout));
  s2d_mma_kernel<T><<<grid, kThreads, shared, stream()>>>(static_cast<const T*>(xs), static_cast<const T*>(ws),
                                                          static_cast<const T*>(bias), static_cast<T*>(y), g, act);
  check_launch("launching the space-to-depth MMA convolution");
}

}  // namespace

bool conv_s2d_mma_fits(DataType t, const SpaceToDepth& s, bool has_residual) {
  return (t == DataType::kFloat16 || t == DataType::kBFloat16) && s.cs == kChannels && s.k % kCout == 0 &&
         s.kbh * s.kbw <= kMaxTaps && s.kbh <= 4 && s.kbw <= 4 && !has_residual && s.n > 0 && s.hb >= s.kbh &&
         s.wb >= s.kbw && s.n * s.hb * s.wb * kChannels < (int64_t(1) << 40) && s.hb < (1 << 20) && s.wb < (1 << 20);
}

void conv_s2d_mma_nhwc(DataType t, const void* xs, const void* ws, const void* bias, void* y, const SpaceToDepth& s,
                       ConvActivation act) {
  if (t == DataType::kFloat16)
    launch<__half>(xs, ws, bias, y, s, act);
  else
    launch<__nv_bfloat16>(xs, ws, bias, y, s, act);
}

}  // namespace tensorforge::cuda
