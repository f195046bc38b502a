// CUDA quantized_convolution, the direct kernel (docs/layers.md): one thread per output element,
// the window's int8 products summed exactly in int32, then quantized_matmul's epilogue
// (kernels/common/matmul_epilogue.h) rounded to the output dtype (int8: half to even, saturated). Any layout, groups, stride,
// padding and dilation: `cuda.quantized_conv.direct`, the fallback for the layers cuDNN's int8
// convolution (quantized_conv_cudnn.cc) refuses, and for builds without the cuDNN frontend. Slow on
// large layers (no tensor cores); fuse_quantized_conv only makes layers cuDNN takes.
#include <cstdint>
#include <type_traits>

#include "kernels/common/matmul_epilogue.h"
#include "kernels/common/quantize_formulas.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/quantized_conv_shape.h"
#include "runtime/device.h"

namespace tensorforge::cuda {

namespace {

// T: the output's element type; R: the residual's (T when there is none), times *residual_scale.
template <class T, class R>
__global__ void quantized_conv_direct(QuantizedConvShape p, const int8_t* __restrict__ x, const int8_t* __restrict__ w,
                                      const float* __restrict__ scale, const float* __restrict__ bias,
                                      const R* __restrict__ residual, const float* __restrict__ residual_scale,
                                      T* __restrict__ y) {
  const int64_t total = p.n * p.k * p.oh * p.ow;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    // Decompose in the output's memory order, so neighbouring threads write neighbouring elements.
    int64_t b, kk, i, j;
    if (p.last) {
      kk = e % p.k;
      j = e / p.k % p.ow;
      i = e / (p.k * p.ow) % p.oh;
      b = e / (p.k * p.ow * p.oh);
    } else {
      j = e % p.ow;
      i = e / p.ow % p.oh;
      kk = e / (p.ow * p.oh) % p.k;
      b = e / (p.ow * p.oh * p.k);
    }
    const int32_t sum = p.window_sum(x, w, b, kk, i, j);
    const float res =
        residual ? __fmul_rn(static_cast<float>(load(residual, e)), residual_scale ? *residual_scale : 1.0f) : 0.0f;
    const float v = kernels::quantized_epilogue(float(sum), scale[kk], bias ? bias[kk] : 0.0f, res, p.activation);
    if constexpr (std::is_same_v<T, int8_t>)
      y[e] = static_cast<int8_t>(kernels::quantize_value(v, 1.0f, 0.0f, -128.0f, 127.0f));
    else
      y[e] = store_as<T>(v);
  }
}

template <class T, class R>
class QuantizedConvDirect : public Kernel {
 public:
  explicit QuantizedConvDirect(const KernelSpec& s) : p_(s) {}

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = p_.n * p_.k * p_.oh * p_.ow;
    if (total == 0) return;
    quantized_conv_direct<T, R><<<blocks_for(total), kThreads, 0, stream()>>>(
        p_, in[0].as<int8_t>(), in[1].as<int8_t>(), in[2].as<float>(), p_.has_bias ? in[3].as<float>() : nullptr,
        p_.has_residual ? in[4].as<R>() : nullptr, p_.has_residual_scale ? in[5].as<float>() : nullptr,
        out[0].as<T>());
    check_launch("quantized_convolution (direct)");
  }

 private:
  QuantizedConvShape p_;
};

template <class T>
std::unique_ptr<Kernel> with_residual_type(const KernelSpec& s) {
  const QuantizedConvShape p(s);
  switch (p.has_residual ? p.residual_dtype : s.outputs[0]->dtype) {
    case DataType::kInt8: return std::make_unique<QuantizedConvDirect<T, int8_t>>(s);
    case DataType::kFloat32: return std::make_unique<QuantizedConvDirect<T, float>>(s);
    case DataType::kFloat16: return std::make_unique<QuantizedConvDirect<T, __half>>(s);
    case DataType::kBFloat16: return std::make_unique<QuantizedConvDirect<T, __nv_bfloat16>>(s);
    default: return nullptr;
  }
}

}  // namespace

std::unique_ptr<Kernel> create_quantized_conv_direct(const KernelSpec& s) {
  switch (s.outputs[0]->dtype) {
    case DataType::kFloat32: return with_residual_type<float>(s);
    case DataType::kFloat16: return with_residual_type<__half>(s);
    case DataType::kBFloat16: return with_residual_type<__nv_bfloat16>(s);
    case DataType::kInt8: return with_residual_type<int8_t>(s);
    default: return nullptr;
  }
}

}  // namespace tensorforge::cuda
