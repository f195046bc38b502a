// Probe: ResNet-50's int8 convolutions at batch 256 by CUTLASS 3's SM90 implicit-GEMM convolutions
// (TMA im2col loads, warpgroup MMA, warp-specialized; CUTLASS 4.2 has no persistent conv schedules on
// SM90), int8 NHWC in and out, int32 sums, a float scale, rounding and saturation; six tile and
// cluster shapes, then two with the engine's epilogue (per-channel scale and bias, an int8 residual
// scaled per channel, relu); every 97th output checked against a reference kernel; CUDA events,
// best of 5 x 20. The SM80 kernels' probe (int8_conv_cutlass.cu, run AJ) won only the first stage. Not built
// by CMake; CUTLASS's headers from NVIDIA's `nvidia-cutlass` wheel, unpacked into /tmp/cl as there:
//   nvcc -std=c++17 -arch=sm_90a -O3 -DNDEBUG --expt-relaxed-constexpr -I/tmp/cl/cutlass_library/source/include \
//     -I/tmp/cl/cutlass_library/source/tools/util/include benchmarks/probes/int8_conv_cutlass_sm90.cu \
//     -o /tmp/int8_conv_sm90 && /tmp/int8_conv_sm90   (about 3 minutes to compile on two cores; without -DNDEBUG the
//     device asserts are calls that serialize the warpgroup MMAs: ptxas warning C7510)
#include "int8_conv_reference.cuh"
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
using NHWC = cutlass::layout::TensorNHWC;
constexpr cutlass::conv::Operator kFprop = cutlass::conv::Operator::kFprop;

template <class Tile, class Cluster, class Schedule, class EpiSchedule>
struct Sm90Conv {
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, cutlass::epilogue::collective::EpilogueTileAuto,
      int32_t, float, int8_t, NHWC, 16, int8_t, NHWC, 16, EpiSchedule>::CollectiveOp;
  using Main = typename cutlass::conv::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, kFprop, int8_t, NHWC, 16, int8_t, NHWC, 16, int32_t,
      Tile, Cluster,
      cutlass::conv::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epi::SharedStorage))>,
      Schedule>::CollectiveOp;
  using Problem = cutlass::conv::ConvProblemShape<kFprop, Main::DispatchPolicy::NumSpatialDimensions>;
  using Kernel = cutlass::conv::kernel::ConvUniversal<Problem, Main, Epi>;
  using Op = cutlass::conv::device::ConvUniversalAdapter<Kernel>;
  static constexpr bool kFused = false;
};

// The engine's int8 epilogue: y = relu(scale[k] * acc + bias[k] + rscale[k] * residual), int8 residual.
template <class Tile, class Cluster>
struct Sm90ConvFused {
  using Fusion = cutlass::epilogue::fusion::PerColLinCombPerColBiasEltAct<cutlass::epilogue::thread::ReLu, int8_t,
                                                                          float, float, int8_t, float>;
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, cutlass::epilogue::collective::EpilogueTileAuto,
      int32_t, float, int8_t, NHWC, 16, int8_t, NHWC, 16, cutlass::epilogue::TmaWarpSpecialized, Fusion>::CollectiveOp;
  using Main = typename cutlass::conv::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, kFprop, int8_t, NHWC, 16, int8_t, NHWC, 16, int32_t, Tile,
      Cluster, cutlass::conv::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epi::SharedStorage))>,
      cutlass::conv::KernelImplicitTmaWarpSpecializedSm90>::CollectiveOp;
  using Problem = cutlass::conv::ConvProblemShape<kFprop, Main::DispatchPolicy::NumSpatialDimensions>;
  using Kernel = cutlass::conv::kernel::ConvUniversal<Problem, Main, Epi>;
  using Op = cutlass::conv::device::ConvUniversalAdapter<Kernel>;
  static constexpr bool kFused = true;
};

struct Epilogue {
  const float *scale, *bias, *rscale;
  const int8_t* res;
};

template <class C>
void run(const char* name, const ConvShape& s, int8_t* x, int8_t* w, int8_t* y, float alpha, int p, int q, int* bad,
         Epilogue e = {}) {
  using Op = typename C::Op;
  const auto problem = square_problem<typename C::Problem>(s);
  const auto stride_c = output_stride<typename Op::ConvKernel::StrideC>(problem);
  const auto stride_d = output_stride<typename Op::ConvKernel::StrideD>(problem);
  typename Op::Arguments args{problem, {x, w}, {{}, C::kFused ? e.res : y, stride_c, y, stride_d}};
  if constexpr (C::kFused) {
    args.epilogue.thread.alpha_ptr = e.scale;
    args.epilogue.thread.beta_ptr = e.rscale;
    args.epilogue.thread.bias_ptr = e.bias;
  } else {
    args.epilogue.thread.alpha = alpha;
    args.epilogue.thread.beta = 0.0f;
  }
  Op op;
  void* ws = nullptr;
  if (!ready(op, args, &ws, name)) return;
  const int64_t total = int64_t(s.n) * p * q * s.k;
  cudaMemset(y, 0x55, total);
  const float us = time_us([&] { op.run(); });
  cudaMemset(bad, 0, 2 * sizeof(int));
  if constexpr (C::kFused)
    int8_conv_reference<<<264, 256>>>(x, w, y, s, p, q, alpha, total, bad, e.scale, e.bias, e.rscale, e.res);
  else
    int8_conv_reference<<<264, 256>>>(x, w, y, s, p, q, alpha, total, bad);
  int nbad[2] = {-1, -1};
  cudaMemcpy(nbad, bad, 2 * sizeof(int), cudaMemcpyDeviceToHost);
  printf("  %s %.1f us (%.0f TOPS, %s, %d off by one)", name, us, 2.0 * total * s.r * s.r * s.c / us / 1e6,
         nbad[0] == 0 ? "exact" : "WRONG", nbad[1]);
  if (ws) cudaFree(ws);
}

using WS = cutlass::conv::KernelImplicitTmaWarpSpecializedSm90;
using EpiWS = cutlass::epilogue::TmaWarpSpecialized;
using C1 = Shape<_1, _1, _1>;
using C2 = Shape<_2, _1, _1>;

int main() {
  const Int8ConvData data;
  int8_t *x = data.x, *w = data.w, *y = data.y;
  int* bad = data.bad;
  const size_t most = Int8ConvData::kMost;
  int8_t* res;
  float *scale, *bias, *rscale;
  cudaMalloc(&res, most);
  cudaMalloc(&scale, 2048 * 4);
  cudaMalloc(&bias, 2048 * 4);
  cudaMalloc(&rscale, 2048 * 4);
  {
    std::vector<int8_t> h(Int8ConvData::kMost);
    std::mt19937 g(2);
    for (auto& v : h) v = int8_t(int(g() % 255) - 127);
    cudaMemcpy(res, h.data(), Int8ConvData::kMost, cudaMemcpyHostToDevice);
    std::vector<float> f(2048);
    for (auto& v : f) v = 1.0f / (9 * 64 * 40) * (0.5f + (g() % 1000) / 1000.0f);
    cudaMemcpy(scale, f.data(), f.size() * 4, cudaMemcpyHostToDevice);
    for (auto& v : f) v = ((g() % 2001) - 1000) / 100.0f;
    cudaMemcpy(bias, f.data(), f.size() * 4, cudaMemcpyHostToDevice);
    for (auto& v : f) v = (g() % 1000) / 10000.0f;
    cudaMemcpy(rscale, f.data(), f.size() * 4, cudaMemcpyHostToDevice);
  }
  const float copy = time_us([&] { copy16<<<132 * 16, 256>>>((const uint4*)x, (uint4*)y, most / 16); });
  const double rate = 2.0 * most / copy / 1e3;
  printf("copy %.0f GB/s\n", rate);
  for (const ConvShape& s : kResNet50Layers) {
    const auto [p, q, alpha] = start_row(s, rate);
    run<Sm90Conv<Shape<_64, _64, Shape<_64>>, C1, WS, EpiWS>>("64x64x64", s, x, w, y, alpha, p, q, bad);
    run<Sm90Conv<Shape<_128, _64, Shape<_64>>, C1, WS, EpiWS>>("128x64x64", s, x, w, y, alpha, p, q, bad);
    run<Sm90Conv<Shape<_128, _128, Shape<_64>>, C1, WS, EpiWS>>("128x128x64", s, x, w, y, alpha, p, q, bad);
    run<Sm90Conv<Shape<_128, _256, Shape<_64>>, C1, WS, EpiWS>>("128x256x64", s, x, w, y, alpha, p, q, bad);
    run<Sm90Conv<Shape<_128, _128, Shape<_128>>, C1, WS, EpiWS>>("128x128x128", s, x, w, y, alpha, p, q, bad);
    run<Sm90Conv<Shape<_128, _128, Shape<_64>>, C2, WS, EpiWS>>("128x128x64 cluster 2", s, x, w, y, alpha, p, q, bad);
    const Epilogue e{scale, bias, rscale, res};
    run<Sm90ConvFused<Shape<_128, _64, Shape<_64>>, C1>>("fused 128x64x64", s, x, w, y, alpha, p, q, bad, e);
    run<Sm90ConvFused<Shape<_128, _128, Shape<_64>>, C1>>("fused 128x128x64", s, x, w, y, alpha, p, q, bad, e);
    printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));
  }
  return 0;
}
