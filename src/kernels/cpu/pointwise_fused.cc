// CPU fused pointwise layer: an interpreter of its program (ir/pointwise_program.h), a block of
// 256 elements at a time: the inputs of the block are gathered through their broadcast strides
// into float registers, each instruction runs over the block, the outputs are stored in their
// dtypes. The formulas are the shared table's, so this is also the reference the generated CUDA
// kernels are tested against.
#include <algorithm>
#include <atomic>
#include <cmath>

#include "common/half.h"
#include "ir/pointwise_program.h"
#include "kernels/common/pointwise_formulas.h"
#include "common/broadcast.h"
#include "kernels/cpu/pointwise.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vector_math.h"  // erff: the formulas' erf, vectorizable

namespace tensorforge::cpu {

namespace {

constexpr int64_t kBlock = 256;

using Unary = float (*)(float);
using Activation = float (*)(float, float, float);
using Binary = float (*)(float, float);

#define TF_UNARY_FN(NAME, EXPR) [](float x) -> float { return EXPR; },
#define TF_PREDICATE_FN(NAME, EXPR) [](float x) -> float { return (EXPR) ? 1.0f : 0.0f; },
#define TF_ACTIVATION_FN(NAME, EXPR) [](float x, float a, float b) -> float { return EXPR; },
#define TF_BINARY_FN(NAME, EXPR) [](float x, float y) -> float { return EXPR; },
#define TF_COMPARE_FN(NAME, EXPR) [](float x, float y) -> float { return (EXPR) ? 1.0f : 0.0f; },
const Unary kUnary[] = {TF_FLOAT_UNARY_OPS(TF_UNARY_FN)};
const Unary kPredicate[] = {TF_FLOAT_PREDICATE_OPS(TF_PREDICATE_FN)};
const Activation kActivation[] = {TF_FLOAT_ACTIVATIONS(TF_ACTIVATION_FN)};
const Binary kBinary[] = {TF_FLOAT_BINARY_OPS(TF_BINARY_FN)};
const Binary kCompare[] = {TF_FLOAT_COMPARISON_OPS(TF_COMPARE_FN)};
#undef TF_UNARY_FN
#undef TF_PREDICATE_FN
#undef TF_ACTIVATION_FN
#undef TF_BINARY_FN
#undef TF_COMPARE_FN

float load(const TensorView& t, int64_t i) {
  switch (t.dtype) {
    case DataType::kFloat32: return t.as<const float>()[i];
    case DataType::kFloat16: return to_float(t.as<const half_t>()[i]);
    case DataType::kBFloat16: return to_float(t.as<const bfloat16_t>()[i]);
    default: return t.as<const uint8_t>()[i] ? 1.0f : 0.0f;  // bool
  }
}

// v as a value of dtype t (float16/bfloat16 rounded to nearest even; bool is != 0), kept in float.
float round_to(DataType t, float v) {
  switch (t) {
    case DataType::kFloat16: return to_float(to_half(v));
    case DataType::kBFloat16: return to_float(to_bfloat16(v));
    case DataType::kBool: return v != 0.0f ? 1.0f : 0.0f;
    default: return v;
  }
}

void store(const TensorView& t, int64_t i, float v) {
  switch (t.dtype) {
    case DataType::kFloat32: t.as<float>()[i] = v; break;
    case DataType::kFloat16: t.as<half_t>()[i] = to_half(v); break;
    case DataType::kBFloat16: t.as<bfloat16_t>()[i] = to_bfloat16(v); break;
    default: t.as<uint8_t>()[i] = v != 0.0f; break;
  }
}

class FusedPointwiseKernel : public Kernel {
 public:
  explicit FusedPointwiseKernel(const KernelSpec& s) : p_(ir::compile_pointwise_body(ir::attr_string(s.layer, "body"))) {
    ir::apply_input_views(p_, ir::attr_ints(s.layer, "input_views"));
    // A concat's piece walks with its own contiguous strides (its offset at the element's
    // unshifted coordinates); one more walker per concat yields the coordinate along its axis.
    // An input read through a view walks with the view's strides from its offset, over the
    // iteration shape (the outputs', split into the view's finer dims).
    const ir::PwIteration iteration = ir::pointwise_iteration(p_);
    shape_ = iteration.shape;
    for (size_t k = 0; k < p_.input_dims.size(); ++k)
      strides_.push_back(p_.piece_of[k] >= 0 ? contiguous_strides(p_.input_dims[k]) : iteration.strides[k]);
    for (const ir::PwConcat& c : p_.concats) {
      std::vector<int64_t> axis(p_.shape.rank(), 0);
      axis[c.axis] = 1;
      strides_.push_back(axis);
    }
  }

  // Registers and walker offsets for one block: a slot per range of parallel_for().
  size_t slot_size() const { return p_.code.size() * kBlock * sizeof(float) + strides_.size() * kBlock * sizeof(int64_t); }
  size_t workspace_size() const override {
    return slot_size() * static_cast<size_t>(kRangesPerThread) * static_cast<size_t>(cpu_threads());
  }

  // Long programs split over the CPU threads in ranges of whole blocks (16K elements or more),
  // each range with a workspace slot of its own.
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const int64_t n = p_.shape.volume();
    if (n == 0) return;
    std::atomic<int64_t> slots{0};
    parallel_for((n + kBlock - 1) / kBlock, row_grain(kBlock), [&](int64_t b0, int64_t b1) {
      run_blocks(in, out, static_cast<char*>(workspace) + slots++ * slot_size(), b0 * kBlock,
                 std::min(n, b1 * kBlock));
    });
  }

 private:
  void run_blocks(const TensorView* in, const TensorView* out, void* slot, int64_t begin, int64_t end) const {
    float* regs = static_cast<float*>(slot);
    int64_t* offsets = reinterpret_cast<int64_t*>(regs + p_.code.size() * kBlock);  // per walker
    const int nin = static_cast<int>(p_.input_dtypes.size());
    const int walkers = static_cast<int>(strides_.size());
    BroadcastIter it(shape_, strides_, begin);
    for (int64_t base = begin; base < end; base += kBlock) {
      const int64_t m = std::min(kBlock, end - base);
      for (int64_t j = 0; j < m; ++j, it.next()) {
        for (int i = 0; i < walkers; ++i) offsets[i * kBlock + j] = it.offset(i);
        for (int i = 0; i < nin; ++i)
          if (p_.piece_of[i] < 0) regs[i * kBlock + j] = load(in[i], it.offset(i) + p_.view_offsets[i]);
      }
      for (size_t k = nin; k < p_.code.size(); ++k) {
        if (p_.code[k].op == ir::PwOp::kConcat)
          read_concat(p_.code[k].a, in, offsets, nin, regs + k * kBlock, m);
        else
          execute(p_.code[k], regs + k * kBlock, regs, m);
      }
      for (size_t o = 0; o < p_.outputs.size(); ++o) {
        const float* r = regs + p_.outputs[o] * kBlock;
        for (int64_t j = 0; j < m; ++j) store(out[o], base + j, r[j]);
      }
    }
  }

  static void execute(const ir::PwInstr& ins, float* r, const float* regs, int64_t m) {
    const float* a = ins.a >= 0 ? regs + ins.a * kBlock : nullptr;
    const float* b = ins.b >= 0 ? regs + ins.b * kBlock : nullptr;
    const float* c = ins.c >= 0 ? regs + ins.c * kBlock : nullptr;
    switch (ins.op) {
      case ir::PwOp::kUnary:
        for (int64_t j = 0; j < m; ++j) r[j] = kUnary[ins.fn](a[j]);
        break;
      case ir::PwOp::kPredicate:
        for (int64_t j = 0; j < m; ++j) r[j] = kPredicate[ins.fn](a[j]);
        break;
      case ir::PwOp::kActivation:
        for (int64_t j = 0; j < m; ++j) r[j] = kActivation[ins.fn](a[j], ins.alpha, ins.beta);
        break;
      case ir::PwOp::kBinary:
        for (int64_t j = 0; j < m; ++j) r[j] = kBinary[ins.fn](a[j], b[j]);
        break;
      case ir::PwOp::kCompare:
        for (int64_t j = 0; j < m; ++j) r[j] = kCompare[ins.fn](a[j], b[j]);
        break;
      case ir::PwOp::kSelect:
        for (int64_t j = 0; j < m; ++j) r[j] = a[j] != 0.0f ? b[j] : c[j];
        break;
      case ir::PwOp::kCast:
        for (int64_t j = 0; j < m; ++j) r[j] = round_to(ins.dtype, a[j]);
        break;
      case ir::PwOp::kInput:
      case ir::PwOp::kConcat:  // read_concat
        break;
    }
    // float16/bfloat16 values stay in float between instructions; they round at casts and stores.
  }

  // Concat `ci` at the block's elements: each from the piece its coordinate along the axis falls in.
  void read_concat(int ci, const TensorView* in, const int64_t* offsets, int nin, float* r, int64_t m) const {
    const ir::PwConcat& c = p_.concats[ci];
    const int64_t* coord = offsets + (nin + ci) * kBlock;
    for (int64_t j = 0; j < m; ++j) {
      size_t k = c.pieces.size() - 1;
      while (k > 0 && coord[j] < c.offsets[k]) --k;
      const int piece = c.pieces[k];
      const int64_t shift = c.offsets[k] * strides_[piece][c.axis];
      r[j] = load(in[piece], offsets[piece * kBlock + j] - shift);
    }
  }

  ir::PwProgram p_;
  Dims shape_;  // the iteration shape (ir::pointwise_iteration)
  std::vector<std::vector<int64_t>> strides_;  // per input, then per concat (its axis coordinate)
};

}  // namespace

std::unique_ptr<Kernel> create_pointwise_fused(const KernelSpec& s) { return std::make_unique<FusedPointwiseKernel>(s); }

}  // namespace tensorforge::cpu
