// CPU activation kernels (and prelu). alpha/beta meanings follow docs/layers.md; the formulas and
// constants are PyTorch's (selu's alpha and scale, softplus's linear region past the threshold).
#include <algorithm>
#include <cmath>

#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/pointwise.h"
#include "kernels/cpu/unary_loop.h"

namespace tensorforge::cpu {

namespace {

template <class T>
std::unique_ptr<Kernel> make_typed(const std::string& op, double alpha, double beta) {
  using C = compute_t<T>;
  if constexpr (!std::is_same_v<T, bool>) {
    if (op == "relu") return make_map<T, T>([](C x) { return x > C(0) ? x : (x != x ? x : C(0)); });
    if (op == "clip") {
      C lo = static_cast<C>(alpha), hi = static_cast<C>(beta);
      if constexpr (!is_float_storage_v<T>) {
        lo = static_cast<C>(std::ceil(alpha));
        hi = static_cast<C>(std::floor(beta));
      }
      return make_map<T, T>([lo, hi](C x) { return x != x ? x : std::min(std::max(x, lo), hi); });
    }
  }
  if constexpr (is_float_storage_v<T>) {
    const float a = static_cast<float>(alpha), b = static_cast<float>(beta);
    if (op == "sigmoid") return make_map<T, T>([](float x) { return 1.0f / (1.0f + std::exp(-x)); });
    if (op == "gelu_erf")
      return make_map<T, T>([](float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); });
    if (op == "gelu_tanh")
      return make_map<T, T>([](float x) {
        const float k = 0.7978845608028654f;  // sqrt(2/pi)
        return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
      });
    if (op == "silu") return make_map<T, T>([](float x) { return x / (1.0f + std::exp(-x)); });
    if (op == "leaky_relu") return make_map<T, T>([a](float x) { return x > 0 ? x : x * a; });
    if (op == "elu") return make_map<T, T>([a](float x) { return x > 0 ? x : a * std::expm1(x); });
    if (op == "celu") return make_map<T, T>([a](float x) { return x > 0 ? x : a * std::expm1(x / a); });
    if (op == "selu")
      return make_map<T, T>([](float x) {
        const float alpha = 1.6732632423543772f, scale = 1.0507009873554805f;
        return scale * (x > 0 ? x : alpha * std::expm1(x));
      });
    if (op == "softplus")
      return make_map<T, T>([a, b](float x) { return x * a > b ? x : std::log1p(std::exp(x * a)) / a; });
    if (op == "hardswish") return make_map<T, T>([](float x) { return x * std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f; });
    if (op == "hardsigmoid") return make_map<T, T>([](float x) { return std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f; });
    if (op == "mish")
      return make_map<T, T>([](float x) {
        float sp = x > 20.0f ? x : std::log1p(std::exp(x));
        return x * std::tanh(sp);
      });
    if (op == "softsign") return make_map<T, T>([](float x) { return x / (1.0f + std::fabs(x)); });
  }
  return nullptr;
}

template <class T>
class PReluKernel : public Kernel {
 public:
  explicit PReluKernel(const KernelSpec& s)
      : same_(s.inputs[0]->dims == s.inputs[1]->dims),
        ss_(broadcast_strides(s.inputs[1]->dims, s.outputs[0]->dims)) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    const T* w = in[1].as<T>();
    T* y = out[0].as<T>();
    int64_t i = 0;
    if (same_) {
      for (int64_t n = out[0].numel(); i < n; ++i) y[i] = apply(load(x, i), load(w, i));
      return;
    }
    for (BroadcastIter it(out[0].dims, {ss_}); !it.done(); it.next(), ++i) y[i] = apply(load(x, i), load(w, it.offset(0)));
  }

 private:
  static T apply(float x, float w) { return store_as<T>(x > 0 ? x : x * w); }
  bool same_;
  std::vector<int64_t> ss_;
};

}  // namespace

std::unique_ptr<Kernel> create_activation(const KernelSpec& s) {
  const std::string& op = ir::attr_string(s.layer, "op");
  double alpha = ir::attr_float(s.layer, "alpha"), beta = ir::attr_float(s.layer, "beta");
  return dispatch(s.inputs[0]->dtype,
                  [&](auto tag) { return make_typed<typename decltype(tag)::type>(op, alpha, beta); });
}

std::unique_ptr<Kernel> create_prelu(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<PReluKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
