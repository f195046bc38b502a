// CPU argmax / argmin along one axis: int64 index of the first extreme value, NaN counting as the
// extreme (the first NaN wins), as PyTorch. Inference guarantees a non-empty axis.
#include <cmath>

#include "kernels/common/axis_view.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/reduce.h"

namespace tensorforge::cpu {

namespace {

template <class T>
class ArgReduceKernel : public Kernel {
 public:
  ArgReduceKernel(const AxisView& v, bool is_max) : v_(v), max_(is_max) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    int64_t* y = out[0].as<int64_t>();
    for (int64_t o = 0; o < v_.outer; ++o)
      for (int64_t i = 0; i < v_.inner; ++i) {
        const int64_t base = v_.offset(o, 0, i);
        auto best = load(x, base);
        int64_t at = 0;
        for (int64_t j = 1; j < v_.extent && best == best; ++j) {
          auto v = load(x, base + j * v_.inner);
          if (v != v || (max_ ? v > best : v < best)) best = v, at = j;
        }
        y[o * v_.inner + i] = at;
      }
  }

 private:
  AxisView v_;
  bool max_;
};

}  // namespace

std::unique_ptr<Kernel> create_arg_reduce(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  AxisView v = axis_view(d, norm_axis(ir::attr_int(s.layer, "axis"), d.rank()));
  const bool is_max = ir::attr_string(s.layer, "op") == "argmax";
  return make_non_bool<ArgReduceKernel>(s.inputs[0]->dtype, v, is_max);
}

}  // namespace tensorforge::cpu
