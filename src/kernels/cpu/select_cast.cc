// CPU select (where, broadcasting all three operands), cast, fill and arange kernels.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/common/float_to_int.h"
#include "common/broadcast.h"
#include "kernels/cpu/pointwise.h"
#include "kernels/cpu/unary_loop.h"

namespace tensorforge::cpu {

namespace {

class SelectKernel : public Kernel {
 public:
  explicit SelectKernel(const KernelSpec& s) : size_(element_size(s.outputs[0]->dtype)) {
    for (int i = 0; i < 3; ++i) strides_.push_back(broadcast_strides(s.inputs[i]->dims, s.outputs[0]->dims));
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const bool* c = in[0].as<bool>();
    const uint8_t* a = in[1].as<uint8_t>();
    const uint8_t* b = in[2].as<uint8_t>();
    uint8_t* o = out[0].as<uint8_t>();
    int64_t i = 0;
    for (BroadcastIter it(out[0].dims, strides_); !it.done(); it.next(), ++i)
      std::memcpy(o + i * size_, c[it.offset(0)] ? a + it.offset(1) * size_ : b + it.offset(2) * size_, size_);
  }

 private:
  size_t size_;
  std::vector<std::vector<int64_t>> strides_;
};

// float -> integer conversion follows PyTorch on x86 (kernels/common/float_to_int.h).
template <class Out, class C>
Out convert(C v) {
  if constexpr (std::is_floating_point_v<C> && std::is_integral_v<Out> && !std::is_same_v<Out, bool>) {
    return kernels::float_to_int<Out>(static_cast<double>(v));
  } else if constexpr (std::is_same_v<Out, bool>) {
    return v != C(0);
  } else {
    return store_as<Out>(v);
  }
}

template <class T, class Out>
class FillLikeKernel : public Kernel {
 public:
  FillLikeKernel(double start, double step) : start_(start), step_(step) {}
  void run(const TensorView*, const TensorView* out, void*) const override {
    Out* y = out[0].as<Out>();
    int64_t n = out[0].numel();
    for (int64_t i = 0; i < n; ++i) y[i] = convert<Out>(start_ + step_ * static_cast<double>(i));
  }

 private:
  double start_, step_;
};

std::unique_ptr<Kernel> make_fill_like(DataType t, double start, double step) {
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using Out = typename decltype(tag)::type;
    return std::make_unique<FillLikeKernel<double, Out>>(start, step);
  });
}

}  // namespace

std::unique_ptr<Kernel> create_select(const KernelSpec& s) { return std::make_unique<SelectKernel>(s); }

// Casts to and from float8_e4m3fn (the other side a float type, as inference requires): through
// float32, rounded to nearest even (to_float8_e4m3, PyTorch's conversion).
std::unique_ptr<Kernel> create_float8_cast(DataType from, DataType to) {
  auto same = [](float v) { return v; };
  if (is_float8(from) && is_float8(to)) return make_map<float8_e4m3_t, float8_e4m3_t>(same);
  const bool to_float8 = is_float8(to);
  return dispatch_floating(to_float8 ? from : to, [&](auto tag) -> std::unique_ptr<Kernel> {
    using F = typename decltype(tag)::type;
    if (to_float8) return make_map<F, float8_e4m3_t>(same);
    return make_map<float8_e4m3_t, F>(same);
  });
}

std::unique_ptr<Kernel> create_cast(const KernelSpec& s) {
  if (is_float8(s.inputs[0]->dtype) || is_float8(s.outputs[0]->dtype))
    return create_float8_cast(s.inputs[0]->dtype, s.outputs[0]->dtype);
  return dispatch(s.inputs[0]->dtype, [&](auto in_tag) {
    using T = typename decltype(in_tag)::type;
    return dispatch(s.outputs[0]->dtype, [&](auto out_tag) {
      using Out = typename decltype(out_tag)::type;
      return make_map<T, Out>([](compute_t<T> v) -> compute_t<Out> {
        if constexpr (is_float_storage_v<Out>)
          return static_cast<compute_t<Out>>(v);
        else
          return convert<Out>(v);
      });
    });
  });
}

std::unique_ptr<Kernel> create_fill(const KernelSpec& s) {
  return make_fill_like(s.outputs[0]->dtype, ir::attr_float(s.layer, "value"), 0.0);
}

std::unique_ptr<Kernel> create_arange(const KernelSpec& s) {
  return make_fill_like(s.outputs[0]->dtype, ir::attr_float(s.layer, "start"), ir::attr_float(s.layer, "step"));
}

}  // namespace tensorforge::cpu
