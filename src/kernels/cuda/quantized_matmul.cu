// CUDA quantized_matmul (docs/layers.md): int8 or uint8 rows of a [..., M, K] times int8 b,
// accumulated exactly in int32 (float rows, weight only: in float32), then act(acc * scale[n] +
// bias[n] + residual) in float32 (a product, then each sum, rounded as the CPU kernel rounds them),
// rounded once to the output dtype.
//  - cuBLASLt's int8 product where a is int8 and b is [N, K] (transpose_b, as the optimizer's
//    fuse_quantized_matmul writes it: both operands K-contiguous, the layout its int8 kernels take),
//    K a multiple of 16 and N of 4: the int32 sums go to the workspace, then one kernel applies
//    scale, bias, residual and activation (kernels/common/matmul_epilogue.h);
//  - float rows (weight only: batch-1 decoding's matrix-vector products) of at most 16 rows with b
//    [N, K] and K a multiple of 16: a block per group of output columns streams their int8 weights in
//    16-byte packs, k split over its threads, each sum in float32, so the layer reads the weights
//    once, half float16's bytes;
//  - otherwise (uint8 rows, b as [K, N], other sizes, calls on pointers not aligned) one tiled
//    kernel does the whole layer.
// float8_e4m3 rows times a float8_e4m3 weight: Float8MatMulKernel below.
#include <cuda_fp8.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/build_clock.h"
#include "kernels/common/matmul_epilogue.h"
#include "kernels/cuda/build_timing.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/libraries.h"
#include "kernels/cuda/process_cache.h"
#include "kernels/matmul_shape.h"
#include "runtime/device.h"

namespace tensorforge::cuda {

namespace {

constexpr int kTile = 16;
constexpr int kGemvRows = 16;  // rows of float a the warp-per-column kernel takes

// A grid extent of v blocks, at least 1 and at most cap.
unsigned grid(int64_t v, int64_t cap) { return static_cast<unsigned>(std::max<int64_t>(1, std::min(v, cap))); }

// Sums' type: exact int32 for int8/uint8 rows, float32 for float rows (weight only).
template <class A>
using acc_t = std::conditional_t<std::is_integral_v<A>, int32_t, float>;

template <class A>
__device__ __forceinline__ acc_t<A> widen(const A* p, int64_t i) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<int32_t>(p[i]);
  else if constexpr (std::is_same_v<A, __nv_fp8_e4m3>)
    return static_cast<float>(p[i]);
  else
    return static_cast<float>(load(p, i));
}
constexpr size_t kLtWorkspace = size_t(8) << 20;  // cuBLASLt's workspace, at most
constexpr size_t kAlign = 256;                     // of cuBLASLt's workspace after the sums

// The epilogue of output (row, col): kernels/common/matmul_epilogue.h.
struct Epilogue {
  const float* scale;
  const float* bias;  // nullptr: none
  MatMulActivation act;
  template <class Acc, class T>
  __device__ __forceinline__ T operator()(Acc acc, int64_t col, const T* residual, int64_t at) const {
    const float r = residual ? static_cast<float>(load(residual, at)) : 0.0f;
    return store_as<T>(kernels::quantized_epilogue(static_cast<float>(acc), scale[col], bias ? bias[col] : 0.0f, r,
                                                   act));
  }
};

// One kTile x kTile output tile per block (grid-stride over tiles): tiles of a and b staged in
// shared memory in the sums' type, the sums, then the epilogue.
template <class A, class T, class B = int8_t>
__global__ void quantized_matmul_tiled(const A* __restrict__ a, const B* __restrict__ b, Epilogue ep,
                                       const T* __restrict__ residual, T* __restrict__ y, int64_t m, int64_t n,
                                       int64_t k, bool tb) {
  using Acc = acc_t<A>;
  __shared__ Acc as[kTile][kTile + 1], bs[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t tiles_m = (m + kTile - 1) / kTile, tiles_n = (n + kTile - 1) / kTile;
  for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
    for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
      const int64_t i = tm * kTile + ty, j = tn * kTile + tx;
      Acc acc = 0;
      for (int64_t q0 = 0; q0 < k; q0 += kTile) {
        const int64_t aq = q0 + tx, bq = q0 + ty;
        as[ty][tx] = i < m && aq < k ? widen(a, i * k + aq) : Acc(0);
        bs[ty][tx] = bq < k && j < n ? static_cast<Acc>(widen(b, tb ? j * k + bq : bq * n + j)) : Acc(0);
        __syncthreads();
#pragma unroll
        for (int q = 0; q < kTile; ++q) acc += as[ty][q] * bs[q][tx];
        __syncthreads();
      }
      if (i < m && j < n) y[i * n + j] = ep(acc, j, residual, i * n + j);
    }
}

// Four int8 weights (one 32-bit word) as exact floats without I2F conversions (16 a clock on
// Hopper, which held the kernel at half the copy rate): each byte, offset by 128, goes into the low
// mantissa bits of 2^23, and 2^23 + 128 comes off again.
__device__ __forceinline__ void int8x4_to_float(uint32_t word, float* out) {
  const uint32_t u = word ^ 0x80808080u;
#pragma unroll
  for (int j = 0; j < 4; ++j) out[j] = __int_as_float(__byte_perm(u, 0x4B000000u, 0x7650u + j)) - 8388736.0f;
}

// Weight only: m <= R float rows of a [m, k] times w [n, k] (k % 16 == 0, a's rows aligned to 16
// elements, w to 16 bytes). A block takes C adjacent output columns and splits k over all its
// threads, 16 weights of each column at a time (C 16-byte loads in flight a thread; the rows' 16
// values converted once for the C columns); each sum in float32 over the thread's k in order, then
// a shuffle tree within each warp and the warps' partial sums added in order in shared memory.
template <int R, int C, class A, class T>
__global__ void __launch_bounds__(kThreads) weight_only_gemv(const A* __restrict__ a, const int8_t* __restrict__ w,
                                                            Epilogue ep, const T* __restrict__ residual,
                                                            T* __restrict__ y, int64_t m, int64_t n, int64_t k) {
  constexpr int kWarps = kThreads / 32;
  __shared__ float partial[kWarps][R * C];
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  const int64_t packs = k / 16;
  for (int64_t col0 = int64_t(blockIdx.x) * C; col0 < n; col0 += int64_t(gridDim.x) * C) {
    float acc[R][C];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) acc[r][c] = 0.0f;
    for (int64_t p = threadIdx.x; p < packs; p += kThreads) {
      uint4 wp[C];
#pragma unroll
      for (int c = 0; c < C; ++c)
        wp[c] = col0 + c < n ? __ldg(reinterpret_cast<const uint4*>(w + (col0 + c) * k) + p) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r >= m) break;
        const Pack<A, 16> ap = *reinterpret_cast<const Pack<A, 16>*>(a + r * k + p * 16);
        float av[16];
#pragma unroll
        for (int j = 0; j < 16; ++j) av[j] = static_cast<float>(load(ap.v, j));
#pragma unroll
        for (int c = 0; c < C; ++c) {
          float wv[16];
          int8x4_to_float(wp[c].x, wv);
          int8x4_to_float(wp[c].y, wv + 4);
          int8x4_to_float(wp[c].z, wv + 8);
          int8x4_to_float(wp[c].w, wv + 12);
#pragma unroll
          for (int j = 0; j < 16; ++j) acc[r][c] = fmaf(av[j], wv[j], acc[r][c]);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < C; ++c) {
        float v = acc[r][c];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) partial[warp][r * C + c] = v;
      }
    __syncthreads();
    if (threadIdx.x < R * C) {
      const int r = threadIdx.x / C, c = threadIdx.x % C;
      const int64_t col = col0 + c;
      if (r < m && col < n) {
        float v = 0.0f;
        for (int q = 0; q < kWarps; ++q) v += partial[q][threadIdx.x];
        y[r * n + col] = ep(v, col, residual, r * n + col);
      }
    }
    __syncthreads();  // partial is rewritten by the next columns
  }
}

// Launches weight_only_gemv with the fewest rows R that hold m (C columns a block: more where the
// rows are few, so a thread has several weight loads in flight).
template <class A, class T>
void launch_weight_only_gemv(const A* a, const int8_t* w, Epilogue ep, const T* residual, T* y, int64_t m, int64_t n,
                             int64_t k, cudaStream_t s) {
  auto blocks = [n](int c) { return static_cast<unsigned>(std::min<int64_t>((n + c - 1) / c, 1 << 20)); };
  if (m == 1)
    weight_only_gemv<1, 4, A, T><<<blocks(4), kThreads, 0, s>>>(a, w, ep, residual, y, m, n, k);
  else if (m <= 4)
    weight_only_gemv<4, 2, A, T><<<blocks(2), kThreads, 0, s>>>(a, w, ep, residual, y, m, n, k);
  else
    weight_only_gemv<kGemvRows, 1, A, T><<<blocks(1), kThreads, 0, s>>>(a, w, ep, residual, y, m, n, k);
}

// y = the epilogue of [m, n] int32 (int4) or float32 (float4) sums (n % 4 == 0, the cuBLASLt paths'):
// four columns a thread, the sums read in one 16-byte access and, with kPacked (y aligned for it), the
// four outputs stored in one.
template <class T, bool kPacked, class Sums = int4>
__global__ void scale_sums(const Sums* __restrict__ acc, Epilogue ep, const T* __restrict__ residual,
                           T* __restrict__ y, int64_t quads, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < quads; i += int64_t(gridDim.x) * blockDim.x) {
    const Sums a = acc[i];
    const int64_t at = 4 * i, col = at % n;
    Pack<T, 4> r;
    r.v[0] = ep(a.x, col, residual, at);
    r.v[1] = ep(a.y, col + 1, residual, at + 1);
    r.v[2] = ep(a.z, col + 2, residual, at + 2);
    r.v[3] = ep(a.w, col + 3, residual, at + 3);
    if constexpr (kPacked) {
      reinterpret_cast<Pack<T, 4>*>(y)[i] = r;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) y[at + j] = r.v[j];
    }
  }
}

// A cuBLASLt product of a [m, k] and w [n, k] (both row-major, K-contiguous, the layout its int8
// and float8 kernels take) into d [m, n], in one of three forms:
//  - int8 x int8 -> int32 sums, or float8_e4m3 x float8_e4m3 -> float32 sums (`scaled` off), for a
//    kernel of ours to apply the epilogue;
//  - float8 x float8 -> float16/bfloat16 (`scaled`): w's column scales (quantized_matmul's scale[n])
//    and a's row scales (ones) as cuBLASLt's outer-vector scales, the residual as its C with beta 1,
//    the bias (in d's type) and relu in its epilogue: one kernel, no sums through memory. On an H100
//    (cuBLASLt 13.1) Hopper offers this form with outer-vector scales on both operands only (one on w
//    alone: no algorithm), and a bias only in d's type.
// The algorithm: at optimization_level 3 and up the fastest of the heuristic's first 8 (32 at 5),
// timed on scratch data once per process and shape; below, or in a plan that follows another, the
// heuristic's first.
class LtProduct {
 public:
  struct Form {
    bool float8 = false;
    bool scaled = false;  // float8 only
    cudaDataType_t out = CUDA_R_32I;
    bool bias = false, residual = false, relu = false;  // scaled only
  };
  struct Args {
    const void* a;
    const void* w;
    void* d;
    const void* residual = nullptr;   // scaled: C, [m, n] in d's type
    const float* w_scale = nullptr;   // scaled: [n]
    const float* a_scale = nullptr;   // scaled: [m]
    const void* bias = nullptr;       // scaled: [n] in d's type
    void* workspace = nullptr;        // workspace() bytes, 256-byte aligned
  };

  // False when cuBLASLt offers no algorithm for these sizes and form.
  bool init(int64_t m, int64_t n, int64_t k, const Form& f, const KernelSpec& s) {
    f_ = f;
    m_ = m;
    n_ = n;
    k_ = k;
    const cudaDataType_t ab = f.float8 ? CUDA_R_8F_E4M3 : CUDA_R_8I;
    // Column-major views: w is k x n (its transpose the n x k operand), a is k x m, d is n x m.
    check_cublas(cublasLtMatrixLayoutInit(&lw_, ab, k, n, k), "describing the weight");
    check_cublas(cublasLtMatrixLayoutInit(&la_, ab, k, m, k), "describing the rows");
    check_cublas(cublasLtMatrixLayoutInit(&ld_, f.out, n, m, n), "describing the result");
    cublasLtMatmulPreferenceOpaque_t pref;
    check_cublas(cublasLtMatmulPreferenceInit(&pref), "creating matmul preferences");
    uint64_t ws = kLtWorkspace;
    check_cublas(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
                 "setting the workspace limit");
    const uint32_t align = 16;
    for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      check_cublas(cublasLtMatmulPreferenceSetAttribute(&pref, attr, &align, sizeof(align)), "setting an alignment");
    // The heuristic reads pointers' alignment from their values: addresses aligned to 256 bytes.
    const auto* fake = reinterpret_cast<const float*>(uintptr_t(256) * 1025);
    cublasLtMatmulDescOpaque_t desc;
    describe(desc, Args{nullptr, nullptr, nullptr, nullptr, fake, fake, fake});
    const int want = s.hints.follow ? 1 : timed_algorithms(s.config);
    std::vector<cublasLtMatmulHeuristicResult_t> options(static_cast<size_t>(want));
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(cublaslt_handle(), &desc, &lw_, &la_, &ld_, &ld_, &pref,
                                                             want, options.data(), &found);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) return false;
    check_cublas(st, "choosing an int8 or float8 matrix multiply algorithm");
    options.resize(static_cast<size_t>(std::max(found, 0)));
    options.erase(std::remove_if(options.begin(), options.end(),
                                 [](const auto& r) { return r.state != CUBLAS_STATUS_SUCCESS; }),
                  options.end());
    if (options.empty()) return false;
    algo_ = options.size() == 1 ? options[0] : fastest(options, s);
    return true;
  }
  size_t workspace() const { return algo_.workspaceSize; }
  const std::string& why() const { return why_; }

  void run(const Args& args) const {
    // Descriptors on the stack: run() may run on several threads at once.
    cublasLtMatmulDescOpaque_t desc;
    describe(desc, args);
    cublasLtMatrixLayoutOpaque_t lw = lw_, la = la_, ld = ld_;
    const int32_t one = 1, zero = 0;
    const float onef = 1.0f, zerof = 0.0f, betaf = args.residual ? 1.0f : 0.0f;
    const bool fl = f_.float8;
    const void* c = args.residual ? args.residual : args.d;
    check_cublas(cublasLtMatmul(cublaslt_handle(), &desc, fl ? static_cast<const void*>(&onef) : &one, args.w, &lw,
                                args.a, &la, fl ? static_cast<const void*>(f_.scaled ? &betaf : &zerof) : &zero, c,
                                &ld, args.d, &ld, &algo_.algo, args.workspace, algo_.workspaceSize, stream()),
                 "running an int8 or float8 matrix multiply");
  }

 private:
  void describe(cublasLtMatmulDescOpaque_t& d, const Args& args) const {
    const bool fl = f_.float8;
    check_cublas(cublasLtMatmulDescInit(&d, fl ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32I, fl ? CUDA_R_32F : CUDA_R_32I),
                 "describing an int8 or float8 product");
    auto set = [&](cublasLtMatmulDescAttributes_t attr, const void* v, size_t size) {
      check_cublas(cublasLtMatmulDescSetAttribute(&d, attr, v, size), "describing an int8 or float8 product");
    };
    const cublasOperation_t t = CUBLAS_OP_T, keep = CUBLAS_OP_N;
    set(CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t));
    set(CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep));
    if (!f_.scaled) return;
    const int32_t outer = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    set(CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &outer, sizeof(outer));
    set(CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &outer, sizeof(outer));
    set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &args.w_scale, sizeof(args.w_scale));
    set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &args.a_scale, sizeof(args.a_scale));
    const cublasLtEpilogue_t ep = f_.relu ? (f_.bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                                          : (f_.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
    set(CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof(ep));
    if (f_.bias) {
      const int32_t type = f_.out;
      set(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &type, sizeof(type));
      const void* bias = args.bias ? args.bias : args.w_scale;  // the heuristic's: an aligned address
      set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
    }
  }

  std::string key() const {
    int dev = 0;
    check(cudaGetDevice(&dev), "querying the current device");
    return std::to_string(dev) + "|" + std::to_string(f_.float8) + std::to_string(f_.scaled) + std::to_string(f_.bias) +
           std::to_string(f_.residual) + std::to_string(f_.relu) + "|" + std::to_string(f_.out) + "|" +
           std::to_string(m_) + "," + std::to_string(n_) + "," + std::to_string(k_);
  }

  // The fastest of `options` on scratch operands (CUDA-graph timed, as matmul.cu times its
  // algorithms), shared by the process's layers of the same form and sizes.
  cublasLtMatmulHeuristicResult_t fastest(const std::vector<cublasLtMatmulHeuristicResult_t>& options,
                                          const KernelSpec& s) {
    struct Chosen {
      size_t index, count;
      std::string why;
    };
    static ProcessCache<Chosen> chosen(4096);
    const std::string k = key();
    if (std::optional<Chosen> hit = chosen.find(k); hit && hit->count == options.size()) {
      why_ = hit->why + " [shared with an earlier layer]";
      return options[hit->index];
    }
    TimedPart part("quantized matmul timing");
    const size_t out_size = f_.out == CUDA_R_16F || f_.out == CUDA_R_16BF ? 2 : 4;
    device::Buffer a(DeviceKind::kCUDA, static_cast<size_t>(m_ * k_)), w(DeviceKind::kCUDA, static_cast<size_t>(n_ * k_)),
        d(DeviceKind::kCUDA, static_cast<size_t>(m_ * n_) * out_size),
        res(DeviceKind::kCUDA, f_.residual ? static_cast<size_t>(m_ * n_) * out_size : 16),
        scales(DeviceKind::kCUDA, static_cast<size_t>(m_ + n_) * sizeof(float)),
        bias(DeviceKind::kCUDA, static_cast<size_t>(n_) * out_size + 16);
    size_t ws_bytes = 0;
    for (const auto& o : options) ws_bytes = std::max(ws_bytes, o.workspaceSize);
    device::Buffer ws(DeviceKind::kCUDA, ws_bytes + 16);
    // Small finite operands (0x22: 34 in int8, 0.0117 in float8); zero scales, bias and residual.
    check(cudaMemsetAsync(a.data(), 0x22, a.size(), stream()), "filling timing data");
    check(cudaMemsetAsync(w.data(), 0x22, w.size(), stream()), "filling timing data");
    for (device::Buffer* b : {&res, &scales, &bias})
      check(cudaMemsetAsync(b->data(), 0, b->size(), stream()), "filling timing data");
    const auto* sc = reinterpret_cast<const float*>(scales.data());
    const Args args{a.data(), w.data(), d.data(), f_.residual ? res.data() : nullptr, sc, sc + n_,
                    f_.bias ? bias.data() : nullptr, ws.data()};
    size_t best = 0;
    float best_ms = 0, first_ms = 0;
    for (size_t i = 0; i < options.size(); ++i) {
      algo_ = options[i];
      const float ms = median_ms([&] { run(args); }, timing_calls(s.config), 3, /*graph=*/true);
      if (i == 0) first_ms = ms;
      if (i == 0 || ms < best_ms) {
        best = i;
        best_ms = ms;
      }
    }
    why_ = "cuBLASLt algorithm " + std::to_string(best + 1) + " of the heuristic's " + std::to_string(options.size()) +
           " (timed: " + std::to_string(best_ms) + " ms, the first " + std::to_string(first_ms) + " ms)";
    chosen.insert(k, Chosen{best, options.size(), why_});
    return options[best];
  }

  Form f_;
  int64_t m_ = 0, n_ = 0, k_ = 0;
  cublasLtMatrixLayoutOpaque_t lw_, la_, ld_;
  cublasLtMatmulHeuristicResult_t algo_{};
  std::string why_ = "the heuristic's first algorithm";
};

// Float8 operands' per-call preparation for the scaled cuBLASLt form: ones as a's row scales and the
// float32 bias in the output's type (cuBLASLt takes no float32 bias with a 16-bit result).
template <class T>
__global__ void float8_row_scales_and_bias(float* __restrict__ ones, int64_t m, const float* __restrict__ bias,
                                           T* __restrict__ bias_t, int64_t n) {
  const int64_t count = m > n ? m : n;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    if (i < m) ones[i] = 1.0f;
    if (bias && i < n) bias_t[i] = store_as<T>(bias[i]);
  }
}

// y = act(y) in place: the activation cuBLASLt's epilogue does not take (GELU; any with a residual).
// Eight elements a thread (y is 16-byte aligned: the scaled path's condition), the rest one a thread.
template <class T>
__global__ void activate_in_place(T* __restrict__ y, int64_t count, MatMulActivation act) {
  constexpr int kN = 8;
  const int64_t packs = count / kN, stride = int64_t(gridDim.x) * blockDim.x;
  auto* yp = reinterpret_cast<Pack<T, kN>*>(y);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += stride) {
    Pack<T, kN> v = yp[i];
#pragma unroll
    for (int j = 0; j < kN; ++j) v.v[j] = store_as<T>(kernels::matmul_activate(act, static_cast<float>(load(v.v, j))));
    yp[i] = v;
  }
  for (int64_t i = packs * kN + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += stride)
    y[i] = store_as<T>(kernels::matmul_activate(act, static_cast<float>(load(y, i))));
}

// float8_e4m3 rows [m, k] times a float8_e4m3 weight [n, k] (transpose_b). Three paths, by what
// cuBLASLt's float8 kernels take (m, n and k multiples of 16, 16-byte aligned pointers: other sizes
// it offers algorithms for and then refuses to run, status 7 on an H100):
//  - a float16/bfloat16 result: the scaled form (LtProduct), the whole epilogue in cuBLASLt but a
//    GELU or an activation after a residual, which one more kernel applies in place;
//  - a float32 result: float32 sums through the workspace, then scale_sums (the int8 path's);
//  - other sizes or misaligned pointers: the tiled kernel in float32.
// Hopper's float8 products accumulate in less than float32's precision (the float32 result of the
// CPU reference and cuBLASLt's differ by about 1e-4 of the sums' magnitude, tests/python/test_float8.py).
template <class T>
class Float8MatMulKernel : public Kernel {
 public:
  explicit Float8MatMulKernel(const KernelSpec& s) : p_(s) {
    const bool lt_sizes = p_.tb && p_.m > 0 && p_.m % 16 == 0 && p_.n % 16 == 0 && p_.k % 16 == 0 &&
                          std::max({p_.m, p_.n, p_.k}) <= INT32_MAX;
    if (!lt_sizes) return;
    if constexpr (!std::is_same_v<T, float>) {
      post_act_ = p_.activation;
      const bool relu = p_.activation == MatMulActivation::kRelu && !p_.has_residual;
      if (relu) post_act_ = MatMulActivation::kNone;
      LtProduct::Form f{true, true, std::is_same_v<T, __half> ? CUDA_R_16F : CUDA_R_16BF, p_.has_bias,
                        p_.has_residual, relu};
      if (lt_.init(p_.m, p_.n, p_.k, f, s)) {
        path_ = Path::kScaled;
        prepare_constants(s);
        return;
      }
    }
    if (lt_.init(p_.m, p_.n, p_.k, LtProduct::Form{true, false, CUDA_R_32F}, s)) path_ = Path::kSums;
  }
  size_t workspace_size() const override {
    switch (path_) {
      case Path::kScaled: return (prepared_ ? 0 : prep_bytes()) + lt_.workspace();
      case Path::kSums: return sums_bytes() + lt_.workspace();
      case Path::kTiled: break;
    }
    return 0;
  }
  std::string choice() const override {
    switch (path_) {
      case Path::kScaled:
        return std::string("cuBLASLt float8 product with column scales, bias and residual in its epilogue") +
               (post_act_ != MatMulActivation::kNone ? " and the activation after it" : "") +
               (prepared_ ? " (row scales and bias prepared once)" : "") + "; " + lt_.why();
      case Path::kSums:
        return "cuBLASLt float8 product, float32 sums, then the scale/bias/residual/activation kernel; " + lt_.why();
      case Path::kTiled: break;
    }
    return "tiled float8 kernel (float32 sums)";
  }
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (p_.m == 0 || p_.n == 0) return;
    const Epilogue ep{in[2].as<const float>(), p_.has_bias ? in[3].as<const float>() : nullptr, p_.activation};
    const T* residual = p_.has_residual ? in[4].as<const T>() : nullptr;
    T* y = out[0].as<T>();
    const uintptr_t bits = reinterpret_cast<uintptr_t>(in[0].data) | reinterpret_cast<uintptr_t>(in[1].data) |
                           reinterpret_cast<uintptr_t>(y) | reinterpret_cast<uintptr_t>(residual) |
                           reinterpret_cast<uintptr_t>(ep.scale);
    if (path_ == Path::kTiled || bits % 16 != 0) {
      const dim3 blocks(grid((p_.n + kTile - 1) / kTile, 65535), grid((p_.m + kTile - 1) / kTile, 65535));
      quantized_matmul_tiled<__nv_fp8_e4m3, T, __nv_fp8_e4m3><<<blocks, dim3(kTile, kTile), 0, stream()>>>(
          in[0].as<const __nv_fp8_e4m3>(), in[1].as<const __nv_fp8_e4m3>(), ep, residual, y, p_.m, p_.n, p_.k, p_.tb);
      check_launch("launching quantized_matmul_tiled");
      return;
    }
    if (path_ == Path::kScaled) {
      auto* ones = static_cast<float*>(workspace);
      T* bias_t = reinterpret_cast<T*>(static_cast<char*>(workspace) + align_up(p_.m * sizeof(float)));
      if (prepared_) {  // made once at creation
        ones = reinterpret_cast<float*>(ones_.data());
        bias_t = reinterpret_cast<T*>(bias_.data());
      } else {
        float8_row_scales_and_bias<T><<<blocks_for(std::max(p_.m, p_.n)), kThreads, 0, stream()>>>(
            ones, p_.m, ep.bias, bias_t, p_.n);
        check_launch("preparing a float8 product's scales");
      }
      lt_.run(LtProduct::Args{in[0].data, in[1].data, y, residual, ep.scale, ones, ep.bias ? bias_t : nullptr,
                              static_cast<char*>(workspace) + (prepared_ ? 0 : prep_bytes())});
      if (post_act_ != MatMulActivation::kNone) {
        activate_in_place<T><<<blocks_for((p_.m * p_.n + 7) / 8), kThreads, 0, stream()>>>(y, p_.m * p_.n, post_act_);
        check_launch("launching a float8 product's activation");
      }
      return;
    }
    lt_.run(LtProduct::Args{in[0].data, in[1].data, workspace, nullptr, nullptr, nullptr, nullptr,
                            static_cast<char*>(workspace) + sums_bytes()});
    const int64_t quads = p_.m * p_.n / 4;
    const auto* acc = static_cast<const float4*>(workspace);
    if (reinterpret_cast<uintptr_t>(y) % alignof(Pack<T, 4>) == 0)
      scale_sums<T, true, float4><<<blocks_for(quads), kThreads, 0, stream()>>>(acc, ep, residual, y, quads, p_.n);
    else
      scale_sums<T, false, float4><<<blocks_for(quads), kThreads, 0, stream()>>>(acc, ep, residual, y, quads, p_.n);
    check_launch("launching scale_sums");
  }

 private:
  enum class Path { kScaled, kSums, kTiled };

  // The scaled path's ones (the rows' scales) and the bias in T, made once where the bias is a
  // constant of the graph (or absent): run() then launches no preparation kernel.
  void prepare_constants(const KernelSpec& s) {
    const Weights* bias = s.constants.size() > 3 ? s.constants[3] : nullptr;
    if (p_.has_bias && (!bias || bias->dtype() != DataType::kFloat32)) return;
    std::vector<float> ones(static_cast<size_t>(p_.m), 1.0f);
    ones_ = device::Buffer(DeviceKind::kCUDA, ones.size() * sizeof(float));
    check(cudaMemcpy(ones_.data(), ones.data(), ones_.size(), cudaMemcpyHostToDevice), "copying a float8 product's scales");
    if (p_.has_bias) {
      std::vector<T> converted(static_cast<size_t>(p_.n));
      const auto* b = static_cast<const float*>(bias->data());
      for (size_t i = 0; i < converted.size(); ++i) converted[i] = T(b[i]);
      bias_ = device::Buffer(DeviceKind::kCUDA, converted.size() * sizeof(T));
      check(cudaMemcpy(bias_.data(), converted.data(), bias_.size(), cudaMemcpyHostToDevice),
            "copying a float8 product's bias");
    }
    prepared_ = true;
  }
  static size_t align_up(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
  size_t sums_bytes() const { return align_up(static_cast<size_t>(p_.m * p_.n) * sizeof(float)); }
  size_t prep_bytes() const { return align_up(p_.m * sizeof(float)) + align_up(p_.n * sizeof(T)); }

  QuantizedMatMulShape p_;
  Path path_ = Path::kTiled;
  MatMulActivation post_act_ = MatMulActivation::kNone;
  LtProduct lt_;
  bool prepared_ = false;
  device::Buffer ones_, bias_;
};

template <class A, class T>
class QuantizedMatMulKernel : public Kernel {
 public:
  explicit QuantizedMatMulKernel(const KernelSpec& s) : p_(s) {
    if (std::is_same_v<A, int8_t> && p_.tb && p_.m > 0 && p_.k > 0 && p_.k % 16 == 0 && p_.n % 4 == 0 &&
        std::max({p_.m, p_.n, p_.k}) <= INT32_MAX)
      lt_ok_ = lt_.init(p_.m, p_.n, p_.k, LtProduct::Form{}, s);
    if (lt_ok_) workspace_ = sums_bytes() + lt_.workspace();
    gemv_ = !std::is_integral_v<A> && p_.tb && p_.m <= kGemvRows && p_.k % 16 == 0;
  }

  size_t workspace_size() const override { return workspace_; }
  std::string choice() const override {
    if (lt_ok_) return "cuBLASLt int8 product, int32 sums, then the scale/bias/residual/activation kernel; " + lt_.why();
    if (gemv_) return "weight-only int8 matrix-vector kernel (a block per column group, k split over its threads)";
    return std::is_integral_v<A> ? "tiled int8 kernel (int32 sums)" : "tiled weight-only kernel (float32 sums)";
  }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (p_.m == 0 || p_.n == 0) return;
    const A* a = in[0].as<const A>();
    const int8_t* b = in[1].as<const int8_t>();
    const Epilogue ep{in[2].as<const float>(), p_.has_bias ? in[3].as<const float>() : nullptr, p_.activation};
    const T* residual = p_.has_residual ? in[4].as<const T>() : nullptr;
    T* y = out[0].as<T>();
    const bool aligned = (reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b)) % 16 == 0;
    if (lt_ok_ && aligned) {
      auto* sums = static_cast<int32_t*>(workspace);
      lt_.run(LtProduct::Args{a, b, sums, nullptr, nullptr, nullptr, nullptr, static_cast<char*>(workspace) + sums_bytes()});
      const int64_t quads = p_.m * p_.n / 4;
      const auto* acc = reinterpret_cast<const int4*>(sums);
      if (reinterpret_cast<uintptr_t>(y) % alignof(Pack<T, 4>) == 0)
        scale_sums<T, true><<<blocks_for(quads), kThreads, 0, stream()>>>(acc, ep, residual, y, quads, p_.n);
      else
        scale_sums<T, false><<<blocks_for(quads), kThreads, 0, stream()>>>(acc, ep, residual, y, quads, p_.n);
      check_launch("launching scale_sums");
      return;
    }
    if (gemv_ && reinterpret_cast<uintptr_t>(a) % (16 * sizeof(A)) == 0 && reinterpret_cast<uintptr_t>(b) % 16 == 0) {
      launch_weight_only_gemv<A, T>(a, b, ep, residual, y, p_.m, p_.n, p_.k, stream());
      check_launch("launching weight_only_gemv");
      return;
    }
    const dim3 blocks(grid((p_.n + kTile - 1) / kTile, 65535), grid((p_.m + kTile - 1) / kTile, 65535));
    quantized_matmul_tiled<A, T><<<blocks, dim3(kTile, kTile), 0, stream()>>>(a, b, ep, residual, y, p_.m, p_.n,
                                                                               p_.k, p_.tb);
    check_launch("launching quantized_matmul_tiled");
  }

 private:
  size_t sums_bytes() const {
    return (static_cast<size_t>(p_.m * p_.n) * sizeof(int32_t) + kAlign - 1) / kAlign * kAlign;
  }

  QuantizedMatMulShape p_;
  bool lt_ok_ = false, gemv_ = false;
  LtProduct lt_;
  size_t workspace_ = 0;
};

template <class A>
std::unique_ptr<Kernel> make(const KernelSpec& s) {
  switch (s.outputs[0]->dtype) {
    case DataType::kFloat16: return std::make_unique<QuantizedMatMulKernel<A, __half>>(s);
    case DataType::kBFloat16: return std::make_unique<QuantizedMatMulKernel<A, __nv_bfloat16>>(s);
    case DataType::kFloat32: return std::make_unique<QuantizedMatMulKernel<A, float>>(s);
    default: return nullptr;
  }
}

}  // namespace

std::unique_ptr<Kernel> create_quantized_matmul(const KernelSpec& s) {
  if (is_float8(s.inputs[0]->dtype) && is_float8(s.inputs[1]->dtype)) {  // cuBLASLt's float8 product or none
    auto make8 = [&](auto tag) -> std::unique_ptr<Kernel> {
      return std::make_unique<Float8MatMulKernel<typename decltype(tag)::type>>(s);
    };
    if (s.outputs[0]->dtype == DataType::kFloat16) return make8(Tag<__half>{});
    if (s.outputs[0]->dtype == DataType::kBFloat16) return make8(Tag<__nv_bfloat16>{});
    return make8(Tag<float>{});
  }
  if (s.inputs[1]->dtype != DataType::kInt8 || s.inputs[1]->dims.rank() != 2) return nullptr;
  if (s.inputs[0]->dtype == DataType::kInt8) return make<int8_t>(s);
  if (s.inputs[0]->dtype == DataType::kUInt8) return make<uint8_t>(s);
  if (s.inputs[0]->dtype == DataType::kFloat16) return make<__half>(s);
  if (s.inputs[0]->dtype == DataType::kBFloat16) return make<__nv_bfloat16>(s);
  if (s.inputs[0]->dtype == DataType::kFloat32) return make<float>(s);
  return nullptr;
}

}  // namespace tensorforge::cuda
