// CUDA unary and activation kernels: on floats the formulas of kernels/common/pointwise_formulas.h,
// as the CPU kernels use them (float16 and bfloat16 computed in float; round is half-to-even), as
// device lambdas over map_kernel; integers as the CPU kernels.
#include "kernels/common/pointwise_formulas.h"
#include "kernels/cuda/map.cuh"
#include "kernels/cuda/pointwise.cuh"

namespace tensorforge::cuda {

namespace {

#define TF_UNARY(NAME, EXPR) \
  if (op == NAME) return make_map<T, T>([] __device__(float x) -> float { return EXPR; });

template <class T>
std::unique_ptr<Kernel> make_unary(const std::string& op) {
  using C = compute_t<T>;
  if constexpr (is_float_v<T>) {
    TF_FLOAT_UNARY_OPS(TF_UNARY)
#define TF_PREDICATE(NAME, EXPR) \
  if (op == NAME) return make_map<T, bool>([] __device__(float x) -> bool { return EXPR; });
    TF_FLOAT_PREDICATE_OPS(TF_PREDICATE)
#undef TF_PREDICATE
  } else {
    if (op == "floor" || op == "ceil" || op == "round" || op == "trunc")
      return make_map<T, T>([] __device__(C x) { return x; });
    if (op == "isnan" || op == "isinf") return make_map<T, bool>([] __device__(C) { return false; });
  }
  if constexpr (!std::is_same_v<T, bool>) {
    if (op == "abs") return make_map<T, T>([] __device__(C x) { return x < C(0) ? C(-x) : x; });
    if (op == "neg") return make_map<T, T>([] __device__(C x) { return C(-x); });
    if (op == "sign") return make_map<T, T>([] __device__(C x) { return C((C(0) < x) - (x < C(0))); });
  }
  if (op == "not") return make_map<T, bool>([] __device__(C x) { return x == C(0); });
  return nullptr;
}
#undef TF_UNARY

#define TF_ACT(NAME, EXPR) \
  if (op == NAME) return make_map<T, T>([a, b] __device__(float x) -> float { return EXPR; });

template <class T>
std::unique_ptr<Kernel> make_activation(const std::string& op, float a, float b) {
  using C = compute_t<T>;
  if constexpr (!std::is_same_v<T, bool>) {
    if (op == "relu") return make_map<T, T>([] __device__(C x) { return x > C(0) ? x : (x != x ? x : C(0)); });
    if (op == "clip") {
      C lo = is_float_v<T> ? C(a) : C(ceilf(a)), hi = is_float_v<T> ? C(b) : C(floorf(b));
      return make_map<T, T>([lo, hi] __device__(C x) { return x != x ? x : (x < lo ? lo : (x > hi ? hi : x)); });
    }
  }
  if constexpr (is_float_v<T>) {
    TF_FLOAT_ACTIVATIONS(TF_ACT)
  }
  return nullptr;
}
#undef TF_ACT

}  // namespace

std::unique_ptr<Kernel> create_unary(const KernelSpec& s) {
  const std::string& op = ir::attr_string(s.layer, "op");
  return dispatch(s.inputs[0]->dtype, [&](auto tag) { return make_unary<typename decltype(tag)::type>(op); });
}

std::unique_ptr<Kernel> create_activation(const KernelSpec& s) {
  const std::string& op = ir::attr_string(s.layer, "op");
  float a = static_cast<float>(ir::attr_float(s.layer, "alpha")), b = static_cast<float>(ir::attr_float(s.layer, "beta"));
  return dispatch(s.inputs[0]->dtype,
                  [&](auto tag) { return make_activation<typename decltype(tag)::type>(op, a, b); });
}

}  // namespace tensorforge::cuda
