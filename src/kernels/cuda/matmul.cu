// CUDA matmul. Floating point through cuBLASLt: float32 (TF32 tensor cores when the build allows
// them), float16 and bfloat16, all accumulating in float32. The row-major C = op(A) op(B) is the
// column-major C^T = op(B)^T op(A)^T, so no operand is copied or transposed. A residual is cuBLASLt's
// C input with beta = 1. The bias runs in cuBLASLt's epilogue, relu too for float16 and bfloat16 (its float32
// relu drops NaN), tanh-GELU for TF32 and for float16 and bfloat16 rows of whole 16-byte words (cuBLASLt's
// GELU is the tanh form); the erf GELU (and the tanh form otherwise) runs after it as a small elementwise kernel. Batch dims: a broadcast
// operand gets batch stride 0, the dims that form one strided batch go to one call, the rest are looped on the host
// (one call each). The algorithms are chosen once, at creation: one for 16-byte-aligned pointers and one for any
// alignment, picked per call by the pointers. At optimization_level 3 and up the aligned one is the
// fastest of the heuristic's first few (8; 32 at level 5), timed on scratch data, and layers of the
// same shapes share that choice within the process; a dynamic engine's plans off its opt sizes take
// the opt plan's algorithm untimed where the heuristic offers it (kernels/tactic_hints.h). Integers: a shared-memory tiled kernel with exact, wrapping sums.
#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/build_clock.h"
#include "kernels/common/batch_walker.h"
#include "kernels/common/matmul_epilogue.h"
#include "kernels/cuda/build_timing.h"
#include "kernels/cuda/choice_store.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/libraries.h"
#include "kernels/cuda/process_cache.h"
#include "kernels/matmul_shape.h"
#include "runtime/device.h"

namespace tensorforge::cuda {

namespace {

constexpr size_t kMaxLtWorkspace = size_t(32) << 20;  // cuBLASLt's split-K and stream-K scratch
constexpr uintptr_t kWorkspaceAlign = 256;
constexpr uint32_t kFastAlign = 16;  // what the vectorized (and TMA) kernels need

__device__ __forceinline__ float activate(MatMulActivation act, float x) { return kernels::matmul_activate(act, x); }

// y[r, j] = act((src ? src[r, j] : 0) + (bias ? bias[j] : 0) + (res ? res[r, j] : 0)) over rows of
// n: the part of the epilogue cuBLASLt does not do (see set_epilogue), and the whole result when
// K = 0. Rows on y, columns on x, so no index division.
template <class T>
__global__ void bias_activation(const T* src, const T* bias, const T* res, T* y, int64_t rows, int64_t n,
                                MatMulActivation act) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
      const int64_t i = r * n + j;
      float v = src ? load(src, i) : 0.0f;
      if (bias) v += load(bias, j);
      if (res) v += load(res, i);
      y[i] = store_as<T>(activate(act, v));
    }
}

// The same over the flat result, 16 bytes a thread and step: every pointer 16-byte aligned, n and
// the total multiples of the pack width (a pack never straddles a row, so its bias is contiguous).
// I indexes packs (32 bits when there are fewer than 2^30, so that adding the grid stride never
// overflows).
template <class T, class I>
__global__ void bias_activation_vec(const T* src, const T* bias, const T* res, T* y, I packs, I row_packs,
                                    MatMulActivation act) {
  constexpr int N = vec_width<T>();
  using P = Pack<T, N>;
  for (I p = blockIdx.x * I(blockDim.x) + threadIdx.x; p < packs; p += I(gridDim.x) * blockDim.x) {
    P s, b, r, o;
    if (src) s = reinterpret_cast<const P*>(src)[p];
    if (bias) b = reinterpret_cast<const P*>(bias)[p % row_packs];
    if (res) r = reinterpret_cast<const P*>(res)[p];
#pragma unroll
    for (int k = 0; k < N; ++k) {
      float v = src ? load(s.v, k) : 0.0f;
      if (bias) v += load(b.v, k);
      if (res) v += load(r.v, k);
      o.v[k] = store_as<T>(activate(act, v));
    }
    reinterpret_cast<P*>(y)[p] = o;
  }
}

cudaDataType_t lt_type(DataType t) {
  switch (t) {
    case DataType::kFloat16:
      return CUDA_R_16F;
    case DataType::kBFloat16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

// How the output batch maps onto cuBLASLt calls: each call is one strided batch of `count`
// matrices of `rows` x N; offsets (in elements) give each call's first a and b matrix.
struct BatchPlan {
  int64_t rows = 0, count = 1;
  int64_t stride_a = 0, stride_b = 0;  // elements between a batch's matrices (0: broadcast)
  std::vector<int64_t> a_offsets, b_offsets;
};

BatchPlan plan_batches(const MatMulShape& p) {
  BatchPlan plan;
  plan.rows = p.m;
  if (p.b_shared && !p.ta && p.a_batches == p.batches) {  // a's matrices stack into one [batches*M, K]
    plan.rows = p.batches * p.m;
    plan.a_offsets = plan.b_offsets = {0};
    return plan;
  }
  std::vector<int64_t> ext, sa, sb;  // batch dims without extents of 1
  for (size_t d = 0; d < p.batch.size(); ++d)
    if (p.batch[d] != 1) {
      ext.push_back(p.batch[d]);
      sa.push_back(p.sa[d]);
      sb.push_back(p.sb[d]);
    }
  // The innermost dims whose strides continue the inner ones' form the strided batch.
  size_t inner = ext.size();
  int64_t step_a = 0, step_b = 0;
  if (inner > 0) {
    --inner;
    plan.count = ext[inner];
    step_a = sa[inner];
    step_b = sb[inner];
    while (inner > 0 && sa[inner - 1] == step_a * plan.count && sb[inner - 1] == step_b * plan.count)
      plan.count *= ext[--inner];
  }
  plan.stride_a = step_a * p.m * p.k;
  plan.stride_b = step_b * p.k * p.n;
  std::vector<int64_t> oe(ext.begin(), ext.begin() + inner), oa(sa.begin(), sa.begin() + inner),
      ob(sb.begin(), sb.begin() + inner);
  int64_t calls = Dims(oe).volume();
  BatchWalker w(oe, oa, ob);
  for (int64_t i = 0; i < calls; ++i, w.next()) {
    plan.a_offsets.push_back(w.a() * p.m * p.k);
    plan.b_offsets.push_back(w.b() * p.k * p.n);
  }
  return plan;
}

void init_layout(cublasLtMatrixLayoutOpaque_t& l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld,
                 int64_t count, int64_t stride) {
  check_cublas(cublasLtMatrixLayoutInit(&l, t, rows, cols, ld), "describing a matrix layout");
  if (count == 1) return;
  int32_t c = static_cast<int32_t>(count);
  check_cublas(cublasLtMatrixLayoutSetAttribute(&l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &c, sizeof(c)),
               "setting a batch count");
  check_cublas(
      cublasLtMatrixLayoutSetAttribute(&l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
      "setting a batch stride");
}

class LtMatMul : public Kernel {
 public:
  explicit LtMatMul(const KernelSpec& s)
      : layer_(&s.layer),
        p_(s),
        plan_(plan_batches(p_)),
        type_(lt_type(s.inputs[0]->dtype)),
        esize_(element_size(s.inputs[0]->dtype)) {
    compute_ = s.inputs[0]->dtype == DataType::kFloat32 && s.config.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                               : CUBLAS_COMPUTE_32F;
    if (p_.batches * p_.m * p_.n == 0 || p_.k == 0) return;  // no cuBLASLt call (see run)
    if (plan_.count > INT32_MAX)
      throw Error(ErrorCode::kUnsupported, "layer '" + s.layer.name + "': more than 2^31 batch matrices");
    const int64_t m = plan_.rows, n = p_.n, k = p_.k;
    init_layout(lt_a_, type_, p_.tb ? k : n, p_.tb ? n : k, p_.tb ? k : n, plan_.count, plan_.stride_b);  // b
    init_layout(lt_b_, type_, p_.ta ? m : k, p_.ta ? k : m, p_.ta ? m : k, plan_.count, plan_.stride_a);  // a
    init_layout(lt_c_, type_, n, m, n, plan_.count, m * n);
    // Every pointer a call uses is a base pointer plus one of these byte offsets.
    for (size_t i = 0; i < plan_.a_offsets.size(); ++i)
      offset_bits_ |= uintptr_t(plan_.a_offsets[i] * esize_) | uintptr_t(plan_.b_offsets[i] * esize_) |
                      uintptr_t(i * plan_.count * m * n * esize_);
    offset_bits_ |= uintptr_t(plan_.stride_a * esize_) | uintptr_t(plan_.stride_b * esize_) | uintptr_t(m * n * esize_);

    size_t limit = kMaxLtWorkspace;
    if (s.config.workspace_size)
      limit = std::min(
          limit, s.config.workspace_size > kWorkspaceAlign ? s.config.workspace_size - kWorkspaceAlign : size_t(0));
    // Fold the epilogue into cuBLASLt where it computes exactly ours; fall back to the elementwise
    // kernel if no algorithm takes it.
    for (bool fold : {true, false}) {
      set_epilogue(fold);
      std::vector<cublasLtMatmulHeuristicResult_t> fast = heuristics(kFastAlign, limit, timed_algorithms(s.config));
      has_fast_ = !fast.empty();
      if (has_fast_) fast_ = fast.size() > 1 ? fastest(fast, s, limit, choice_) : fast[0];
      if (has_fast_) record_hint(s, kStoreKind, algo_hex(fast_.algo));
      std::vector<cublasLtMatmulHeuristicResult_t> any = heuristics(static_cast<uint32_t>(esize_), limit, 1);
      has_any_ = !any.empty();
      if (has_any_) any_ = any[0];
      if (has_any_) break;
    }
    if (!has_fast_ && !has_any_)
      throw Error(ErrorCode::kUnsupported, "layer '" + s.layer.name + "': cuBLASLt offers no algorithm for this " +
                                               to_string(s.inputs[0]->dtype) + " matrix multiply");
    size_t ws = std::max(has_fast_ ? fast_.workspaceSize : 0, has_any_ ? any_.workspaceSize : 0);
    workspace_ = ws ? ws + kWorkspaceAlign : 0;
  }

  size_t workspace_size() const override { return workspace_; }
  std::string choice() const override { return choice_; }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const int64_t total = out[0].numel();
    if (total == 0) return;
    const char* a = static_cast<const char*>(in[0].data);
    const char* b = static_cast<const char*>(in[1].data);
    const void* bias = p_.has_bias ? in[2].data : nullptr;
    const char* res = p_.has_residual ? static_cast<const char*>(in[3].data) : nullptr;
    char* c = static_cast<char*>(out[0].data);
    if (p_.k == 0) {
      post(nullptr, bias, res, c, total, p_.activation);
      return;
    }
    uintptr_t bits = offset_bits_ | reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) |
                     reinterpret_cast<uintptr_t>(c) | reinterpret_cast<uintptr_t>(bias) |
                     reinterpret_cast<uintptr_t>(res);
    bool fast = has_fast_ && bits % kFastAlign == 0;
    if (!fast && !has_any_)
      runtime_fail(*layer_, "cuBLASLt has no algorithm for operands not aligned to 16 bytes; pass aligned tensors");
    const cublasLtMatmulHeuristicResult_t& algo = fast ? fast_ : any_;

    cublasLtMatmulDescOpaque_t desc;  // per call, on the stack: run() may run on several threads at once
    describe(desc, folded_bias_ ? bias : nullptr);
    lt_calls(desc, algo, a, b, res, c, workspace);
    if (post_act_ != MatMulActivation::kNone || (bias && !folded_bias_))
      post(c, folded_bias_ ? nullptr : bias, nullptr, c, total, post_act_);
  }

 private:
  void set_epilogue(bool fold) {
    // With a residual (cuBLASLt's C) the activation runs afterwards, on a b + bias + residual: only
    // the bias, which commutes with C's addition, goes into cuBLASLt's epilogue.
    // cuBLASLt 13's float32 relu epilogues (32F and TF32 compute) turn a NaN into 0 (H200, run M of
    // benchmarks/RESULTS.md; relu keeps NaN, docs/layers.md): float32 adds the bias there and runs
    // relu afterwards. Its float16 and bfloat16 relu kept NaN in the same test.
    const bool relu = p_.activation == MatMulActivation::kRelu && !p_.has_residual && type_ != CUDA_R_32F;
    bool gelu = p_.activation == MatMulActivation::kGeluTanh && !p_.has_residual;
    if (!fold) {
      epilogue_ = CUBLASLT_EPILOGUE_DEFAULT;
      folded_bias_ = false;
      post_act_ = p_.activation;
      return;
    }
    // cuBLASLt's GELU is the tanh form, computed on the float32 accumulator and rounded once:
    // within 0.5 ulp in float16 and bfloat16 on the H200 (cuBLASLt 13; eager's addmm then gelu,
    // rounding twice, strays 1.6-2 ulp: benchmarks/gelu_epilogue_error.py), 1.5e-5 relative in
    // float32 (far below TF32's error, above exact float32's): TF32 folds it, and float16 and
    // bfloat16 do where rows are whole 16-byte words (N and K multiples of 8, as in transformers' MLPs):
    // for float16 products of N = 7 and 65 with a bias, the kernels cuBLASLt chose on an H100 were up
    // to 8 ulp off (run AK of benchmarks/RESULTS.md), so those run the formula afterwards, as exact float32 does.
    const bool aligned = p_.n % 8 == 0 && p_.k % 8 == 0;
    if (type_ == CUDA_R_32F ? compute_ != CUBLAS_COMPUTE_32F_FAST_TF32 : !aligned) gelu = false;
    folded_bias_ = p_.has_bias;
    post_act_ = relu || gelu ? MatMulActivation::kNone : p_.activation;
    if (relu)
      epilogue_ = p_.has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    else if (gelu)
      epilogue_ = p_.has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    else
      epilogue_ = p_.has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  }

  void describe(cublasLtMatmulDescOpaque_t& d, const void* bias) const {
    check_cublas(cublasLtMatmulDescInit(&d, compute_, CUDA_R_32F), "describing a matrix multiply");
    auto set = [&](cublasLtMatmulDescAttributes_t attr, const void* v, size_t size) {
      check_cublas(cublasLtMatmulDescSetAttribute(&d, attr, v, size), "describing a matrix multiply");
    };
    cublasOperation_t op_a = p_.tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = p_.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    set(CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a));
    set(CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b));
    set(CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue_, sizeof(epilogue_));
    if (folded_bias_) {
      int32_t t = type_;
      set(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof(t));
      set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
    }
  }

  // The cuBLASLt calls of one run with algorithm `algo` (`workspace` as run() gets it).
  void lt_calls(const cublasLtMatmulDescOpaque_t& desc_in, const cublasLtMatmulHeuristicResult_t& algo, const char* a,
                const char* b, const char* res, char* c, void* workspace) const {
    auto* desc = const_cast<cublasLtMatmulDescOpaque_t*>(&desc_in);  // cuBLASLt only reads it
    void* ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(workspace) + kWorkspaceAlign - 1) /
                                       kWorkspaceAlign * kWorkspaceAlign);
    // The residual is cuBLASLt's C, with beta = 1: D = a b + residual, then its epilogue.
    const float one = 1.0f, beta = res ? 1.0f : 0.0f;
    const int64_t c_step = plan_.count * plan_.rows * p_.n * esize_;
    cublasLtHandle_t h = cublaslt_handle();
    for (size_t i = 0; i < plan_.a_offsets.size(); ++i) {
      char* ci = c + i * c_step;
      const char* ri = res ? res + i * c_step : ci;
      check_cublas(
          cublasLtMatmul(h, desc, &one, b + plan_.b_offsets[i] * esize_, &lt_a_, a + plan_.a_offsets[i] * esize_,
                         &lt_b_, &beta, ri, &lt_c_, ci, &lt_c_, &algo.algo, ws, algo.workspaceSize, stream()),
          "running a matrix multiply");
    }
  }

  // What decides the timed choice, for sharing it between layers of the process.
  std::string algo_key(size_t limit) const {
    int dev = 0;
    check(cudaGetDevice(&dev), "querying the current device");
    std::string key = std::to_string(dev) + "|" + std::to_string(type_) + "|" + std::to_string(compute_) + "|" +
                      std::to_string(epilogue_) + "|" + std::to_string(p_.ta) + std::to_string(p_.tb) + "|" +
                      std::to_string(plan_.rows) + "," + std::to_string(p_.n) + "," + std::to_string(p_.k) + "," +
                      std::to_string(plan_.count) + "," + std::to_string(plan_.stride_a) + "," +
                      std::to_string(plan_.stride_b) + "," + std::to_string(plan_.a_offsets.size()) + "|" +
                      std::to_string(p_.has_residual) + "|" + std::to_string(limit);
    return key;
  }

  // Of the heuristic's `options` for aligned operands, the one that runs this layer fastest on
  // scratch data (median of 3 rounds of 5 calls), shared by the layers of the same key.
  // `why` says which one and its time against the heuristic's first.
  cublasLtMatmulHeuristicResult_t fastest(const std::vector<cublasLtMatmulHeuristicResult_t>& options,
                                          const KernelSpec& s, size_t limit, std::string& why) const {
    struct Chosen {
      cublasLtMatmulHeuristicResult_t algo;
      std::string why;
    };
    static ProcessCache<Chosen> chosen(4096);
    const std::string key = algo_key(limit);
    if (std::optional<Chosen> hit = chosen.find(key)) {
      why = hit->why + " [shared with an earlier layer]";
      return hit->algo;
    }
    // An earlier process's choice for this key, when it is still one of the heuristic's offers.
    const std::string dir = timing_cache_folder(s.config.timing_cache_dir);
    std::string stored;
    size_t index = 0;
    if (load_choice(dir, kStoreKind, key, stored) && parse_choice(stored, options, index, why)) {
      why += " (from the timing cache)";
      return chosen.insert(key, Chosen{options[index], why}).algo;
    }
    // A dynamic engine's plan off its opt sizes: the opt plan's algorithm where the heuristic offers
    // it here too, else the heuristic's first; untimed, and not shared (a static build times). Such
    // a plan times nothing, also where its opt plan made no choice to follow (a convolution the opt
    // plan took from its cache runs as this matrix multiply here).
    std::string hint;
    if (s.hints.follow) {
      followed_hint(s, kStoreKind, hint);
      size_t i = 0;
      while (i < options.size() && algo_hex(options[i].algo) != hint) ++i;
      why = i < options.size() ? "cuBLASLt algorithm " + std::to_string(i + 1) + " of the heuristic's " +
                                     std::to_string(options.size()) + " (the opt plan's choice, untimed)"
                               : "the heuristic's first (the opt plan's algorithm is not here; untimed)";
      return options[i < options.size() ? i : 0];
    }
    TimedPart part("matmul timing");
    auto bytes = [&](const ir::TensorDesc* t) { return std::max<size_t>(t->dims.volume() * esize_, 16); };
    device::Buffer a(DeviceKind::kCUDA, bytes(s.inputs[0])), b(DeviceKind::kCUDA, bytes(s.inputs[1])),
        c(DeviceKind::kCUDA, bytes(s.outputs[0])), bias(DeviceKind::kCUDA, std::max<size_t>(p_.n * esize_, 16)),
        res(DeviceKind::kCUDA, p_.has_residual ? bytes(s.outputs[0]) : 16);
    size_t ws_bytes = 0;
    for (const auto& o : options) ws_bytes = std::max(ws_bytes, o.workspaceSize);
    device::Buffer ws(DeviceKind::kCUDA, ws_bytes + kWorkspaceAlign);
    const DataType t = s.inputs[0]->dtype;
    fill_random(t, a.data(), s.inputs[0]->dims.volume(), 1);
    fill_random(t, b.data(), s.inputs[1]->dims.volume(), 2);
    fill_random(t, bias.data(), p_.n, 3);
    if (p_.has_residual) fill_random(t, res.data(), s.outputs[0]->dims.volume(), 4);
    cublasLtMatmulDescOpaque_t desc;
    describe(desc, folded_bias_ ? bias.data() : nullptr);
    size_t best = 0;
    float best_ms = 0, first_ms = 0;
    for (size_t i = 0; i < options.size(); ++i) {
      const float ms = median_ms([&] {
        lt_calls(desc, options[i], reinterpret_cast<const char*>(a.data()), reinterpret_cast<const char*>(b.data()),
                 p_.has_residual ? reinterpret_cast<const char*>(res.data()) : nullptr,
                 reinterpret_cast<char*>(c.data()), ws.data());
      }, timing_calls(s.config), 3, /*graph=*/true);
      if (i == 0) first_ms = ms;
      if (i == 0 || ms < best_ms) {
        best = i;
        best_ms = ms;
      }
    }
    why = "cuBLASLt algorithm " + std::to_string(best + 1) + " of the heuristic's " + std::to_string(options.size()) +
          " (timed: " + std::to_string(best_ms) + " ms, the first " + std::to_string(first_ms) + " ms)";
    store_choice(dir, kStoreKind, key, encode_choice(IndexedChoice{best, options.size(), algo_hex(options[best].algo), why}));
    return chosen.insert(key, Chosen{options[best], why}).algo;
  }

  static constexpr const char* kStoreKind = "cuBLASLt matmul";

  // The algorithm's bytes in hex: what a stored choice must still match.
  static std::string algo_hex(const cublasLtMatmulAlgo_t& algo) {
    static const char* kDigits = "0123456789abcdef";
    std::string hex;
    const auto* b = reinterpret_cast<const unsigned char*>(&algo);
    for (size_t i = 0; i < sizeof(algo); ++i) {
      hex += kDigits[b[i] >> 4];
      hex += kDigits[b[i] & 15];
    }
    return hex;
  }
  // Whether the stored `text` names one of `options` exactly (same list length, same algorithm
  // bytes at its index): then `index` and `why` are set. Anything else (another library's list, a
  // damaged entry) is a miss, and the layer is timed again.
  static bool parse_choice(const std::string& text, const std::vector<cublasLtMatmulHeuristicResult_t>& options,
                           size_t& index, std::string& why) {
    IndexedChoice c;
    if (!decode_choice(text, c) || c.count != options.size() || c.id != algo_hex(options[c.index].algo)) return false;
    index = c.index;
    why = c.why;
    return true;
  }

  // The heuristic's best algorithms (up to `want`) for pointers aligned to `align` bytes, best first;
  // asked once per process for each key (BERT-base's 72 products have four: loading its engine
  // asked 144 times, most of the 147 ms its matmul kernels took on the H200).
  std::vector<cublasLtMatmulHeuristicResult_t> heuristics(uint32_t align, size_t workspace_limit, int want) const {
    static ProcessCache<std::vector<cublasLtMatmulHeuristicResult_t>> lists(4096);
    const std::string key = algo_key(workspace_limit) + "|align " + std::to_string(align) + "|want " +
                            std::to_string(want) + "|bias " + std::to_string(folded_bias_);
    if (auto hit = lists.find(key)) return *hit;
    return lists.insert(key, ask_heuristic(align, workspace_limit, want));
  }
  std::vector<cublasLtMatmulHeuristicResult_t> ask_heuristic(uint32_t align, size_t workspace_limit, int want) const {
    cublasLtMatmulDescOpaque_t desc;
    // The heuristic reads the bias pointer's alignment from its value: an address aligned to exactly `align`.
    describe(desc, reinterpret_cast<const void*>(uintptr_t(align) * 1025));
    cublasLtMatmulPreferenceOpaque_t pref;
    check_cublas(cublasLtMatmulPreferenceInit(&pref), "creating matmul preferences");
    uint64_t ws = workspace_limit;
    check_cublas(cublasLtMatmulPreferenceSetAttribute(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
                 "setting the workspace limit");
    for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      check_cublas(cublasLtMatmulPreferenceSetAttribute(&pref, attr, &align, sizeof(align)), "setting an alignment");
    int found = 0;
    std::vector<cublasLtMatmulHeuristicResult_t> out(static_cast<size_t>(want));
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(cublaslt_handle(), &desc, &lt_a_, &lt_b_, &lt_c_, &lt_c_, &pref,
                                                       want, out.data(), &found);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) return {};
    check_cublas(st, "choosing a matrix multiply algorithm");
    out.resize(static_cast<size_t>(std::max(found, 0)));
    out.erase(std::remove_if(out.begin(), out.end(), [](const auto& r) { return r.state != CUBLAS_STATUS_SUCCESS; }),
              out.end());
    return out;
  }

  void post(const void* src, const void* bias, const void* res, void* y, int64_t total, MatMulActivation act) const {
    const int64_t rows = total / p_.n;
    const unsigned threads = static_cast<unsigned>(std::min<int64_t>(kThreads, (p_.n + 31) / 32 * 32));
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>((p_.n + threads - 1) / threads, 1024)),
                    static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
    dispatch_float([&](auto tag) {
      using T = typename decltype(tag)::type;
      constexpr int N = vec_width<T>();
      const bool vec = p_.n % N == 0 && total % N == 0 && pack_aligned<T, T>(src) && pack_aligned<T, T>(bias) &&
                       pack_aligned<T, T>(res) && pack_aligned<T, T>(y);
      const T *s = static_cast<const T*>(src), *b = static_cast<const T*>(bias), *r = static_cast<const T*>(res);
      T* o = static_cast<T*>(y);
      if (vec && total / N < (int64_t(1) << 30))  // pack index plus a grid stride stays in 31 bits
        bias_activation_vec<T, int32_t><<<blocks_for(total / N), kThreads, 0, stream()>>>(
            s, b, r, o, static_cast<int32_t>(total / N), static_cast<int32_t>(p_.n / N), act);
      else if (vec)
        bias_activation_vec<T, int64_t><<<blocks_for(total / N), kThreads, 0, stream()>>>(s, b, r, o, total / N,
                                                                                          p_.n / N, act);
      else
        bias_activation<T><<<grid, threads, 0, stream()>>>(static_cast<const T*>(src), static_cast<const T*>(bias),
                                                           static_cast<const T*>(res), static_cast<T*>(y), rows, p_.n,
                                                           act);
    });
    check_launch("launching the matmul bias/activation kernel");
  }

  template <class F>
  void dispatch_float(F&& f) const {
    if (type_ == CUDA_R_16F)
      f(Tag<__half>{});
    else if (type_ == CUDA_R_16BF)
      f(Tag<__nv_bfloat16>{});
    else
      f(Tag<float>{});
  }

  const ir::Layer* layer_;
  MatMulShape p_;
  BatchPlan plan_;
  cudaDataType_t type_;
  int64_t esize_;
  cublasComputeType_t compute_;
  // cuBLASLt's A (our b), B (our a), C and D. Mutable: cuBLASLt takes them by non-const pointer but
  // only reads them.
  mutable cublasLtMatrixLayoutOpaque_t lt_a_{}, lt_b_{}, lt_c_{};
  cublasLtEpilogue_t epilogue_ = CUBLASLT_EPILOGUE_DEFAULT;
  bool folded_bias_ = false;
  MatMulActivation post_act_ = MatMulActivation::kNone;  // applied after cuBLASLt
  cublasLtMatmulHeuristicResult_t fast_{}, any_{};
  bool has_fast_ = false, has_any_ = false;
  uintptr_t offset_bits_ = 0;
  size_t workspace_ = 0;
  std::string choice_;  // the timed algorithm choice, for the inspector
};

// ---- integers -------------------------------------------------------------------------------

constexpr int kTile = 16;

// Output batch dims and each operand's element stride along them (0 where broadcast).
struct IntBatch {
  int rank = 0;
  int64_t ext[kMaxDims] = {}, sa[kMaxDims] = {}, sb[kMaxDims] = {};
};

// One kTile x kTile output tile per block: tiles of op(A) and op(B) staged in shared memory, products
// summed as unsigned 64-bit (wrapping like the CPU kernel), then bias and relu.
template <class T>
__global__ void int_matmul(const T* a, const T* b, const T* bias, T* c, int64_t m, int64_t n, int64_t k, bool ta,
                           bool tb, bool relu, IntBatch batch, int64_t batches) {
  __shared__ T ta_s[kTile][kTile + 1], tb_s[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t ai = ta ? 1 : k, ap = ta ? m : 1, bp = tb ? 1 : n, bj = tb ? k : 1;
  const int64_t tiles_m = (m + kTile - 1) / kTile, tiles_n = (n + kTile - 1) / kTile;
  for (int64_t z = blockIdx.z; z < batches; z += gridDim.z) {
    int64_t oa = 0, ob = 0;
    for (int64_t d = batch.rank - 1, r = z; d >= 0; --d) {
      int64_t q = r / batch.ext[d], i = r - q * batch.ext[d];
      oa += i * batch.sa[d];
      ob += i * batch.sb[d];
      r = q;
    }
    const T* az = a + oa;
    const T* bz = b + ob;
    for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
      for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
        const int64_t i = tm * kTile + ty, j = tn * kTile + tx;
        uint64_t acc = 0;
        for (int64_t q0 = 0; q0 < k; q0 += kTile) {
          const int64_t aq = q0 + tx, bq = q0 + ty;
          ta_s[ty][tx] = i < m && aq < k ? az[i * ai + aq * ap] : T(0);
          tb_s[ty][tx] = bq < k && j < n ? bz[bq * bp + j * bj] : T(0);
          __syncthreads();
#pragma unroll
          for (int q = 0; q < kTile; ++q)
            acc += static_cast<uint64_t>(static_cast<int64_t>(ta_s[ty][q])) *
                   static_cast<uint64_t>(static_cast<int64_t>(tb_s[q][tx]));
          __syncthreads();
        }
        if (i < m && j < n) {
          if (bias) acc += static_cast<uint64_t>(static_cast<int64_t>(bias[j]));
          T v = static_cast<T>(acc);
          c[(z * m + i) * n + j] = relu && v < 0 ? T(0) : v;
        }
      }
  }
}

template <class T>
class IntMatMul : public Kernel {
 public:
  explicit IntMatMul(const KernelSpec& s) : p_(s) {
    batch_.rank = static_cast<int>(p_.batch.size());
    for (int d = 0; d < batch_.rank; ++d) {
      batch_.ext[d] = p_.batch[d];
      batch_.sa[d] = p_.sa[d] * p_.m * p_.k;
      batch_.sb[d] = p_.sb[d] * p_.k * p_.n;
    }
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (out[0].numel() == 0) return;
    auto grid = [](int64_t v, int64_t cap) { return static_cast<unsigned>(std::min(v, cap)); };
    dim3 blocks(grid((p_.n + kTile - 1) / kTile, INT32_MAX), grid((p_.m + kTile - 1) / kTile, 65535),
                grid(p_.batches, 65535));
    int_matmul<T><<<blocks, dim3(kTile, kTile), 0, stream()>>>(
        in[0].as<T>(), in[1].as<T>(), p_.has_bias ? in[2].as<T>() : nullptr, out[0].as<T>(), p_.m, p_.n, p_.k, p_.ta,
        p_.tb, p_.activation == MatMulActivation::kRelu, batch_, p_.batches);
    check_launch("launching int_matmul");
  }

 private:
  MatMulShape p_;
  IntBatch batch_;
};

}  // namespace

std::unique_ptr<Kernel> create_matmul(const KernelSpec& s) {
  DataType t = s.inputs[0]->dtype;
  if (t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16)
    return std::make_unique<LtMatMul>(s);
  return nullptr;
}

std::unique_ptr<Kernel> create_int_matmul(const KernelSpec& s) {
  switch (s.inputs[0]->dtype) {
    case DataType::kInt32:
      return std::make_unique<IntMatMul<int32_t>>(s);
    case DataType::kInt64:
      return std::make_unique<IntMatMul<int64_t>>(s);
    default:
      return nullptr;
  }
}

}  // namespace tensorforge::cuda
