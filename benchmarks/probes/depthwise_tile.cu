// Scratch probe: ConvNeXt-T's 7x7 depthwise layers (stride 1, padding 3, bias, float16 channels
// last) by the engine's strip kernel (conv_depthwise_nhwc, 16- and 4-byte packs) against a tiled
// form: each block copies its output tile's input window (every 16-byte load in flight at once, the
// padding written as zeros) and its channel slice's weights into shared memory, then each thread
// computes a strip of four outputs of eight channels from there. Outputs compared with a plain
// reference kernel (float32 sums, the same tap order); CUDA events, the best of 5 x 20 calls.
// Not built by CMake: on a GPU machine, from the repository root,
//   nvcc -std=c++17 -arch=sm_90 -O3 --expt-relaxed-constexpr --extended-lambda -Isrc -Iinclude \
//     benchmarks/probes/depthwise_tile.cu -o /tmp/depthwise_tile && /tmp/depthwise_tile
#include "kernels/cuda/conv_depthwise.cu"

#include <cstdio>
#include <random>
#include <vector>

using namespace tensorforge;
using namespace tensorforge::cuda;

__global__ void reference(const __half* x, const __half* w, const __half* bias, __half* y, int n, int h, int wd,
                          int c) {
  const int64_t total = int64_t(n) * h * wd * c;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int ch = i % c;
    int64_t p = i / c;
    const int ox = p % wd, oy = (p / wd) % h, b = p / (int64_t(wd) * h);
    float acc = __half2float(bias[ch]);
    for (int ky = 0; ky < 7; ++ky)
      for (int kx = 0; kx < 7; ++kx) {
        const int iy = oy - 3 + ky, ix = ox - 3 + kx;
        if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
        acc += __half2float(x[((int64_t(b) * h + iy) * wd + ix) * c + ch]) * __half2float(w[ch * 49 + ky * 7 + kx]);
      }
    y[i] = __float2half_rn(acc);
  }
}

// GS groups of 8 channels a block (slice = 8 GS channels); 128 / GS strip threads as TH rows of
// TW / 4 strips.
template <int GS, int TW>
__global__ void __launch_bounds__(128) tiled(const __half* __restrict__ x, const __half* __restrict__ w,
                                             const __half* __restrict__ bias, __half* __restrict__ y, int n, int h,
                                             int wd, int c) {
  constexpr int V = 8, slice = GS * V, strips_x = TW / 4, TH = 128 / GS / strips_x;
  constexpr int IH = TH + 6, IW = TW + 6;
  __shared__ __align__(16) __half sw[49 * slice];
  __shared__ __align__(16) __half tile[IH * IW * slice];
  const int tiles_x = (wd + TW - 1) / TW, tiles_y = (h + TH - 1) / TH;
  const int t = blockIdx.x, tx = t % tiles_x, ty = (t / tiles_x) % tiles_y, b = t / (tiles_x * tiles_y);
  const int c_first = blockIdx.y * slice, oy0 = ty * TH, ox0 = tx * TW;
  // weights: the slice's 49 * slice elements are contiguous in w ([C, 7, 7]); [tap][slice] in shared
  for (int p = threadIdx.x; p < slice * 49 / 8; p += 128) {
    const Pack<__half, 8> pk = reinterpret_cast<const Pack<__half, 8>*>(w + int64_t(c_first) * 49)[p];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int at = p * 8 + e;
      sw[(at % 49) * slice + at / 49] = pk.v[e];
    }
  }
  // the input window, zeros outside the image
  for (int p = threadIdx.x; p < IH * IW * GS; p += 128) {
    const int g = p % GS, pos = p / GS, col = pos % IW, row = pos / IW;
    const int iy = oy0 - 3 + row, ix = ox0 - 3 + col;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (iy >= 0 && iy < h && ix >= 0 && ix < wd)
      v = *reinterpret_cast<const uint4*>(x + ((int64_t(b) * h + iy) * wd + ix) * c + c_first + g * V);
    *reinterpret_cast<uint4*>(tile + pos * slice + g * V) = v;
  }
  __syncthreads();
  const int g = threadIdx.x % GS, s = threadIdx.x / GS, r = s / strips_x, sx = s % strips_x;
  const int oy = oy0 + r, oxs = ox0 + 4 * sx;
  if (oy >= h || oxs >= wd) return;
  float acc[4][V];
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const float b0 = __half2float(bias[c_first + g * V + v]);
#pragma unroll
    for (int o = 0; o < 4; ++o) acc[o][v] = b0;
  }
#pragma unroll
  for (int ky = 0; ky < 7; ++ky) {
    float wf[7][V];
#pragma unroll
    for (int kx = 0; kx < 7; ++kx) {
      const Pack<__half, V> pk = *reinterpret_cast<const Pack<__half, V>*>(sw + (ky * 7 + kx) * slice + g * V);
#pragma unroll
      for (int v = 0; v < V; ++v) wf[kx][v] = __half2float(pk.v[v]);
    }
    const __half* rowp = tile + ((r + ky) * IW + 4 * sx) * slice + g * V;
#pragma unroll
    for (int j = 0; j < 10; ++j) {
      const Pack<__half, V> pk = *reinterpret_cast<const Pack<__half, V>*>(rowp + j * slice);
      float xf[V];
#pragma unroll
      for (int v = 0; v < V; ++v) xf[v] = __half2float(pk.v[v]);
#pragma unroll
      for (int kx = 0; kx < 7; ++kx) {
        const int o = j - kx;
        if (o < 0 || o >= 4) continue;
#pragma unroll
        for (int v = 0; v < V; ++v) acc[o][v] += xf[v] * wf[kx][v];
      }
    }
  }
#pragma unroll
  for (int o = 0; o < 4; ++o) {
    if (oxs + o >= wd) break;
    Pack<__half, V> out;
#pragma unroll
    for (int v = 0; v < V; ++v) out.v[v] = __float2half_rn(acc[o][v]);
    *reinterpret_cast<Pack<__half, V>*>(y + ((int64_t(b) * h + oy) * wd + oxs + o) * c + c_first + g * V) = out;
  }
}

template <class F>
float time_us(F launch) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) launch();
  float best = 1e9f;
  for (int r = 0; r < 5; ++r) {
    cudaEventRecord(a);
    for (int i = 0; i < 20; ++i) launch();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms;
    cudaEventElapsedTime(&ms, a, b);
    best = std::min(best, ms * 1000.f / 20);
  }
  return best;
}

template <int GS, int TW>
void launch_tiled(const __half* x, const __half* w, const __half* b, __half* y, int n, int h, int wd, int c) {
  constexpr int TH = 128 / GS / (TW / 4);
  const dim3 grid(n * ((h + TH - 1) / TH) * ((wd + TW - 1) / TW), c / (8 * GS));
  tiled<GS, TW><<<grid, 128>>>(x, w, b, y, n, h, wd, c);
}

int main() {
  const int shapes[4][2] = {{96, 56}, {192, 28}, {384, 14}, {768, 7}};
  for (int n : {8, 32}) {
    for (auto& sh : shapes) {
      const int c = sh[0], hw = sh[1];
      const size_t count = size_t(n) * hw * hw * c;
      std::vector<__half> hx(count), hw7(size_t(c) * 49), hb(c);
      std::mt19937 gen(1);
      std::normal_distribution<float> nd;
      for (auto& v : hx) v = __float2half(nd(gen));
      for (auto& v : hw7) v = __float2half(0.1f * nd(gen));
      for (auto& v : hb) v = __float2half(nd(gen));
      __half *x, *w, *b, *ref, *y;
      cudaMalloc(&x, count * 2);
      cudaMalloc(&ref, count * 2);
      cudaMalloc(&y, count * 2);
      cudaMalloc(&w, hw7.size() * 2);
      cudaMalloc(&b, c * 2);
      cudaMemcpy(x, hx.data(), count * 2, cudaMemcpyHostToDevice);
      cudaMemcpy(w, hw7.data(), hw7.size() * 2, cudaMemcpyHostToDevice);
      cudaMemcpy(b, hb.data(), c * 2, cudaMemcpyHostToDevice);
      reference<<<1024, 256>>>(x, w, b, ref, n, hw, hw, c);
      std::vector<uint16_t> r(count), got(count);
      cudaMemcpy(r.data(), ref, count * 2, cudaMemcpyDeviceToHost);
      auto compare = [&] {
        cudaMemcpy(got.data(), y, count * 2, cudaMemcpyDeviceToHost);
        float worst = 0;
        for (size_t i = 0; i < count; ++i) {
          __half_raw a{r[i]}, q{got[i]};
          worst = std::max(worst, std::fabs(__half2float(__half(a)) - __half2float(__half(q))));
        }
        return worst;
      };
      DepthwiseGeometry g{n, hw, hw, c, hw, hw, 7, 7, 1, 1, 3, 3, 1, 1};
      printf("b%d %dx%dx%d (%.1f MB, %.2f GFLOP):", n, c, hw, hw, 2.0 * count * 2 / 1e6, 2.0 * count * 49 / 1e9);
      for (int pack : {16, 4}) {
        cudaMemset(y, 0xff, count * 2);
        auto strip = [&] { conv_depthwise_nhwc(DataType::kFloat16, x, w, b, nullptr, y, g, ConvActivation::kNone, pack); };
        const float us = time_us(strip);
        printf("  strip(%dB) %.1f us (diff %.3g)", pack, us, compare());
      }
      cudaMemset(y, 0xff, count * 2);
      float us = time_us([&] { launch_tiled<4, 16>(x, w, b, y, n, hw, hw, c); });
      printf("  tiled 4x16 %.1f us (diff %.3g)", us, compare());
      if (hw <= 14) {
        cudaMemset(y, 0xff, count * 2);
        us = time_us([&] { launch_tiled<4, 8>(x, w, b, y, n, hw, hw, c); });
        printf("  tiled 4x8 %.1f us (diff %.3g)", us, compare());
      }
      if ((c / 8) % 8 == 0) {
        cudaMemset(y, 0xff, count * 2);
        us = time_us([&] { launch_tiled<8, 8>(x, w, b, y, n, hw, hw, c); });
        printf("  tiled 8x8 %.1f us (diff %.3g)", us, compare());
      }
      printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));
      cudaFree(x), cudaFree(ref), cudaFree(y), cudaFree(w), cudaFree(b);
    }
  }
  return 0;
}

// What the engine's other files define, for this probe alone.
namespace tensorforge {
const char* to_string(DataType) { return "?"; }
namespace device {
void* current_stream() { return nullptr; }
}  // namespace device
}  // namespace tensorforge
