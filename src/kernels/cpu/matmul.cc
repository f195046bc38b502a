// CPU matmul: one sgemm per output batch matrix, with operand offsets computed from broadcast
// strides (a broadcast operand is never copied); a stacked a times one shared b folds into a single
// sgemm. float16/bfloat16 are staged as float32 in the workspace; int32/int64 use a plain loop that
// wraps on overflow like PyTorch's.
#include <vector>

#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matrix.h"

namespace tensorforge::cpu {

namespace {

// Shapes and batch strides of one matmul layer; shared by every dtype.
struct MatMulShape {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  std::vector<int64_t> batch, sa, sb;  // output batch extents; a/b strides in matrices (0 = broadcast)
  int64_t batches = 1, a_batches = 1;  // output and a batch volumes
  bool b_shared = false;               // b has a single matrix

  explicit MatMulShape(const KernelSpec& s)
      : ta(ir::attr_int(s.layer, "transpose_a") != 0), tb(ir::attr_int(s.layer, "transpose_b") != 0) {
    const Dims &a = s.inputs[0]->dims, &b = s.inputs[1]->dims, &o = s.outputs[0]->dims;
    int ra = a.rank(), ro = o.rank();
    m = o[ro - 2];
    n = o[ro - 1];
    k = ta ? a[ra - 2] : a[ra - 1];
    std::vector<int64_t> av = a.vec(), bv = b.vec(), ov = o.vec();
    batch.assign(ov.begin(), ov.end() - 2);
    Dims ab(std::vector<int64_t>(av.begin(), av.end() - 2)), bb(std::vector<int64_t>(bv.begin(), bv.end() - 2));
    Dims ob(batch);
    sa = broadcast_strides(ab, ob);
    sb = broadcast_strides(bb, ob);
    batches = ob.volume();
    a_batches = ab.volume();
    b_shared = bb.volume() == 1;
  }
};

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

class FloatMatMul : public Kernel {
 public:
  explicit FloatMatMul(const KernelSpec& s) : p_(s) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (out[0].numel() == 0) return;
    float_matmul(p_, in[0].as<float>(), in[1].as<float>(), out[0].as<float>());
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
    store_floats(c, nc_, out[0].as<T>());
  }

 private:
  MatMulShape p_;
  int64_t na_, nb_, nc_;
};

// Integers: exact products summed with wrap-around (unsigned arithmetic, so no signed overflow).
template <class T>
class IntMatMul : public Kernel {
 public:
  explicit IntMatMul(const KernelSpec& s) : p_(s) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (out[0].numel() == 0) return;
    const T* a0 = in[0].as<T>();
    const T* b0 = in[1].as<T>();
    T* c = out[0].as<T>();
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
          *c++ = static_cast<T>(acc);
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
