// CPU quantize and dequantize kernels (docs/layers.md): the formulas of
// kernels/common/quantize_formulas.h over the data, the scale and the zero point broadcast to it.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "common/broadcast.h"
#include "kernels/common/matmul_epilogue.h"
#include "kernels/common/quantize_formulas.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/pointwise.h"

namespace tensorforge::cpu {

namespace {

// The scale's and the zero point's element offsets for each element of the data, walked in order.
class Params {
 public:
  explicit Params(const KernelSpec& s) : has_zero_(s.inputs.size() > 2 && s.inputs[2]) {
    strides_.push_back(broadcast_strides(s.inputs[1]->dims, s.outputs[0]->dims));
    strides_.push_back(has_zero_ ? broadcast_strides(s.inputs[2]->dims, s.outputs[0]->dims)
                                 : std::vector<int64_t>(s.outputs[0]->dims.rank(), 0));
  }
  // f(i, scale, zero_point) for every element i.
  template <class F>
  void each(const TensorView* in, const Dims& dims, F&& f) const {
    const float* scale = in[1].as<float>();
    const int32_t* zero = has_zero_ ? in[2].as<int32_t>() : nullptr;
    int64_t i = 0;
    for (BroadcastIter it(dims, strides_); !it.done(); it.next(), ++i)
      f(i, scale[it.offset(0)], zero ? static_cast<float>(zero[it.offset(1)]) : 0.0f);
  }

 private:
  bool has_zero_;
  std::vector<std::vector<int64_t>> strides_;
};

template <class T, class Q>
class QuantizeKernel : public Kernel {
 public:
  explicit QuantizeKernel(const KernelSpec& s) : params_(s), act_(parse_activation(s.layer)) {
    if constexpr (!std::is_same_v<Q, float8_e4m3_t>) {  // float8 has no integer range (inference checked)
      const int64_t qmin = ir::attr_int(s.layer, "qmin"), qmax = ir::attr_int(s.layer, "qmax");
      qmin_ = static_cast<float>(std::max<int64_t>(qmin, std::numeric_limits<Q>::min()));
      qmax_ = static_cast<float>(std::min<int64_t>(qmax, std::numeric_limits<Q>::max()));
    }
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    Q* q = out[0].as<Q>();
    params_.each(in, out[0].dims, [&](int64_t i, float scale, float zero) {
      // The activation's result rounded to x's dtype, as a layer of its own would write it.
      float v = static_cast<float>(load(x, i));
      if (act_ != MatMulActivation::kNone) {
        const T r = store_as<T>(kernels::matmul_activate(act_, v));
        v = static_cast<float>(load(&r, 0));
      }
      if constexpr (std::is_same_v<Q, float8_e4m3_t>)
        q[i] = to_float8_e4m3(kernels::quantize_float8_value(v, scale));
      else
        q[i] = static_cast<Q>(kernels::quantize_value(v, scale, zero, qmin_, qmax_));
    });
  }

 private:
  Params params_;
  MatMulActivation act_;  // applied before quantizing
  float qmin_ = 0, qmax_ = 0;
};

template <class Q, class T>
class DequantizeKernel : public Kernel {
 public:
  explicit DequantizeKernel(const KernelSpec& s) : params_(s) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const Q* q = in[0].as<Q>();
    T* y = out[0].as<T>();
    params_.each(in, out[0].dims, [&](int64_t i, float scale, float zero) {
      y[i] = store_as<T>(kernels::dequantize_value(load(q, i), scale, zero));
    });
  }

 private:
  Params params_;
};

template <template <class, class> class K, bool kFloatFirst>
std::unique_ptr<Kernel> make(const KernelSpec& s, DataType float_type, DataType int_type) {
  return dispatch_floating(float_type, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (kFloatFirst) {
      if (int_type == DataType::kUInt8) return std::make_unique<K<T, uint8_t>>(s);
      if (int_type == DataType::kFloat8E4M3) return std::make_unique<K<T, float8_e4m3_t>>(s);
      return std::make_unique<K<T, int8_t>>(s);
    } else {
      if (int_type == DataType::kUInt8) return std::make_unique<K<uint8_t, T>>(s);
      if (int_type == DataType::kFloat8E4M3) return std::make_unique<K<float8_e4m3_t, T>>(s);
      return std::make_unique<K<int8_t, T>>(s);
    }
  });
}

}  // namespace

std::unique_ptr<Kernel> create_quantize(const KernelSpec& s) {
  return make<QuantizeKernel, true>(s, s.inputs[0]->dtype, s.outputs[0]->dtype);
}

std::unique_ptr<Kernel> create_dequantize(const KernelSpec& s) {
  return make<DequantizeKernel, false>(s, s.outputs[0]->dtype, s.inputs[0]->dtype);
}

}  // namespace tensorforge::cpu
