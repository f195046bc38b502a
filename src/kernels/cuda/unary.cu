// CUDA unary and activation kernels: the same ops and formulas as the CPU kernels (float16 and
// bfloat16 computed in float; round is half-to-even), as device lambdas over map_kernel.
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
    TF_UNARY("exp", expf(x))
    TF_UNARY("log", logf(x))
    TF_UNARY("log2", log2f(x))
    TF_UNARY("log10", log10f(x))
    TF_UNARY("log1p", log1pf(x))
    TF_UNARY("expm1", expm1f(x))
    TF_UNARY("sqrt", sqrtf(x))
    TF_UNARY("rsqrt", 1.0f / sqrtf(x))
    TF_UNARY("reciprocal", 1.0f / x)
    TF_UNARY("sin", sinf(x))
    TF_UNARY("cos", cosf(x))
    TF_UNARY("tan", tanf(x))
    TF_UNARY("asin", asinf(x))
    TF_UNARY("acos", acosf(x))
    TF_UNARY("atan", atanf(x))
    TF_UNARY("sinh", sinhf(x))
    TF_UNARY("cosh", coshf(x))
    TF_UNARY("tanh", tanhf(x))
    TF_UNARY("asinh", asinhf(x))
    TF_UNARY("acosh", acoshf(x))
    TF_UNARY("atanh", atanhf(x))
    TF_UNARY("erf", erff(x))
    TF_UNARY("floor", floorf(x))
    TF_UNARY("ceil", ceilf(x))
    TF_UNARY("round", rintf(x))
    TF_UNARY("trunc", truncf(x))
    if (op == "isnan") return make_map<T, bool>([] __device__(float x) { return x != x; });
    if (op == "isinf") return make_map<T, bool>([] __device__(float x) { return isinf(x); });
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
    TF_ACT("sigmoid", 1.0f / (1.0f + expf(-x)))
    TF_ACT("gelu_erf", 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)))
    TF_ACT("gelu_tanh", 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))))
    TF_ACT("silu", x / (1.0f + expf(-x)))
    TF_ACT("leaky_relu", x > 0 ? x : x * a)
    TF_ACT("elu", x > 0 ? x : a * expm1f(x))
    TF_ACT("celu", x > 0 ? x : a * expm1f(x / a))
    TF_ACT("selu", 1.0507009873554805f * (x > 0 ? x : 1.6732632423543772f * expm1f(x)))
    TF_ACT("softplus", x * a > b ? x : log1pf(expf(x * a)) / a)
    TF_ACT("hardswish", x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f)
    TF_ACT("hardsigmoid", fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f)
    TF_ACT("mish", x * tanhf(x > 20.0f ? x : log1pf(expf(x))))
    TF_ACT("softsign", x / (1.0f + fabsf(x)))
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
