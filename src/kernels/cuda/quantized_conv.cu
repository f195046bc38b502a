// CUDA quantized_convolution, the direct kernel (docs/layers.md): one thread per output element,
// the window's int8 products summed exactly in int32, then quantized_matmul's epilogue
// (kernels/common/matmul_epilogue.h) rounded to the output dtype (int8: half to even, saturated). Any layout, groups, stride,
// padding and dilation: `cuda.quantized_conv.direct`, the fallback for the layers cuDNN's int8
// convolution (quantized_conv_cudnn.cc) and the small-channel kernel refuse, and for builds without
// the cuDNN frontend. Slow on large layers (no tensor cores); fuse_quantized_conv only makes layers
// those two take. Also here: `cuda.quantized_conv.small_channels`, stems of 1-3 int8 channels on
// the tensor cores (conv_small_channels.cu).
#include <cstdint>
#include <type_traits>

#include "kernels/common/matmul_epilogue.h"
#include "kernels/common/quantize_formulas.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"
#include "kernels/quantized_conv_shape.h"
#include "runtime/device.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_quantized_conv_direct(const KernelSpec& s);

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

// Channels-last ungrouped layers of 1-3 input channels (a quantized stem, which cuDNN's int8
// convolution refuses) through the small-channel kernel's int8 tensor-core form (conv.h); calls
// whose output or residual is not 16-byte aligned go to the direct kernel.
class QuantizedConvSmall : public Kernel {
 public:
  static std::unique_ptr<Kernel> create(const KernelSpec& s) {
    const QuantizedConvShape p(s);
    if (!p.last || p.groups != 1 || p.c % 4 == 0) return nullptr;
    const SmallConvGeometry g{p.n, p.h, p.w, p.c, p.oh, p.ow, p.k, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw};
    if (!quantized_conv_small_channels_fits(s.outputs[0]->dtype, g)) return nullptr;
    std::unique_ptr<Kernel> fallback = create_quantized_conv_direct(s);
    if (!fallback) return nullptr;
    return std::unique_ptr<Kernel>(new QuantizedConvSmall(p, g, s.outputs[0]->dtype, std::move(fallback)));
  }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const void* residual = p_.has_residual ? in[4].data : nullptr;
    if (reinterpret_cast<uintptr_t>(out[0].data) % 16 || reinterpret_cast<uintptr_t>(residual) % 16) {
      fallback_->run(in, out, workspace);
      return;
    }
    quantized_conv_small_channels_nhwc(out_, p_.residual_dtype, in[0].data, in[1].data, in[2].data,
                                       p_.has_bias ? in[3].data : nullptr, residual,
                                       p_.has_residual_scale ? in[5].data : nullptr, out[0].data, g_, p_.activation);
  }

 private:
  QuantizedConvSmall(const QuantizedConvShape& p, const SmallConvGeometry& g, DataType out,
                     std::unique_ptr<Kernel> fallback)
      : p_(p), g_(g), out_(out), fallback_(std::move(fallback)) {}
  QuantizedConvShape p_;
  SmallConvGeometry g_;
  DataType out_;
  std::unique_ptr<Kernel> fallback_;
};

}  // namespace

std::unique_ptr<Kernel> create_quantized_conv_small_channels(const KernelSpec& s) { return QuantizedConvSmall::create(s); }

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
