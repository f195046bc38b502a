// CPU elementwise binary kernel: numpy broadcasting, one instantiation per (dtype, op); floats use
// the formulas of kernels/common/pointwise_formulas.h.
// Same-shape operands take a flat loop; scalars and general broadcasts walk a BroadcastIter.
#include <cmath>

#include "ir/ops/op_names.h"
#include "kernels/common/pointwise_formulas.h"
#include "common/broadcast.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/pointwise.h"
#include "kernels/cpu/parallel.h"

namespace tensorforge::cpu {

namespace {

template <class T, class Out, class F>
class BinaryKernel : public Kernel {
 public:
  BinaryKernel(const KernelSpec& s, F f)
      : f_(f),
        same_(s.inputs[0]->dims == s.inputs[1]->dims),
        sa_(broadcast_strides(s.inputs[0]->dims, s.outputs[0]->dims)),
        sb_(broadcast_strides(s.inputs[1]->dims, s.outputs[0]->dims)) {
    // Rows: the output's innermost dim, along which each operand is contiguous or constant (a
    // bias over [M, N], a scalar); the broadcast walk then moves once per row, not per element.
    const Dims& d = s.outputs[0]->dims;
    if (d.rank() >= 1 && d[d.rank() - 1] >= kMinRow) {
      row_ = d[d.rank() - 1];
      std::vector<int64_t> outer = d.vec();
      outer.pop_back();
      outer_ = Dims(outer);
      outer_sa_.assign(sa_.begin(), sa_.end() - 1);
      outer_sb_.assign(sb_.begin(), sb_.end() - 1);
    }
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* a = in[0].as<T>();
    const T* b = in[1].as<T>();
    Out* o = out[0].as<Out>();
    if (same_) {
      parallel_for(out[0].numel(), row_grain(1), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) o[i] = store_as<Out>(f_(load(a, i), load(b, i)));
      });
      return;
    }
    if (row_ > 0) {
      if (out[0].numel() == 0) return;
      const bool ra = sa_.back() != 0, rb = sb_.back() != 0;
      Out* po = o;
      for (BroadcastIter it(outer_, {outer_sa_, outer_sb_}); !it.done(); it.next(), po += row_) {
        const T* pa = a + it.offset(0);
        const T* pb = b + it.offset(1);
        if (ra && rb) {
          for (int64_t j = 0; j < row_; ++j) po[j] = store_as<Out>(f_(load(pa, j), load(pb, j)));
        } else if (ra) {
          const auto vb = load(pb, 0);
          for (int64_t j = 0; j < row_; ++j) po[j] = store_as<Out>(f_(load(pa, j), vb));
        } else if (rb) {
          const auto va = load(pa, 0);
          for (int64_t j = 0; j < row_; ++j) po[j] = store_as<Out>(f_(va, load(pb, j)));
        } else {
          const Out v = store_as<Out>(f_(load(pa, 0), load(pb, 0)));
          for (int64_t j = 0; j < row_; ++j) po[j] = v;
        }
      }
      return;
    }
    int64_t i = 0;
    for (BroadcastIter it(out[0].dims, {sa_, sb_}); !it.done(); it.next(), ++i)
      o[i] = store_as<Out>(f_(load(a, it.offset(0)), load(b, it.offset(1))));
  }

 private:
  static constexpr int64_t kMinRow = 8;  // shorter rows keep the per-element walk
  F f_;
  bool same_;
  std::vector<int64_t> sa_, sb_;
  int64_t row_ = 0;  // > 0: run row by row (see the constructor)
  Dims outer_;
  std::vector<int64_t> outer_sa_, outer_sb_;
};

template <class T, class Out, class F>
std::unique_ptr<Kernel> make(const KernelSpec& s, F f) {
  return std::make_unique<BinaryKernel<T, Out, F>>(s, f);
}

// Integer power as PyTorch computes it: a negative exponent gives 1 for base 1, +-1 for base -1
// (by the exponent's parity) and 0 for every other base; products wrap to the width.
template <class C>
C int_pow(C base, C exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if (base == C(-1)) return (exp & 1) ? C(-1) : C(1);
    return 0;
  }
  C r = 1;
  while (exp) {
    if (exp & 1) r *= base;
    base *= base;
    exp >>= 1;
  }
  return r;
}

template <class T>
std::unique_ptr<Kernel> make_typed(const KernelSpec& s, const std::string& op) {
  using C = compute_t<T>;
  const ir::Layer* L = &s.layer;
  constexpr bool kFloat = is_float_storage_v<T>;
  if constexpr (kFloat) {  // floats: the shared formula table, in float
#define TF_CASE(NAME, EXPR) \
  if (op == NAME) return make<T, T>(s, [](float x, float y) -> float { return EXPR; });
    TF_FLOAT_BINARY_OPS(TF_CASE)
#undef TF_CASE
#define TF_CASE(NAME, EXPR) \
  if (op == NAME) return make<T, bool>(s, [](float x, float y) -> bool { return EXPR; });
    TF_FLOAT_COMPARISON_OPS(TF_CASE)
#undef TF_CASE
  }
  if constexpr (!std::is_same_v<T, bool>) {
    if (op == "add") return make<T, T>(s, [](C a, C b) { return C(a + b); });
    if (op == "sub") return make<T, T>(s, [](C a, C b) { return C(a - b); });
    if (op == "mul") return make<T, T>(s, [](C a, C b) { return C(a * b); });
    if (op == "min")
      return make<T, T>(s, [](C a, C b) {
        if constexpr (kFloat)
          if (std::isnan(a) || std::isnan(b)) return C(NAN);
        return a < b ? a : b;
      });
    if (op == "max")
      return make<T, T>(s, [](C a, C b) {
        if constexpr (kFloat)
          if (std::isnan(a) || std::isnan(b)) return C(NAN);
        return a > b ? a : b;
      });
    if constexpr (kFloat) {
      if (op == "div") return make<T, T>(s, [](C a, C b) { return a / b; });
      if (op == "floor_div") return make<T, T>(s, [](C a, C b) { return std::floor(a / b); });
      if (op == "mod")
        return make<T, T>(s, [](C a, C b) {
          C r = std::fmod(a, b);
          return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
        });
      if (op == "pow") return make<T, T>(s, [](C a, C b) { return std::pow(a, b); });
    } else {
      auto check = [L](C b) {
        if (b == 0) runtime_fail(*L, "integer division by zero");
      };
      if (op == "div")
        return make<T, T>(s, [check](C a, C b) {
          check(b);
          return C(a / b);
        });
      if (op == "floor_div")
        return make<T, T>(s, [check](C a, C b) {
          check(b);
          C q = a / b;
          return C((a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q);
        });
      if (op == "mod")
        return make<T, T>(s, [check](C a, C b) {
          check(b);
          C r = a % b;
          return C((r != 0 && ((r < 0) != (b < 0))) ? r + b : r);
        });
      if (op == "pow") return make<T, T>(s, [](C a, C b) { return C(int_pow<C>(a, b)); });
    }
  }
  if (op == "eq") return make<T, bool>(s, [](C a, C b) { return a == b; });
  if (op == "ne") return make<T, bool>(s, [](C a, C b) { return a != b; });
  if (op == "lt") return make<T, bool>(s, [](C a, C b) { return a < b; });
  if (op == "le") return make<T, bool>(s, [](C a, C b) { return a <= b; });
  if (op == "gt") return make<T, bool>(s, [](C a, C b) { return a > b; });
  if (op == "ge") return make<T, bool>(s, [](C a, C b) { return a >= b; });
  if (op == "logical_and") return make<T, bool>(s, [](C a, C b) { return a != C(0) && b != C(0); });
  if (op == "logical_or") return make<T, bool>(s, [](C a, C b) { return a != C(0) || b != C(0); });
  if (op == "logical_xor") return make<T, bool>(s, [](C a, C b) { return (a != C(0)) != (b != C(0)); });
  return nullptr;
}

}  // namespace

std::unique_ptr<Kernel> create_elementwise(const KernelSpec& s) {
  const std::string& op = ir::attr_string(s.layer, "op");
  return dispatch(s.inputs[0]->dtype, [&](auto tag) { return make_typed<typename decltype(tag)::type>(s, op); });
}

}  // namespace tensorforge::cpu
