// Probe: ResNet-50's int8 convolutions at batch 256 (NHWC int8 in, KRSC int8 weights, int32 sums, a
// float scale, int8 out with rounding and saturation) by CUTLASS's SM80 implicit-GEMM kernels (mma.sync
// IMMA, run on Hopper), four tile shapes, checked against a plain reference kernel on every 97th
// output, with the layer's bytes at a 16-byte copy's rate as its floor. CUDA events, best of 5 x 20.
// Run AJ (benchmarks/RESULTS.md) compares it with cuDNN's int8 graphs of run AE. Not built by CMake;
// CUTLASS's headers come from NVIDIA's `nvidia-cutlass` wheel (cutlass_library/source/include):
//   pip download --no-deps --only-binary=:all: nvidia-cutlass==4.2.0.0 && unzip -q nvidia_cutlass-*.whl -d /tmp/cl
//   nvcc -std=c++17 -arch=sm_90 -O3 --expt-relaxed-constexpr -I/tmp/cl/cutlass_library/source/include \
//     benchmarks/probes/int8_conv_cutlass.cu -o /tmp/int8_conv && /tmp/int8_conv
#include "int8_conv_reference.cuh"
#include "probe_timing.cuh"

#include <cstdio>
#include <random>
#include <vector>

#include "cutlass/cutlass.h"
#include "cutlass/conv/conv2d_problem_size.h"
#include "cutlass/conv/device/implicit_gemm_convolution.h"
#include "cutlass/conv/kernel/default_conv2d_fprop.h"
#include "cutlass/epilogue/thread/linear_combination_clamp.h"

using Layout = cutlass::layout::TensorNHWC;

template <int TM, int TN, int TK, int WM, int WN, int WK, int Stages, int EC = 16>
struct Config {
  using Epilogue = cutlass::epilogue::thread::LinearCombinationClamp<int8_t, EC, int32_t, float>;
  using Kernel = typename cutlass::conv::kernel::DefaultConv2dFprop<
      int8_t, Layout, int8_t, Layout, int8_t, Layout, int32_t, cutlass::arch::OpClassTensorOp, cutlass::arch::Sm80,
      cutlass::gemm::GemmShape<TM, TN, TK>, cutlass::gemm::GemmShape<WM, WN, WK>, cutlass::gemm::GemmShape<16, 8, 32>,
      Epilogue, cutlass::gemm::threadblock::GemmIdentityThreadblockSwizzle<>, Stages,
      cutlass::arch::OpMultiplyAddSaturate, cutlass::conv::IteratorAlgorithm::kOptimized>::Kernel;
  using Op = cutlass::conv::device::ImplicitGemmConvolution<Kernel>;
};

template <class C>
void run(const char* name, const ConvShape& s, int8_t* x, int8_t* w, int8_t* y, float alpha, int p, int q, int* bad) {
  using Op = typename C::Op;
  cutlass::conv::Conv2dProblemSize problem({s.n, s.h, s.w, s.c}, {s.k, s.r, s.r, s.c}, {s.pad, s.pad, s.pad, s.pad},
                                           {s.stride, s.stride}, {1, 1}, {s.n, p, q, s.k},
                                           cutlass::conv::Mode::kCrossCorrelation, 1);
  typename Op::Arguments args{problem,
                              {x, Layout::packed({s.n, s.h, s.w, s.c})},
                              {w, Layout::packed({s.k, s.r, s.r, s.c})},
                              {y, Layout::packed({s.n, p, q, s.k})},
                              {y, Layout::packed({s.n, p, q, s.k})},
                              {alpha, 0.0f}};
  Op op;
  void* ws = nullptr;
  if (!ready(op, args, &ws, name)) return;
  cudaMemset(y, 0x55, int64_t(s.n) * p * q * s.k);
  const float us = time_us([&] { op(); });
  cudaMemset(bad, 0, 2 * sizeof(int));
  const int64_t total = int64_t(s.n) * p * q * s.k;
  int8_conv_reference<<<264, 256>>>(x, w, y, s, p, q, alpha, total, bad);
  int counts[2] = {-1, -1};
  cudaMemcpy(counts, bad, sizeof counts, cudaMemcpyDeviceToHost);
  const int nbad = counts[0] + counts[1];
  const double tops = 2.0 * total * s.r * s.r * s.c / us / 1e6;
  printf("  %s %.1f us (%.0f TOPS, %s)", name, us, tops, nbad == 0 ? "exact" : "WRONG");
  if (ws) cudaFree(ws);
}

int main() {
  const Int8ConvData data;
  int8_t *x = data.x, *w = data.w, *y = data.y;
  int* bad = data.bad;
  const size_t most = Int8ConvData::kMost;
  const float copy = time_us([&] { copy16<<<132 * 16, 256>>>((const uint4*)x, (uint4*)y, most / 16); });
  const double rate = 2.0 * most / copy / 1e3;  // GB/s read + write
  printf("copy %.0f GB/s\n", rate);
  for (const ConvShape& s : kResNet50Layers) {
    const auto [p, q, alpha] = start_row(s, rate);
    run<Config<128, 64, 64, 64, 32, 64, 4, 8>>("128x64", s, x, w, y, alpha, p, q, bad);
    run<Config<128, 128, 64, 64, 64, 64, 3>>("128x128", s, x, w, y, alpha, p, q, bad);
    run<Config<256, 64, 64, 64, 64, 64, 3, 8>>("256x64", s, x, w, y, alpha, p, q, bad);
    run<Config<256, 128, 64, 64, 64, 64, 3>>("256x128", s, x, w, y, alpha, p, q, bad);
    printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));
  }
  return 0;
}
