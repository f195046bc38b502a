// CPU quantized_convolution (docs/layers.md): int8 x by an int8 weight, each output's sum exact in
// int32, then act(sum * scale[k] + bias[k] + residual) in float32 (kernels/common/matmul_epilogue.h,
// quantized_matmul's epilogue), rounded once to the output dtype (int8: half to even, saturated). A direct loop over the window
// (either layout), output rows split across the CPU threads; the residual, int8 or float, times
// residual_scale (1 without one): the reference the CUDA kernels are
// tested against, not a fast path (CPU engines keep convolutions in float: the fusion is CUDA's).
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/common/matmul_epilogue.h"
#include "kernels/common/quantize_formulas.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/spatial.h"
#include "kernels/quantized_conv_shape.h"

namespace tensorforge::cpu {

namespace {

// T: the output's element type; R: the residual's (T when there is none).
template <class T, class R>
class QuantizedConvKernel : public Kernel {
 public:
  explicit QuantizedConvKernel(const KernelSpec& s) : p_(s) {}

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int8_t* x = in[0].as<int8_t>();
    const int8_t* wt = in[1].as<int8_t>();
    const float* scale = in[2].as<float>();
    const float* bias = p_.has_bias ? in[3].as<float>() : nullptr;
    const R* residual = p_.has_residual ? in[4].as<R>() : nullptr;
    const float rs = p_.has_residual_scale ? *in[5].as<float>() : 1.0f;
    T* y = out[0].as<T>();
    parallel_for(p_.n * p_.oh, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t row = lo; row < hi; ++row) {
        const int64_t b = row / p_.oh, i = row % p_.oh;
        for (int64_t j = 0; j < p_.ow; ++j)
          for (int64_t kk = 0; kk < p_.k; ++kk) {
            const int32_t sum = p_.window_sum(x, wt, b, kk, i, j);
            const int64_t at = p_.y_at(b, kk, i, j);
            const float v = kernels::quantized_epilogue(static_cast<float>(sum), scale[kk], bias ? bias[kk] : 0.0f,
                                                        residual ? static_cast<float>(load(residual, at)) * rs : 0.0f,
                                                        p_.activation);
            if constexpr (std::is_same_v<T, int8_t>)
              y[at] = static_cast<int8_t>(kernels::quantize_value(v, 1.0f, 0.0f, -128.0f, 127.0f));
            else
              y[at] = store_as<T>(v);
          }
      }
    });
  }

 private:
  QuantizedConvShape p_;
};

// The kernel for output type T and the layer's residual type (int8, T, or with int8 outputs any float).
template <class T>
std::unique_ptr<Kernel> with_residual_type(const KernelSpec& s) {
  const QuantizedConvShape p(s);
  if (!p.has_residual) return std::make_unique<QuantizedConvKernel<T, T>>(s);
  if (p.residual_dtype == DataType::kInt8) return std::make_unique<QuantizedConvKernel<T, int8_t>>(s);
  return dispatch_floating(p.residual_dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<QuantizedConvKernel<T, typename decltype(tag)::type>>(s);
  });
}

}  // namespace

std::unique_ptr<Kernel> create_quantized_convolution(const KernelSpec& s) {
  if (s.outputs[0]->dtype == DataType::kInt8) return with_residual_type<int8_t>(s);
  return dispatch_floating(s.outputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return with_residual_type<typename decltype(tag)::type>(s);
  });
}

}  // namespace tensorforge::cpu
