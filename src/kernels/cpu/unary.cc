// CPU unary kernels. Floating inputs use the formulas of kernels/common/pointwise_formulas.h in
// float (float16/bfloat16 too; rounding is half-to-even as in torch.round); on integers
// floor/ceil/round/trunc are the identity.
#include <cmath>

#include "kernels/common/pointwise_formulas.h"
#include "kernels/cpu/pointwise.h"
#include "kernels/cpu/unary_loop.h"
#include "kernels/cpu/vector_math.h"  // erff: the formulas' erf, vectorizable

namespace tensorforge::cpu {

namespace {

template <class T>
std::unique_ptr<Kernel> make_typed(const std::string& op) {
  using C = compute_t<T>;
  if constexpr (is_float_storage_v<T>) {
#define TF_CASE(NAME, EXPR) \
  if (op == NAME) return make_map<T, T>([](float x) -> float { return EXPR; });
    TF_FLOAT_UNARY_OPS(TF_CASE)
#undef TF_CASE
#define TF_CASE(NAME, EXPR) \
  if (op == NAME) return make_map<T, bool>([](float x) -> bool { return EXPR; });
    TF_FLOAT_PREDICATE_OPS(TF_CASE)
#undef TF_CASE
  } else {
    if (op == "floor" || op == "ceil" || op == "round" || op == "trunc") return make_map<T, T>([](C x) { return x; });
    if (op == "isnan" || op == "isinf") return make_map<T, bool>([](C) { return false; });
  }
  if constexpr (!std::is_same_v<T, bool>) {
    if (op == "abs") return make_map<T, T>([](C x) { return x < C(0) ? C(-x) : x; });
    if (op == "neg") return make_map<T, T>([](C x) { return C(-x); });
    if (op == "sign") return make_map<T, T>([](C x) { return C((C(0) < x) - (x < C(0))); });
  }
  if (op == "not") return make_map<T, bool>([](C x) { return x == C(0); });
  return nullptr;
}

}  // namespace

std::unique_ptr<Kernel> create_unary(const KernelSpec& s) {
  const std::string& op = ir::attr_string(s.layer, "op");
  return dispatch(s.inputs[0]->dtype, [&](auto tag) { return make_typed<typename decltype(tag)::type>(op); });
}

}  // namespace tensorforge::cpu
