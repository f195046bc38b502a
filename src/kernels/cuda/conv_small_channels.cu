// Convolutions of few input channels (a network's stem: 3 colour channels under a 7 x 7 or 3 x 3
// window) as an implicit matrix multiply on the tensor cores (see conv.h). cuDNN's kernels for such
// layers read 3-channel pixels that no tensor-core tile fits and fall back to slow paths (ResNet-50's
// 7 x 7 stem took 1.5 ms at batch 256 on the H100, about ten times its bytes' worth), and cuDNN's
// int8 convolutions refuse them. Here the window is the reduction: a tile is up to kTile adjacent
// output positions of one output row; its block first copies the input patch their windows cover
// (a few input rows, each one coalesced run of independent loads, zeros outside the image) into
// shared memory, then spreads each position's window, C x KH x KW values padded with zeros to Kp (a
// multiple of 16), into a row of A from there, holds the weight as B (Kp x Cout, loaded once per
// block: blocks loop over tiles), and multiplies them with WMMA: float16 or bfloat16 inputs with float32 sums
// (the float convolution), or int8 inputs with exact int32 sums (quantized_convolution). A and B
// are stored in chunks of 16 reduction columns ([Kp / 16][rows][16]), so every fragment starts on
// a 32-byte boundary, as int8 fragments require. The epilogue, 8 adjacent channels a lane, is the
// layer's: bias, residual and activation for the float convolution; scale, bias, scaled residual,
// relu and the rounding to any output dtype (int8 half to even, saturated) for the quantized one.
#include <mma.h>

#include <algorithm>
#include <type_traits>

#include "kernels/common/matmul_epilogue.h"
#include "kernels/common/quantize_formulas.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/conv_epilogues.cuh"
#include "kernels/cuda/device_limits.h"

namespace tensorforge::cuda {

namespace {

constexpr int kTile = 128;    // output positions a block computes at a time (rows of A)
constexpr int kWarps = 8;     // each takes 16 of the tile's rows
constexpr int kColumns = 64;  // output channels a warp's fragments cover in one pass

constexpr int kMaxReduction = 256;  // the most window values (C x KH x KW) a layer may have

// A tile: `width` adjacent output positions of one output row (at most kTile; a row of more takes
// several tiles), whose windows lie in a patch of span_y input rows of patch_w pixels.
struct TileShape {
  int kp = 0;      // the padded reduction length (C x KH x KW rounded up to 16)
  int width = 0;   // output positions a tile covers
  int span_y = 0;  // input rows a window spans
  int patch_w = 0;  // input pixels the tile's windows span in a row
};

TileShape tile_of(const SmallConvGeometry& g) {
  TileShape t;
  t.kp = static_cast<int>((g.c * g.kh * g.kw + 15) / 16 * 16);
  t.width = static_cast<int>(std::min<int64_t>(kTile, g.ow));
  t.span_y = static_cast<int>((g.kh - 1) * g.dh + 1);
  t.patch_w = static_cast<int>((t.width - 1) * g.sw + (g.kw - 1) * g.dw + 1);
  return t;
}

// The shared memory a block needs: A, B, the staging of the sums, the patch.
size_t shared_bytes(const SmallConvGeometry& g, size_t esize) {
  const TileShape t = tile_of(g);
  const size_t kp = static_cast<size_t>(t.kp), patch = static_cast<size_t>(t.span_y) * t.patch_w * g.c;
  return (kTile + static_cast<size_t>(g.k)) * kp * esize + kWarps * 16 * 16 * 4 + (patch + 16) * esize;
}

// WMMA's element and sum types for the input type.
template <class In>
struct Mma {
  using element = In;
  using sum = float;
};
template <>
struct Mma<int8_t> {
  using element = signed char;
  using sum = int;
};

template <class In>
__device__ __forceinline__ In zero_of() {
  if constexpr (std::is_same_v<In, int8_t>)
    return 0;
  else
    return store_as<In>(0.0f);
}

template <class In, class Epilogue>
__global__ void __launch_bounds__(kWarps * 32) small_channels_kernel(const In* __restrict__ x, const In* __restrict__ w,
                                                                     SmallConvGeometry g, TileShape t,
                                                                     Epilogue epilogue) {
  namespace wm = nvcuda::wmma;
  using E = typename Mma<In>::element;
  using S = typename Mma<In>::sum;
  extern __shared__ __align__(32) unsigned char smem[];
  const int kp = t.kp, cout = static_cast<int>(g.k), taps = static_cast<int>(g.c * g.kh * g.kw);
  const int c = static_cast<int>(g.c), patch_row = t.patch_w * c;  // a patch row's elements
  In* a = reinterpret_cast<In*>(smem);                      // [kp / 16][kTile][16]: the windows
  In* b = a + kTile * kp;                                   // [kp / 16][cout][16]: the weight, B column-major
  S* stage = reinterpret_cast<S*>(b + cout * kp);           // [kWarps][16 x 16]: a fragment's sums
  In* patch = reinterpret_cast<In*>(stage + kWarps * 256);  // [span_y][patch_w][C]: the tile's input
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  // Element j of a row of A (or of a column of B) sits at chunk j / 16, place j % 16.
  auto at_a = [&](int row, int j) { return (j / 16) * (kTile * 16) + row * 16 + j % 16; };

  // The weight [cout][KH][KW][C]: column k of B is row k of w.
  for (int e = tid; e < cout * kp; e += blockDim.x) {
    const int k = e / kp, j = e % kp;
    b[(j / 16) * (cout * 16) + k * 16 + j % 16] = j < taps ? w[static_cast<int64_t>(k) * taps + j] : zero_of<In>();
  }
  // This lane's reduction columns j = lane + 32 i, as offsets into the patch from the window of tile
  // row 0 (row r's window starts r * stride pixels further); -1: a padding column (zero).
  int offset[kMaxReduction / 32];
#pragma unroll
  for (int i = 0; i < kMaxReduction / 32; ++i) {
    const int j = lane + 32 * i;
    offset[i] = -1;
    if (j < taps) {
      const int tap = j / c, ky = tap / static_cast<int>(g.kw), kx = tap % static_cast<int>(g.kw);
      offset[i] = (ky * static_cast<int>(g.dh) * t.patch_w + kx * static_cast<int>(g.dw)) * c + j % c;
    }
  }

  const int64_t segments = (g.ow + t.width - 1) / t.width;  // tiles a row of output positions takes
  const int64_t tiles = g.n * g.oh * segments;
  const int row_step = static_cast<int>(g.sw) * c;  // patch elements between neighbouring windows
  S* my_stage = stage + warp * 256;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t seg = tile % segments, q = tile / segments, oy = q % g.oh, n = q / g.oh;
    const int64_t ox0 = seg * t.width;
    const int rows = static_cast<int>(min(static_cast<int64_t>(t.width), g.ow - ox0));  // valid rows of A
    const int64_t iy0 = oy * g.sh - g.ph, ix0 = ox0 * g.sw - g.pw;
    __syncthreads();  // the weight is in; the previous tile's patch and A are no longer read
    // The patch: span_y input rows of patch_w pixels from (iy0, ix0), zeros outside the image. A
    // patch row is contiguous in x (channels innermost), so each row is one coalesced run of loads,
    // all of them independent of one another.
    const In* xn = x + n * g.h * g.w * g.c;
    const int64_t first = ix0 * c, limit = g.w * c;  // the patch row's first element in x's row, x's row length
    for (int r = 0; r < t.span_y; ++r) {
      const int64_t iy = iy0 + r;
      const bool inside = iy >= 0 && iy < g.h;
      const In* src = xn + iy * limit;
      In* dst = patch + r * patch_row;
#pragma unroll 4
      for (int e = tid; e < patch_row; e += blockDim.x) {
        const int64_t at = first + e;
        dst[e] = inside && at >= 0 && at < limit ? src[at] : zero_of<In>();
      }
    }
    __syncthreads();
    // A from the patch: warp `warp` fills rows warp, warp + kWarps, ...; rows past the segment are zeros.
    for (int r = warp; r < kTile; r += kWarps) {
      const In* window = patch + r * row_step;
      const bool valid = r < rows;
#pragma unroll
      for (int i = 0; i < kMaxReduction / 32; ++i) {
        const int j = lane + 32 * i;
        if (j < kp) a[at_a(r, j)] = valid && offset[i] >= 0 ? window[offset[i]] : zero_of<In>();
      }
    }
    __syncthreads();
    if (warp * 16 >= rows) continue;  // this warp's rows are all past the segment
    const int64_t row0 = (n * g.oh + oy) * g.ow + ox0;  // the output position of tile row 0
    for (int k0 = 0; k0 < cout; k0 += kColumns) {
      const int fragments = min(kColumns, cout - k0) / 16;
      wm::fragment<wm::accumulator, 16, 16, 16, S> acc[kColumns / 16];
#pragma unroll
      for (int f = 0; f < kColumns / 16; ++f) wm::fill_fragment(acc[f], S(0));
      for (int chunk = 0; chunk < kp / 16; ++chunk) {
        wm::fragment<wm::matrix_a, 16, 16, 16, E, wm::row_major> fa;
        wm::load_matrix_sync(fa, reinterpret_cast<const E*>(a + chunk * (kTile * 16) + warp * 256), 16);
#pragma unroll
        for (int f = 0; f < kColumns / 16; ++f) {
          if (f >= fragments) break;
          wm::fragment<wm::matrix_b, 16, 16, 16, E, wm::col_major> fb;
          wm::load_matrix_sync(fb, reinterpret_cast<const E*>(b + chunk * (cout * 16) + (k0 + f * 16) * 16), 16);
          wm::mma_sync(acc[f], fa, fb, acc[f]);
        }
      }
      // Epilogue, a fragment at a time through this warp's staging: lane l takes row l / 2 and eight
      // adjacent channels.
#pragma unroll
      for (int f = 0; f < kColumns / 16; ++f) {
        if (f >= fragments) break;
        wm::store_matrix_sync(my_stage, acc[f], 16, wm::mem_row_major);
        __syncwarp();
        const int local = lane / 2, r = warp * 16 + local, c0 = (lane % 2) * 8;
        if (r < rows) {
          const int64_t p = row0 + r;
          float v[8];
#pragma unroll
          for (int i = 0; i < 8; ++i) v[i] = static_cast<float>(my_stage[local * 16 + c0 + i]);
          const int k = k0 + f * 16 + c0;
          epilogue(p * cout + k, k, v);
        }
        __syncwarp();
      }
    }
  }
}

template <class In, class Epilogue>
void launch(const void* x, const void* w, const SmallConvGeometry& g, const Epilogue& epilogue) {
  if (g.n * g.oh * g.ow * g.k == 0) return;
  const size_t shared = shared_bytes(g, sizeof(In));
  int dev = 0;
  cudaGetDevice(&dev);
  const DeviceLimits& lim = device_limits(dev);
  // Once per process and instantiation: the kernel may take all the shared memory a block can opt
  // into (conv_small_channels_fits() refuses layers that need more).
  static const cudaError_t raised = cudaFuncSetAttribute(
      small_channels_kernel<In, Epilogue>, cudaFuncAttributeMaxDynamicSharedMemorySize, lim.shared_per_block);
  check(raised, "raising the small-channel convolution's shared memory");
  // Blocks loop over tiles: as many as fit on the device at once (shared memory bounds them; 1 KB
  // of each block's is the system's), at most 8 a multiprocessor (2048 threads).
  const int per_sm = std::clamp(static_cast<int>(lim.shared_per_sm / (shared + 1024)), 1, 2048 / (kWarps * 32));
  const TileShape t = tile_of(g);
  const int64_t tiles = g.n * g.oh * ((g.ow + t.width - 1) / t.width);
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(tiles, int64_t(lim.sms) * per_sm));
  small_channels_kernel<In, Epilogue><<<static_cast<unsigned>(blocks), kWarps * 32, shared, stream()>>>(
      static_cast<const In*>(x), static_cast<const In*>(w), g, t, epilogue);
  check_launch("launching the small-channel convolution");
}

template <class T, class R>
void launch_quantized(const void* x, const void* w, const void* scale, const void* bias, const void* residual,
                      const void* residual_scale, void* y, const SmallConvGeometry& g, MatMulActivation act) {
  launch<int8_t>(x, w, g, quantized_epilogue_of<T, R>(scale, bias, residual, residual_scale, y, act));
}

template <class T>
void quantized_with_residual(DataType residual_type, const void* x, const void* w, const void* scale,
                             const void* bias, const void* residual, const void* residual_scale, void* y,
                             const SmallConvGeometry& g, MatMulActivation act) {
  switch (residual ? residual_type : DataType::kInt8) {
    case DataType::kFloat32: return launch_quantized<T, float>(x, w, scale, bias, residual, residual_scale, y, g, act);
    case DataType::kFloat16: return launch_quantized<T, __half>(x, w, scale, bias, residual, residual_scale, y, g, act);
    case DataType::kBFloat16:
      return launch_quantized<T, __nv_bfloat16>(x, w, scale, bias, residual, residual_scale, y, g, act);
    default: return launch_quantized<T, int8_t>(x, w, scale, bias, residual, residual_scale, y, g, act);
  }
}

bool shared_memory_fits(const SmallConvGeometry& g, size_t esize) {
  int dev = 0;
  cudaGetDevice(&dev);
  return shared_bytes(g, esize) <= static_cast<size_t>(device_limits(dev).shared_per_block);
}

bool geometry_fits(const SmallConvGeometry& g) {
  return g.c >= 1 && g.c <= kSmallConvMaxChannels && g.k % 16 == 0 && g.c * g.kh * g.kw <= kMaxReduction;
}

}  // namespace

bool conv_small_channels_fits(DataType t, const SmallConvGeometry& g) {
  if (t != DataType::kFloat16 && t != DataType::kBFloat16) return false;
  return geometry_fits(g) && shared_memory_fits(g, 2);
}

void conv_small_channels_nhwc(DataType t, const void* x, const void* w, const void* bias, const void* residual,
                              void* y, const SmallConvGeometry& g, ConvActivation act) {
  if (t == DataType::kFloat16)
    launch<__half>(x, w, g, FloatEpilogue<__half>{static_cast<const __half*>(bias),
                                                  static_cast<const __half*>(residual), static_cast<__half*>(y), act});
  else
    launch<__nv_bfloat16>(x, w, g,
                          FloatEpilogue<__nv_bfloat16>{static_cast<const __nv_bfloat16*>(bias),
                                                       static_cast<const __nv_bfloat16*>(residual),
                                                       static_cast<__nv_bfloat16*>(y), act});
}

bool quantized_conv_small_channels_fits(DataType out, const SmallConvGeometry& g) {
  if (out != DataType::kFloat32 && out != DataType::kFloat16 && out != DataType::kBFloat16 && out != DataType::kInt8)
    return false;
  return geometry_fits(g) && shared_memory_fits(g, 1);
}

void quantized_conv_small_channels_nhwc(DataType out, DataType residual_type, const void* x, const void* w,
                                        const void* scale, const void* bias, const void* residual,
                                        const void* residual_scale, void* y, const SmallConvGeometry& g,
                                        MatMulActivation act) {
  switch (out) {
    case DataType::kFloat32:
      return quantized_with_residual<float>(residual_type, x, w, scale, bias, residual, residual_scale, y, g, act);
    case DataType::kFloat16:
      return quantized_with_residual<__half>(residual_type, x, w, scale, bias, residual, residual_scale, y, g, act);
    case DataType::kBFloat16:
      return quantized_with_residual<__nv_bfloat16>(residual_type, x, w, scale, bias, residual, residual_scale, y, g,
                                                    act);
    default:
      return quantized_with_residual<int8_t>(residual_type, x, w, scale, bias, residual, residual_scale, y, g, act);
  }
}

}  // namespace tensorforge::cuda
