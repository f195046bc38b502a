// CPU reduce kernel: sum, mean, prod, max, min, any, all over a set of axes, walking the input in place
// (kept dims outside, reduced dims inside; see axis_view.h). Float sums and products accumulate in
// double, integer ones in 64-bit unsigned arithmetic then wrap to the width (as PyTorch's in-type
// overflow does); max/min propagate NaN; an empty reduction gives the op's identity (mean: NaN).
// any/all may first apply a float predicate to each element (the "prologue": isinf(x).any()).
#include "kernels/layer_attrs.h"
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/common/axis_view.h"
#include "ir/reduce_prologue.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/reduce.h"

namespace tensorforge::cpu {

namespace {

template <class T, class Out, class Acc, class Step, class Finish>
class ReduceKernel : public Kernel {
 public:
  ReduceKernel(const ReducePlan& p, Acc init, Step step, Finish finish)
      : plan_(p), init_(init), step_(step), finish_(finish) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    Out* y = out[0].as<Out>();
    int64_t o = 0;
    plan_.kept.for_each(0, [&](int64_t base) {
      Acc acc = init_;
      plan_.reduced.for_each(base, [&](int64_t off) { acc = step_(acc, load(x, off)); });
      y[o++] = store_as<Out>(finish_(acc));
    });
  }

 private:
  ReducePlan plan_;
  Acc init_;
  Step step_;
  Finish finish_;
};

template <class T, class Out, class Acc, class Step, class Finish>
std::unique_ptr<Kernel> make(const ReducePlan& p, Acc init, Step step, Finish finish) {
  return std::make_unique<ReduceKernel<T, Out, Acc, Step, Finish>>(p, init, step, finish);
}

template <class T>
std::unique_ptr<Kernel> make_typed(const std::string& op, const ReducePlan& p, int prologue) {
  using C = compute_t<T>;
  auto same = [](auto a) { return a; };
  if constexpr (is_float_storage_v<T> && !std::is_same_v<T, double>) {
    if (prologue > 0 && op == "any")
      return make<T, bool>(p, false, [prologue](bool a, C v) { return a || reduce_prologue(prologue, float(v)); }, same);
    if (prologue > 0 && op == "all")
      return make<T, bool>(p, true, [prologue](bool a, C v) { return a && reduce_prologue(prologue, float(v)); }, same);
  }
  if (prologue != 0) return nullptr;
  if (op == "any") return make<T, bool>(p, false, [](bool a, C v) { return a || v != C(0); }, same);
  if (op == "all") return make<T, bool>(p, true, [](bool a, C v) { return a && v != C(0); }, same);
  if (op == "max" || op == "min") {
    const bool is_max = op == "max";
    C init = is_max ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    if constexpr (std::is_floating_point_v<C>) init = is_max ? -INFINITY : INFINITY;
    if (is_max) return make<T, T>(p, init, [](C a, C v) { return (v > a || v != v) ? v : a; }, same);
    return make<T, T>(p, init, [](C a, C v) { return (v < a || v != v) ? v : a; }, same);
  }
  if constexpr (!std::is_same_v<T, bool>) {
    using Acc = std::conditional_t<is_float_storage_v<T>, double, uint64_t>;
    auto plus = [](Acc a, C v) { return a + static_cast<Acc>(v); };
    if (op == "sum") return make<T, T>(p, Acc(0), plus, same);
    if (op == "prod") return make<T, T>(p, Acc(1), [](Acc a, C v) { return a * static_cast<Acc>(v); }, same);
    if constexpr (is_float_storage_v<T>)
      if (op == "mean") {
        const double n = static_cast<double>(p.reduced.count());
        return make<T, T>(p, Acc(0), plus, [n](Acc a) { return a / n; });
      }
  }
  return nullptr;
}

}  // namespace

std::unique_ptr<Kernel> create_reduce(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  std::vector<bool> reduced = reduced_dims(s);
  ReducePlan p = reduce_plan(d, reduced);
  const std::string& op = ir::attr_string(s.layer, "op");
  const int prologue = reduce_prologue_code(ir::attr_string(s.layer, "prologue"));
  return dispatch(s.inputs[0]->dtype,
                  [&](auto tag) { return make_typed<typename decltype(tag)::type>(op, p, prologue); });
}

}  // namespace tensorforge::cpu
