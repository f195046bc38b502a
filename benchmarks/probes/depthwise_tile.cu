// Probe: ConvNeXt-T's 7x7 depthwise layers (stride 1, padding 3, bias, float16 channels last) by the
// engine's tiled kernel (conv_depthwise_nhwc, the tile it picks) and by each tile shape it has (8 x 16
// outputs of 32 channels, 16 x 16 of 16, 8 x 8 of 64; 8 x 16 also with the compiler asked for 6
// resident blocks a multiprocessor instead of the 5 its 91 registers allow: 80 registers, 52 bytes
// spilled; 8 blocks would spill 1.4 KB), compared with a plain reference kernel
// (float32 sums, the same tap order); CUDA events, the best of 5 x 20 calls. Run AJ
// (benchmarks/RESULTS.md) ran its first form, which held the tiled kernel before the engine did.
// Not built by CMake: on a GPU machine, from the repository root,
//   nvcc -std=c++17 -arch=sm_90 -O3 --expt-relaxed-constexpr --extended-lambda -Isrc -Iinclude \
//     benchmarks/probes/depthwise_tile.cu -o /tmp/depthwise_tile && /tmp/depthwise_tile
#include "kernels/cuda/conv_depthwise.cu"

#include "engine_stubs.cuh"
#include "probe_timing.cuh"

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
      auto run = [&](const char* name, auto launch) {
        cudaMemset(y, 0xff, count * 2);
        const float us = time_us(launch);
        printf("  %s %.1f us (diff %.3g)", name, us, compare());
      };
      const auto act = ConvActivation::kNone;
      run("engine", [&] { conv_depthwise_nhwc(DataType::kFloat16, x, w, b, nullptr, y, g, act); });
      run("8x16", [&] { launch_tile<__half, 4, 16>(x, w, b, nullptr, y, g, act); });
      run("16x16", [&] { launch_tile<__half, 2, 16>(x, w, b, nullptr, y, g, act); });
      if ((c / 8) % 8 == 0) run("8x8", [&] { launch_tile<__half, 8, 8>(x, w, b, nullptr, y, g, act); });
      run("8x16 min 6 blocks", [&] { launch_tile<__half, 4, 16, 6>(x, w, b, nullptr, y, g, act); });
      printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));
      cudaFree(x), cudaFree(ref), cudaFree(y), cudaFree(w), cudaFree(b);
    }
  }
  return 0;
}
