// CPU unary kernels. Float-only ops compute in float (float16/bfloat16 too); rounding is
// half-to-even as in torch.round; floor/ceil/round/trunc on integers are the identity.
#include <cmath>

#include "kernels/cpu/pointwise.h"
#include "kernels/cpu/unary_loop.h"

namespace tensorforge::cpu {

namespace {

template <class T>
std::unique_ptr<Kernel> make_typed(const std::string& op) {
  using C = compute_t<T>;
  if constexpr (is_float_storage_v<T>) {
    if (op == "exp") return make_map<T, T>([](C x) { return std::exp(x); });
    if (op == "log") return make_map<T, T>([](C x) { return std::log(x); });
    if (op == "log2") return make_map<T, T>([](C x) { return std::log2(x); });
    if (op == "log10") return make_map<T, T>([](C x) { return std::log10(x); });
    if (op == "log1p") return make_map<T, T>([](C x) { return std::log1p(x); });
    if (op == "expm1") return make_map<T, T>([](C x) { return std::expm1(x); });
    if (op == "sqrt") return make_map<T, T>([](C x) { return std::sqrt(x); });
    if (op == "rsqrt") return make_map<T, T>([](C x) { return 1.0f / std::sqrt(x); });
    if (op == "reciprocal") return make_map<T, T>([](C x) { return 1.0f / x; });
    if (op == "sin") return make_map<T, T>([](C x) { return std::sin(x); });
    if (op == "cos") return make_map<T, T>([](C x) { return std::cos(x); });
    if (op == "tan") return make_map<T, T>([](C x) { return std::tan(x); });
    if (op == "asin") return make_map<T, T>([](C x) { return std::asin(x); });
    if (op == "acos") return make_map<T, T>([](C x) { return std::acos(x); });
    if (op == "atan") return make_map<T, T>([](C x) { return std::atan(x); });
    if (op == "sinh") return make_map<T, T>([](C x) { return std::sinh(x); });
    if (op == "cosh") return make_map<T, T>([](C x) { return std::cosh(x); });
    if (op == "tanh") return make_map<T, T>([](C x) { return std::tanh(x); });
    if (op == "asinh") return make_map<T, T>([](C x) { return std::asinh(x); });
    if (op == "acosh") return make_map<T, T>([](C x) { return std::acosh(x); });
    if (op == "atanh") return make_map<T, T>([](C x) { return std::atanh(x); });
    if (op == "erf") return make_map<T, T>([](C x) { return std::erf(x); });
    if (op == "floor") return make_map<T, T>([](C x) { return std::floor(x); });
    if (op == "ceil") return make_map<T, T>([](C x) { return std::ceil(x); });
    if (op == "round") return make_map<T, T>([](C x) { return std::nearbyint(x); });
    if (op == "trunc") return make_map<T, T>([](C x) { return std::trunc(x); });
    if (op == "isnan") return make_map<T, bool>([](C x) { return std::isnan(x); });
    if (op == "isinf") return make_map<T, bool>([](C x) { return std::isinf(x); });
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
