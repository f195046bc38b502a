// Probe: a linear layer with bias and exact (erf) GELU, float16, as the transformers' and ConvNeXt's
// first MLP products: cuBLASLt (bias epilogue, its heuristic's first algorithm) followed by a separate
// GELU pass (what the engine runs: cuBLASLt has no erf epilogue) against CUTLASS 3's SM90 GEMMs
// (TMA, warpgroup MMA, warp-specialized cooperative or ping-pong) with bias and GELU in their
// epilogue, one pass; CUTLASS with bias alone shows whether its product matches cuBLASLt's (its
// "diff" is GELU's own). Outputs compared with the cuBLASLt + GELU result (largest difference);
// CUDA events, best of 5 x 20.
// Not built by CMake; CUTLASS's headers from NVIDIA's `nvidia-cutlass` wheel, unpacked into /tmp/cl:
//   NV=<site-packages>/nvidia/cu13   (the pip cuBLAS: cublasLt.h and libcublasLt.so.13)
//   nvcc -std=c++17 -arch=sm_90a -O3 -DNDEBUG --expt-relaxed-constexpr -I/tmp/cl/cutlass_library/source/include \
//     -I/tmp/cl/cutlass_library/source/tools/util/include -I$NV/include benchmarks/probes/gelu_gemm_cutlass_sm90.cu \
//     -L$NV/lib -l:libcublasLt.so.13 -o /tmp/gelu_gemm && LD_LIBRARY_PATH=$NV/lib /tmp/gelu_gemm
// (about 3 minutes to compile on two cores; without -DNDEBUG the
//     device asserts are calls that serialize the warpgroup MMAs: ptxas warning C7510).
#include <cublasLt.h>
#include <cuda_fp16.h>

#include "probe_timing.cuh"

#include <cstdio>
#include <random>
#include <vector>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/thread/activation.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"

using namespace cute;
using f16 = cutlass::half_t;
using RowMajor = cutlass::layout::RowMajor;
using ColMajor = cutlass::layout::ColumnMajor;

// D [M, N] row-major = act(A [M, K] row-major x W [N, K] row-major (K x N column-major) + bias[N]).
template <template <class> class Act, class Tile, class Cluster, class Schedule, class EpiSchedule>
struct Linear {
  using Fusion = cutlass::epilogue::fusion::LinCombPerColBiasEltAct<Act, f16, float, f16, f16, float>;
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, cutlass::epilogue::collective::EpilogueTileAuto,
      float, float, f16, RowMajor, 8, f16, RowMajor, 8, EpiSchedule, Fusion>::CollectiveOp;
  using Main = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, f16, RowMajor, 8, f16, ColMajor, 8, float, Tile, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epi::SharedStorage))>,
      Schedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Main, Epi>;
  using Op = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

// The engine's kind of GELU pass: eight halves a thread, float math, erf form.
__global__ void gelu_pass(const uint4* x, uint4* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint4 v = x[i];
    __half* h = reinterpret_cast<__half*>(&v);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const float f = __half2float(h[e]);
      h[e] = __float2half_rn(0.5f * f * (1.0f + erff(f * 0.70710678118654752f)));
    }
    y[i] = v;
  }
}

__global__ void max_diff(const __half* a, const __half* b, int64_t n, float* out) {
  float m = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    m = fmaxf(m, fabsf(__half2float(a[i]) - __half2float(b[i])));
  atomicMax(reinterpret_cast<int*>(out), __float_as_int(m));  // non-negative floats order as ints
}

struct Problem {
  const char* name;
  int m, n, k;
};

struct Buffers {
  f16 *a, *w, *bias, *d, *ref;
  float* diff;
};

template <class L>
void run_cutlass(const char* name, const Problem& p, const Buffers& b, double flops) {
  using Op = typename L::Op;
  using SA = typename Op::GemmKernel::StrideA;
  using SB = typename Op::GemmKernel::StrideB;
  using SC = typename Op::GemmKernel::StrideC;
  using SD = typename Op::GemmKernel::StrideD;
  const SA sa = cutlass::make_cute_packed_stride(SA{}, make_shape(p.m, p.k, 1));
  const SB sb = cutlass::make_cute_packed_stride(SB{}, make_shape(p.n, p.k, 1));
  const SC sc = cutlass::make_cute_packed_stride(SC{}, make_shape(p.m, p.n, 1));
  const SD sd = cutlass::make_cute_packed_stride(SD{}, make_shape(p.m, p.n, 1));
  cutlass::KernelHardwareInfo hw;
  hw.device_id = 0;
  hw.sm_count = cutlass::KernelHardwareInfo::query_device_multiprocessor_count(0);
  typename Op::Arguments args{cutlass::gemm::GemmUniversalMode::kGemm,
                              {p.m, p.n, p.k, 1},
                              {b.a, sa, b.w, sb},
                              {{}, b.d, sc, b.d, sd},
                              hw};
  args.epilogue.thread.alpha = 1.0f;
  args.epilogue.thread.beta = 0.0f;
  args.epilogue.thread.bias_ptr = b.bias;
  Op op;
  void* ws = nullptr;
  if (!ready(op, args, &ws, name)) return;
  const float us = time_us([&] { op.run(); });
  cudaMemset(b.diff, 0, sizeof(float));
  max_diff<<<264, 256>>>(reinterpret_cast<const __half*>(b.d), reinterpret_cast<const __half*>(b.ref),
                         int64_t(p.m) * p.n, b.diff);
  float diff = -1;
  cudaMemcpy(&diff, b.diff, sizeof diff, cudaMemcpyDeviceToHost);
  printf("  %s %.1f us (%.0f TFLOPS, diff %.3g)", name, us, flops / us / 1e6, diff);
  if (ws) cudaFree(ws);
}

using Coop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
using Ping = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
using EpiCoop = cutlass::epilogue::TmaWarpSpecializedCooperative;
using EpiWS = cutlass::epilogue::TmaWarpSpecialized;
template <class T>
using Gelu = cutlass::epilogue::thread::GELU<T>;
template <class T>
using Ident = cutlass::epilogue::thread::Identity<T>;

int main() {
  const Problem problems[] = {
      {"ViT-B/16 b32 fc1", 6304, 3072, 768},   {"BERT/GPT-2 b32 fc1", 4096, 3072, 768},
      {"ConvNeXt-T b32 stage 1", 100352, 384, 96}, {"ConvNeXt-T b32 stage 2", 25088, 768, 192},
      {"ConvNeXt-T b32 stage 3", 6272, 1536, 384}, {"ConvNeXt-T b32 stage 4", 1568, 3072, 768},
      {"ConvNeXt-T b8 stage 3", 1568, 1536, 384},
  };
  const size_t most_a = size_t(100352) * 768, most_w = size_t(3072) * 768, most_d = size_t(100352) * 3072 / 8;
  Buffers b;
  cudaMalloc(&b.a, most_a * 2);
  cudaMalloc(&b.w, most_w * 2);
  cudaMalloc(&b.bias, 3072 * 2);
  cudaMalloc(&b.d, most_d * 2 > 6304 * 3072 * 2 ? most_d * 2 : 6304 * 3072 * 2);
  cudaMalloc(&b.ref, most_d * 2 > 6304 * 3072 * 2 ? most_d * 2 : 6304 * 3072 * 2);
  cudaMalloc(&b.diff, sizeof(float));
  {
    std::mt19937 g(1);
    std::normal_distribution<float> nd;
    std::vector<__half> h(most_a);
    for (auto& v : h) v = __float2half(nd(g));
    cudaMemcpy(b.a, h.data(), most_a * 2, cudaMemcpyHostToDevice);
    for (size_t i = 0; i < most_w; ++i) h[i] = __float2half(0.04f * nd(g));
    cudaMemcpy(b.w, h.data(), most_w * 2, cudaMemcpyHostToDevice);
    for (int i = 0; i < 3072; ++i) h[i] = __float2half(0.5f * nd(g));
    cudaMemcpy(b.bias, h.data(), 3072 * 2, cudaMemcpyHostToDevice);
  }
  cublasLtHandle_t lt;
  cublasLtCreate(&lt);
  void* lt_ws;
  const size_t lt_ws_bytes = 32 << 20;
  cudaMalloc(&lt_ws, lt_ws_bytes);
  for (const Problem& p : problems) {
    const double flops = 2.0 * p.m * p.n * p.k;
    const int64_t out = int64_t(p.m) * p.n;
    printf("%s [%d x %d] x [%d x %d]^T (%.1f MB out):", p.name, p.m, p.k, p.n, p.k, out * 2 / 1e6);
    // cuBLASLt, column-major view: D^T [N, M] = W^T^T ... op(W) = T on W as K x N, A as K x M.
    cublasLtMatmulDesc_t desc;
    cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    const cublasOperation_t t = CUBLAS_OP_T, n = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof n);
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    const void* bias_ptr = b.bias;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof bias_ptr);
    cublasLtMatrixLayout_t lw, la, ld;
    cublasLtMatrixLayoutCreate(&lw, CUDA_R_16F, p.k, p.n, p.k);
    cublasLtMatrixLayoutCreate(&la, CUDA_R_16F, p.k, p.m, p.k);
    cublasLtMatrixLayoutCreate(&ld, CUDA_R_16F, p.n, p.m, p.n);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &lt_ws_bytes, sizeof lt_ws_bytes);
    cublasLtMatmulHeuristicResult_t heur[1];
    int found = 0;
    cublasLtMatmulAlgoGetHeuristic(lt, desc, lw, la, ld, ld, pref, 1, heur, &found);
    const float one = 1.0f, zero = 0.0f;
    auto lt_call = [&] {
      cublasLtMatmul(lt, desc, &one, b.w, lw, b.a, la, &zero, b.ref, ld, b.ref, ld, &heur[0].algo, lt_ws, lt_ws_bytes, 0);
    };
    const float t_lt = found ? time_us(lt_call) : -1.0f;
    const float t_gelu = time_us([&] { gelu_pass<<<132 * 8, 256>>>((const uint4*)b.ref, (uint4*)b.ref, out / 8); });
    lt_call();
    gelu_pass<<<132 * 8, 256>>>((const uint4*)b.ref, (uint4*)b.ref, out / 8);  // the reference, once
    cudaDeviceSynchronize();
    printf("  cuBLASLt+bias %.1f us (%.0f TFLOPS) + GELU pass %.1f = %.1f us", t_lt, flops / t_lt / 1e6, t_gelu,
           t_lt + t_gelu);
    run_cutlass<Linear<Gelu, Shape<_128, _256, _64>, Shape<_1, _1, _1>, Coop, EpiCoop>>("coop 128x256 gelu", p, b, flops);
    run_cutlass<Linear<Gelu, Shape<_256, _128, _64>, Shape<_2, _1, _1>, Coop, EpiCoop>>("coop 256x128 c2 gelu", p, b,
                                                                                       flops);
    run_cutlass<Linear<Gelu, Shape<_128, _128, _64>, Shape<_1, _1, _1>, Ping, EpiWS>>("ping 128x128 gelu", p, b, flops);
    run_cutlass<Linear<Ident, Shape<_128, _256, _64>, Shape<_1, _1, _1>, Coop, EpiCoop>>("coop 128x256 bias only", p, b,
                                                                                        flops);
    printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(lw);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(ld);
    cublasLtMatmulDescDestroy(desc);
  }
  return 0;
}
