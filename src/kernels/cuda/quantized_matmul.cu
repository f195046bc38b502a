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
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/common/matmul_epilogue.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/libraries.h"
#include "kernels/matmul_shape.h"

namespace tensorforge::cuda {

namespace {

constexpr int kTile = 16;
constexpr int kGemvRows = 16;  // rows of float a the warp-per-column kernel takes

// Sums' type: exact int32 for int8/uint8 rows, float32 for float rows (weight only).
template <class A>
using acc_t = std::conditional_t<std::is_integral_v<A>, int32_t, float>;

template <class A>
__device__ __forceinline__ acc_t<A> widen(const A* p, int64_t i) {
  if constexpr (std::is_integral_v<A>)
    return static_cast<int32_t>(p[i]);
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
template <class A, class T>
__global__ void quantized_matmul_tiled(const A* __restrict__ a, const int8_t* __restrict__ b, Epilogue ep,
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
        bs[ty][tx] = bq < k && j < n ? static_cast<Acc>(b[tb ? j * k + bq : bq * n + j]) : Acc(0);
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

// cuBLASLt's int8 x int8 -> int32 product (float8: float8_e4m3 x float8_e4m3 -> float32) of a [m, k] and
// w [n, k] (both row-major), into acc [m, n].
class LtProduct {
 public:
  // False when cuBLASLt offers no algorithm for these sizes.
  bool init(int64_t m, int64_t n, int64_t k, bool float8 = false) {
    float8_ = float8;
    const cudaDataType_t ab = float8 ? CUDA_R_8F_E4M3 : CUDA_R_8I, sums = float8 ? CUDA_R_32F : CUDA_R_32I;
    check_cublas(cublasLtMatmulDescInit(&desc_, float8 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32I, sums),
                 "describing an int8 or float8 product");
    const cublasOperation_t t = CUBLAS_OP_T, keep = CUBLAS_OP_N;
    check_cublas(cublasLtMatmulDescSetAttribute(&desc_, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), "transa");
    check_cublas(cublasLtMatmulDescSetAttribute(&desc_, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)), "transb");
    // Column-major views: w is k x n (its transpose the n x k operand), a is k x m, acc is n x m.
    check_cublas(cublasLtMatrixLayoutInit(&lw_, ab, k, n, k), "describing the weight");
    check_cublas(cublasLtMatrixLayoutInit(&la_, ab, k, m, k), "describing the rows");
    check_cublas(cublasLtMatrixLayoutInit(&lc_, sums, n, m, n), "describing the sums");
    cublasLtMatmulPreferenceOpaque_t pref;
    check_cublas(cublasLtMatmulPreferenceInit(&pref), "creating matmul preferences");
    uint64_t ws = kLtWorkspace;
    check_cublas(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
                 "setting the workspace limit");
    const uint32_t align = 16;
    for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      check_cublas(cublasLtMatmulPreferenceSetAttribute(&pref, attr, &align, sizeof(align)), "setting an alignment");
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(cublaslt_handle(), &desc_, &lw_, &la_, &lc_, &lc_, &pref,
                                                             1, &algo_, &found);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) return false;
    check_cublas(st, "choosing an int8 or float8 matrix multiply algorithm");
    return found > 0 && algo_.state == CUBLAS_STATUS_SUCCESS;
  }
  size_t workspace() const { return algo_.workspaceSize; }
  // acc: int32 sums (int8) or float32 sums (float8), [m, n].
  void run(const void* a, const void* w, void* acc, void* ws) const {
    // Copies on the stack: run() may run on several threads at once.
    cublasLtMatmulDescOpaque_t desc = desc_;
    cublasLtMatrixLayoutOpaque_t lw = lw_, la = la_, lc = lc_;
    const int32_t one = 1, zero = 0;
    const float onef = 1.0f, zerof = 0.0f;
    check_cublas(cublasLtMatmul(cublaslt_handle(), &desc, float8_ ? static_cast<const void*>(&onef) : &one, w, &lw, a,
                                &la, float8_ ? static_cast<const void*>(&zerof) : &zero, acc, &lc, acc, &lc,
                                &algo_.algo, ws, algo_.workspaceSize, stream()),
                 "running an int8 or float8 matrix multiply");
  }

 private:
  bool float8_ = false;
  cublasLtMatmulDescOpaque_t desc_;
  cublasLtMatrixLayoutOpaque_t lw_, la_, lc_;
  cublasLtMatmulHeuristicResult_t algo_{};
};

// float8_e4m3 rows [m, k] times a float8_e4m3 weight [n, k]: cuBLASLt's float8 product into float32
// sums (n % 4 == 0, k % 16 == 0), then scale_sums applies scale[n], bias, residual and activation
// with the other paths' epilogue. (A first form: the sums round-trip through memory, as int8's do;
// cuBLASLt's own scale and bias epilogue for per-tensor scales is the next step.)
template <class T>
class Float8MatMulKernel : public Kernel {
 public:
  explicit Float8MatMulKernel(const KernelSpec& s) : p_(s) {
    ok_ = p_.tb && p_.m > 0 && p_.k > 0 && p_.k % 16 == 0 && p_.n % 4 == 0 &&
          std::max({p_.m, p_.n, p_.k}) <= INT32_MAX && lt_.init(p_.m, p_.n, p_.k, /*float8=*/true);
  }
  bool ok() const { return ok_; }
  size_t workspace_size() const override { return sums_bytes() + lt_.workspace(); }
  std::string choice() const override {
    return "cuBLASLt float8 product, float32 sums, then the scale/bias/residual/activation kernel";
  }
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const Epilogue ep{in[2].as<const float>(), p_.has_bias ? in[3].as<const float>() : nullptr, p_.activation};
    const T* residual = p_.has_residual ? in[4].as<const T>() : nullptr;
    T* y = out[0].as<T>();
    if ((reinterpret_cast<uintptr_t>(in[0].data) | reinterpret_cast<uintptr_t>(in[1].data)) % 16 != 0)
      throw Error(ErrorCode::kRuntime, "float8 quantized_matmul: operands not 16-byte aligned");
    lt_.run(in[0].data, in[1].data, workspace, static_cast<char*>(workspace) + sums_bytes());
    const int64_t quads = p_.m * p_.n / 4;
    const auto* acc = static_cast<const float4*>(workspace);
    if (reinterpret_cast<uintptr_t>(y) % alignof(Pack<T, 4>) == 0)
      scale_sums<T, true, float4><<<blocks_for(quads), kThreads, 0, stream()>>>(acc, ep, residual, y, quads, p_.n);
    else
      scale_sums<T, false, float4><<<blocks_for(quads), kThreads, 0, stream()>>>(acc, ep, residual, y, quads, p_.n);
    check_launch("launching scale_sums");
  }

 private:
  size_t sums_bytes() const {
    return (static_cast<size_t>(p_.m * p_.n) * sizeof(float) + kAlign - 1) / kAlign * kAlign;
  }
  QuantizedMatMulShape p_;
  bool ok_ = false;
  LtProduct lt_;
};

template <class A, class T>
class QuantizedMatMulKernel : public Kernel {
 public:
  explicit QuantizedMatMulKernel(const KernelSpec& s) : p_(s) {
    if (std::is_same_v<A, int8_t> && p_.tb && p_.m > 0 && p_.k > 0 && p_.k % 16 == 0 && p_.n % 4 == 0 &&
        std::max({p_.m, p_.n, p_.k}) <= INT32_MAX)
      lt_ok_ = lt_.init(p_.m, p_.n, p_.k);
    if (lt_ok_) workspace_ = sums_bytes() + lt_.workspace();
    gemv_ = !std::is_integral_v<A> && p_.tb && p_.m <= kGemvRows && p_.k % 16 == 0;
  }

  size_t workspace_size() const override { return workspace_; }
  std::string choice() const override {
    if (lt_ok_) return "cuBLASLt int8 product, int32 sums, then the scale/bias/residual/activation kernel";
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
    auto grid = [](int64_t v, int64_t cap) { return static_cast<unsigned>(std::max<int64_t>(1, std::min(v, cap))); };
    const bool aligned = (reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b)) % 16 == 0;
    if (lt_ok_ && aligned) {
      auto* sums = static_cast<int32_t*>(workspace);
      lt_.run(reinterpret_cast<const int8_t*>(a), b, sums, static_cast<char*>(workspace) + sums_bytes());
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
      auto k = std::make_unique<Float8MatMulKernel<typename decltype(tag)::type>>(s);
      return k->ok() ? std::move(k) : nullptr;
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
