// CPU cumsum along one axis. Floats accumulate in double (PyTorch's CPU accumulation type for float32 is
// double too) and round on store; integers accumulate in 64-bit unsigned arithmetic and wrap to their
// own width, as an in-type PyTorch cumsum does.
#include <type_traits>

#include "kernels/common/axis_view.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/reduce.h"

namespace tensorforge::cpu {

namespace {

template <class T>
class CumSumKernel : public Kernel {
 public:
  explicit CumSumKernel(const AxisView& v) : v_(v) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    using Acc = std::conditional_t<is_float_storage_v<T>, double, uint64_t>;
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    for (int64_t o = 0; o < v_.outer; ++o)
      for (int64_t i = 0; i < v_.inner; ++i) {
        Acc acc = 0;
        for (int64_t j = 0, off = v_.offset(o, 0, i); j < v_.extent; ++j, off += v_.inner) {
          acc += static_cast<Acc>(load(x, off));
          y[off] = store_as<T>(acc);
        }
      }
  }

 private:
  AxisView v_;
};

}  // namespace

std::unique_ptr<Kernel> create_cumsum(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  AxisView v = axis_view(d, norm_axis(ir::attr_int(s.layer, "axis"), d.rank()));
  return make_non_bool<CumSumKernel>(s.inputs[0]->dtype, v);
}

}  // namespace tensorforge::cpu
