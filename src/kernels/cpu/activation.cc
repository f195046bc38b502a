// CPU activation kernels (and prelu). alpha/beta meanings follow docs/layers.md; on floats the
// formulas are those of kernels/common/pointwise_formulas.h (PyTorch's constants and forms); relu
// and clip also take integers.
#include <algorithm>
#include <cmath>

#include "kernels/common/pointwise_formulas.h"
#include "common/broadcast.h"
#include "kernels/cpu/pointwise.h"
#include "kernels/cpu/unary_loop.h"
#include "kernels/cpu/vector_math.h"  // erff: the formulas' erf, vectorizable

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
#define TF_CASE(NAME, EXPR) \
  if (op == NAME) return make_map<T, T>([a, b](float x) -> float { return EXPR; });
    TF_FLOAT_ACTIVATIONS(TF_CASE)
#undef TF_CASE
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
