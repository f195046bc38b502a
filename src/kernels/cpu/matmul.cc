// CPU matmul: one sgemm per output batch matrix, with operand offsets computed from broadcast
// strides (a broadcast operand is never copied); a stacked a times one shared b folds into a single
// sgemm. The bias and activation are applied to the float32 result before it is stored, so a
// float16/bfloat16 output is rounded once (staged as float32 in the workspace). int32/int64 use a
// plain loop that wraps on overflow like PyTorch's.
#include <cmath>
#include <vector>

#include "common/broadcast.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matrix.h"
#include "kernels/matmul_shape.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/unary_loop.h"
#include "kernels/cpu/vector_math.h"  // erff, tanhf: vectorizable

namespace tensorforge::cpu {

namespace {

// C[batch] = op(A[batch]) op(B[batch]) over float32 buffers laid out as the layer's operands.
void float_matmul(const MatMulShape& p, const float* a, const float* b, float* c) {
  int64_t lda = p.ta ? p.m : p.k, ldb = p.tb ? p.k : p.n;
  if (p.b_shared && !p.ta && p.a_batches == p.batches) {  // rows of all a matrices form one [batches*M, K]
    sgemm(false, p.tb, p.batches * p.m, p.n, p.k, 1.0f, a, lda, b, ldb, 0.0f, c, p.n);
    return;
  }
  BatchWalker w(p.batch, p.sa, p.sb);
  for (int64_t i = 0; i < p.batches; ++i, w.next())
    sgemm(p.ta, p.tb, p.m, p.n, p.k, 1.0f, a + w.a() * p.m * p.k, lda, b + w.b() * p.k * p.n, ldb, 0.0f,
          c + i * p.m * p.n, p.n);
}

// The activation over n floats in place, through the map loop the activation kernels use (built
// for AVX2 and FMA beside the baseline: GELU's erf vectorizes).
void activate_all(MatMulActivation act, float* c, int64_t n) {
  switch (act) {
    case MatMulActivation::kRelu:
      map_range(c, c, 0, n, [](float x) { return x > 0.0f ? x : (x != x ? x : 0.0f); });
      break;
    case MatMulActivation::kGelu:
      map_range(c, c, 0, n, [](float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); });
      break;
    case MatMulActivation::kGeluTanh:  // sqrt(2/pi)
      map_range(c, c, 0, n,
                [](float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))); });
      break;
    case MatMulActivation::kNone:
      break;
  }
}

// c[i, j] = act(c[i, j] + bias[j] + residual[i, j]) over `rows` rows of n floats; bias and residual
// may be nullptr.
template <class T>
void float_epilogue(const MatMulShape& p, const T* bias, const T* residual, int64_t rows, float* c) {
  if (!bias && !residual && p.activation == MatMulActivation::kNone) return;
  // Rows split over the CPU threads (a transformer's GELU runs here once fuse_epilogues folds it);
  // the sums, then the activation, each a loop the compiler vectorizes.
  parallel_for(rows, row_grain(p.n), [&](int64_t i0, int64_t i1) {
    if (bias || residual)
      for (int64_t i = i0; i < i1; ++i) {
        float* ci = c + i * p.n;
        if (bias)
          for (int64_t j = 0; j < p.n; ++j) ci[j] += static_cast<float>(load(bias, j));
        if (residual)
          for (int64_t j = 0; j < p.n; ++j) ci[j] += static_cast<float>(load(residual, i * p.n + j));
      }
    activate_all(p.activation, c + i0 * p.n, (i1 - i0) * p.n);
  });
}

template <class T>
const T* optional_input(const TensorView* in, bool present, int i) {
  return present ? in[i].as<T>() : nullptr;
}

class FloatMatMul : public Kernel {
 public:
  explicit FloatMatMul(const KernelSpec& s) : p_(s) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (out[0].numel() == 0) return;
    float_matmul(p_, in[0].as<float>(), in[1].as<float>(), out[0].as<float>());
    float_epilogue(p_, optional_input<float>(in, p_.has_bias, 2), optional_input<float>(in, p_.has_residual, 3),
                   p_.batches * p_.m, out[0].as<float>());
  }

 private:
  MatMulShape p_;
};

// float16 / bfloat16: both operands and the result are staged as float32 in the workspace.
template <class T>
class StagedMatMul : public Kernel {
 public:
  explicit StagedMatMul(const KernelSpec& s)
      : p_(s), na_(s.inputs[0]->dims.volume()), nb_(s.inputs[1]->dims.volume()), nc_(s.outputs[0]->dims.volume()) {}
  size_t workspace_size() const override { return static_cast<size_t>(na_ + nb_ + nc_) * sizeof(float); }
  void run(const TensorView* in, const TensorView* out, void* ws) const override {
    if (nc_ == 0) return;
    float* a = static_cast<float*>(ws);
    float* b = a + na_;
    float* c = b + nb_;
    load_floats(in[0].as<T>(), na_, a);
    load_floats(in[1].as<T>(), nb_, b);
    float_matmul(p_, a, b, c);
    float_epilogue(p_, optional_input<T>(in, p_.has_bias, 2), optional_input<T>(in, p_.has_residual, 3),
                   p_.batches * p_.m, c);
    store_floats(c, nc_, out[0].as<T>());
  }

 private:
  MatMulShape p_;
  int64_t na_, nb_, nc_;
};

// Integers: exact products (and the bias) summed with wrap-around (unsigned arithmetic, so no signed
// overflow); relu is the only activation integers take.
template <class T>
class IntMatMul : public Kernel {
 public:
  explicit IntMatMul(const KernelSpec& s) : p_(s) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (out[0].numel() == 0) return;
    const T* a0 = in[0].as<T>();
    const T* b0 = in[1].as<T>();
    T* c = out[0].as<T>();
    const T* bias = p_.has_bias ? in[2].as<T>() : nullptr;
    const bool relu = p_.activation == MatMulActivation::kRelu;
    const int64_t m = p_.m, n = p_.n, k = p_.k;
    // Element strides of op(A) (rows i, cols p) and op(B) (rows p, cols j).
    const int64_t ai = p_.ta ? 1 : k, ap = p_.ta ? m : 1, bp = p_.tb ? 1 : n, bj = p_.tb ? k : 1;
    BatchWalker w(p_.batch, p_.sa, p_.sb);
    for (int64_t batch = 0; batch < p_.batches; ++batch, w.next()) {
      const T* a = a0 + w.a() * m * k;
      const T* b = b0 + w.b() * k * n;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          uint64_t acc = 0;
          for (int64_t q = 0; q < k; ++q)
            acc += static_cast<uint64_t>(static_cast<int64_t>(a[i * ai + q * ap])) *
                   static_cast<uint64_t>(static_cast<int64_t>(b[q * bp + j * bj]));
          if (bias) acc += static_cast<uint64_t>(static_cast<int64_t>(bias[j]));
          T v = static_cast<T>(acc);
          *c++ = relu && v < 0 ? T(0) : v;
        }
    }
  }

 private:
  MatMulShape p_;
};

}  // namespace

std::unique_ptr<Kernel> create_matmul(const KernelSpec& s) {
  switch (s.inputs[0]->dtype) {
    case DataType::kFloat32: return std::make_unique<FloatMatMul>(s);
    case DataType::kFloat16: return std::make_unique<StagedMatMul<half_t>>(s);
    case DataType::kBFloat16: return std::make_unique<StagedMatMul<bfloat16_t>>(s);
    case DataType::kInt32: return std::make_unique<IntMatMul<int32_t>>(s);
    case DataType::kInt64: return std::make_unique<IntMatMul<int64_t>>(s);
    default: return nullptr;
  }
}

}  // namespace tensorforge::cpu
