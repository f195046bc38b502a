// Probe: ResNet-50's stem (7x7 stride 2, 3 -> 64 channels, 224 x 224) at batch 256 by CUTLASS 3's
// SM90 implicit-GEMM convolutions (TMA im2col loads, warpgroup MMA), float16 NHWC, bias and relu in
// the epilogue. cuDNN takes 1.2-1.5 ms for it on an H100 (the float16 engine's stem and PyTorch's
// space-to-depth form alike, benchmarks/RESULTS.md), against about 0.14 ms for its 411 MB of float16
// output at the copy rate: the largest piece of issue 13's INT8 ResNet-50 call after the convolutions.
// Three forms:
//  - space-to-depth (the engine's conv_space_to_depth form): 2 x 2 pixel blocks as 12 channels (padded
//    to 16), a 4 x 4 stride-1 window over 115 x 115; float16 out, and int8 out (the scale folded into
//    alpha and the bias: what a quantized ResNet's next layer reads);
//  - direct, the 3 channels padded to 8 (16 bytes), 7 x 7 stride 2 padding 3.
// Every 97th output checked against a reference kernel (float16: within 2e-3 relative + 1e-3; int8:
// exact or off by one, counted). CUDA events, best of 5 x 20. Not built by CMake; CUTLASS's headers
// from NVIDIA's `nvidia-cutlass` wheel unpacked into /tmp/cl (PROBES=stem_conv_cutlass_sm90
// scripts/device_gpu.sh does it):
//   nvcc -std=c++17 -arch=sm_90a -O3 -DNDEBUG --expt-relaxed-constexpr -I/tmp/cl/cutlass_library/source/include \
//     -I/tmp/cl/cutlass_library/source/tools/util/include benchmarks/probes/stem_conv_cutlass_sm90.cu \
//     -o /tmp/stem_sm90 && /tmp/stem_sm90
#include <cuda_fp16.h>

#include "probe_timing.cuh"

#include <cstdio>
#include <random>
#include <vector>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/kernel_hardware_info.hpp"
#include "cutlass/conv/collective/collective_builder.hpp"
#include "cutlass/conv/convnd_problem_shape.hpp"
#include "cutlass/conv/device/conv_universal_adapter.hpp"
#include "cutlass/conv/dispatch_policy.hpp"
#include "cutlass/conv/kernel/conv_universal.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/thread/activation.h"
#include "cutlass_conv.cuh"

using namespace cute;
using f16 = cutlass::half_t;
using NHWC = cutlass::layout::TensorNHWC;

// y = relu(alpha * conv(x, w) + bias[k]) in TD (float16, or int8 rounded to nearest and saturated).
template <class TD, class Tile, class Cluster>
struct StemConv {
  static constexpr int kAlignD = 16 / sizeof(TD);
  using Fusion =
      cutlass::epilogue::fusion::LinCombPerColBiasEltAct<cutlass::epilogue::thread::ReLu, TD, float, float, TD, float>;
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, cutlass::epilogue::collective::EpilogueTileAuto,
      float, float, TD, NHWC, kAlignD, TD, NHWC, kAlignD, cutlass::epilogue::TmaWarpSpecialized, Fusion>::CollectiveOp;
  using Main = typename cutlass::conv::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, cutlass::conv::Operator::kFprop, f16, NHWC, 8, f16, NHWC, 8,
      float, Tile, Cluster,
      cutlass::conv::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epi::SharedStorage))>,
      cutlass::conv::KernelImplicitTmaWarpSpecializedSm90>::CollectiveOp;
  using Problem = cutlass::conv::ConvProblemShape<cutlass::conv::Operator::kFprop, Main::DispatchPolicy::NumSpatialDimensions>;
  using Op = cutlass::conv::device::ConvUniversalAdapter<cutlass::conv::kernel::ConvUniversal<Problem, Main, Epi>>;
};

struct Shape2d {
  int n, h, w, c, k, r, pad, stride;
  __host__ __device__ int p() const { return (h + 2 * pad - r) / stride + 1; }
  __host__ __device__ int q() const { return (w + 2 * pad - r) / stride + 1; }
};

// bad[0]: outputs beyond the tolerance (float16) or off by more than one (int8); bad[1]: int8 off by one.
template <class TD>
__global__ void stem_reference(const __half* x, const __half* wt, const float* bias, const TD* y, Shape2d s,
                               float alpha, int64_t total, int* bad) {
  const int p_ = s.p(), q_ = s.q();
  for (int64_t o = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * 97; o < total;
       o += int64_t(gridDim.x) * blockDim.x * 97) {
    const int k = o % s.k;
    const int64_t t = o / s.k;
    const int q = t % q_, p = (t / q_) % p_, b = t / (int64_t(q_) * p_);
    float acc = 0;
    for (int r = 0; r < s.r; ++r)
      for (int u = 0; u < s.r; ++u) {
        const int ih = p * s.stride - s.pad + r, iw = q * s.stride - s.pad + u;
        if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
        for (int c = 0; c < s.c; ++c)
          acc += __half2float(x[((int64_t(b) * s.h + ih) * s.w + iw) * s.c + c]) *
                 __half2float(wt[((int64_t(k) * s.r + r) * s.r + u) * s.c + c]);
      }
    const float v = fmaxf(alpha * acc + bias[k], 0.0f);
    if constexpr (sizeof(TD) == 1) {
      const int want = int(fminf(fmaxf(rintf(v), -128.f), 127.f)), got = y[o];
      if (got != want) atomicAdd(bad + (abs(got - want) == 1 ? 1 : 0), 1);
    } else {
      const float got = __half2float(reinterpret_cast<const __half*>(y)[o]);
      if (fabsf(got - v) > 2e-3f * fabsf(v) + 1e-3f) atomicAdd(bad, 1);
    }
  }
}

struct Buffers {
  __half *x, *w;
  float* bias;
  void* y;
  int* bad;
};

template <class C, class TD>
void run(const char* name, const Shape2d& s, const Buffers& b, float alpha) {
  using Op = typename C::Op;
  const auto problem = square_problem<typename C::Problem>(s);
  const auto stride_c = output_stride<typename Op::ConvKernel::StrideC>(problem);
  const auto stride_d = output_stride<typename Op::ConvKernel::StrideD>(problem);
  auto* y = static_cast<TD*>(b.y);
  typename Op::Arguments args{problem,
                              {reinterpret_cast<const f16*>(b.x), reinterpret_cast<const f16*>(b.w)},
                              {{}, y, stride_c, y, stride_d}};
  args.epilogue.thread.alpha = alpha;
  args.epilogue.thread.beta = 0.0f;
  args.epilogue.thread.bias_ptr = b.bias;
  Op op;
  void* ws = nullptr;
  if (!ready(op, args, &ws, name)) return;
  const int64_t total = int64_t(s.n) * s.p() * s.q() * s.k;
  cudaMemset(y, 0x55, total * sizeof(TD));
  const float us = time_us([&] { op.run(); });
  cudaMemset(b.bad, 0, 2 * sizeof(int));
  stem_reference<TD><<<264, 256>>>(b.x, b.w, b.bias, y, s, alpha, total, b.bad);
  int nbad[2] = {-1, -1};
  cudaMemcpy(nbad, b.bad, 2 * sizeof(int), cudaMemcpyDeviceToHost);
  printf("  %s %.1f us (%.0f TFLOPS as issued, %s, %d off by one)", name, us,
         2.0 * total * s.r * s.r * s.c / us / 1e6, nbad[0] == 0 ? "right" : "WRONG", nbad[1]);
  if (ws) cudaFree(ws);
}

// Random float16 inputs in [-1, 1] with channels >= real set to zero (the padding channels).
void fill(__half* dst, size_t n, int channels, int real, std::mt19937& g, float scale) {
  std::vector<__half> h(n);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) h[i] = __float2half(int(i % channels) < real ? scale * u(g) : 0.0f);
  cudaMemcpy(dst, h.data(), n * 2, cudaMemcpyHostToDevice);
}

template <class Tile, class Cluster>
using F16 = StemConv<f16, Tile, Cluster>;
template <class Tile, class Cluster>
using I8 = StemConv<int8_t, Tile, Cluster>;
using C1 = Shape<_1, _1, _1>;
using C2 = Shape<_2, _1, _1>;

int main() {
  const Shape2d s2d{256, 115, 115, 16, 64, 4, 0, 1}, direct{256, 224, 224, 8, 64, 7, 3, 2};
  const size_t most_x = size_t(256) * 224 * 224 * 8, most_y = size_t(256) * 112 * 112 * 64;
  Buffers b;
  cudaMalloc(&b.x, most_x * 2);
  cudaMalloc(&b.w, 64 * 7 * 7 * 16 * 2);
  cudaMalloc(&b.bias, 64 * 4);
  cudaMalloc(&b.y, most_y * 2);
  cudaMalloc(&b.bad, 2 * sizeof(int));
  std::mt19937 g(3);
  {
    std::vector<float> bias(64);
    for (auto& v : bias) v = ((g() % 2001) - 1000) / 5000.0f;
    cudaMemcpy(b.bias, bias.data(), 64 * 4, cudaMemcpyHostToDevice);
  }
  const float copy = time_us([&] { copy16<<<132 * 16, 256>>>((const uint4*)b.y, (uint4*)b.x, most_x * 2 / 16); });
  const double rate = 2.0 * most_x * 2 / copy / 1e3;
  printf("copy %.0f GB/s; float16 output %.1f MB: %.1f us at the copy rate (int8: half)\n", rate, most_y * 2 / 1e6,
         most_y * 2 / rate / 1e3);

  fill(b.x, size_t(256) * 115 * 115 * 16, 16, 12, g, 1.0f);
  fill(b.w, 64 * 4 * 4 * 16, 16, 12, g, 0.08f);
  printf("space-to-depth 4x4 16->64 over 115x115:");
  run<F16<Shape<_128, _64, Shape<_64>>, C1>, f16>("f16 128x64x64", s2d, b, 1.0f);
  run<F16<Shape<_64, _64, Shape<_64>>, C1>, f16>("f16 64x64x64", s2d, b, 1.0f);
  run<F16<Shape<_128, _64, Shape<_32>>, C1>, f16>("f16 128x64x32", s2d, b, 1.0f);
  run<F16<Shape<_128, _64, Shape<_16>>, C1>, f16>("f16 128x64x16", s2d, b, 1.0f);
  run<F16<Shape<_128, _64, Shape<_64>>, C2>, f16>("f16 128x64x64 cluster 2", s2d, b, 1.0f);
  run<I8<Shape<_128, _64, Shape<_64>>, C1>, int8_t>("int8 out 128x64x64", s2d, b, 40.0f);
  printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));

  fill(b.x, most_x, 8, 3, g, 1.0f);
  fill(b.w, 64 * 7 * 7 * 8, 8, 3, g, 0.08f);
  printf("direct 7x7/2 8->64 over 224x224:");
  run<F16<Shape<_128, _64, Shape<_64>>, C1>, f16>("f16 128x64x64", direct, b, 1.0f);
  run<F16<Shape<_128, _64, Shape<_32>>, C1>, f16>("f16 128x64x32", direct, b, 1.0f);
  run<F16<Shape<_128, _64, Shape<_16>>, C1>, f16>("f16 128x64x16", direct, b, 1.0f);
  printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));
  return 0;
}
