// CUDA cast: every dtype to every dtype, with the CPU engine's rules (float to integer as PyTorch
// on x86, kernels/common/float_to_int.h; anything to bool is != 0); float8_e4m3fn to and from the
// float types, rounded to nearest even and saturated (past 448 and infinities to +-448, NaN kept), as
// PyTorch 2.13's conversion and the CPU's (common/float8.h).
#include <cuda_fp8.h>

#include "kernels/common/float_to_int.h"
#include "kernels/cuda/map.cuh"
#include "kernels/cuda/pointwise.cuh"

namespace tensorforge::cuda {

namespace {

template <class Out, class C>
__device__ compute_t<Out> convert(C v) {
  if constexpr (is_float_v<Out>) {
    return static_cast<float>(v);
  } else if constexpr (std::is_same_v<Out, bool>) {
    return v != C(0);
  } else if constexpr (std::is_floating_point_v<C>) {
    return kernels::float_to_int<Out>(static_cast<double>(v));
  } else {
    return static_cast<Out>(v);
  }
}

template <class Out>
struct Convert {
  template <class C>
  __device__ compute_t<Out> operator()(C v) const {
    return convert<Out>(v);
  }
};

// One element a thread: kToFloat8 converts F to float8_e4m3fn bytes, else the bytes to F.
template <class F, bool kToFloat8>
__global__ void float8_cast(const void* __restrict__ x, void* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (kToFloat8) {
      const float v = static_cast<float>(load(static_cast<const F*>(x), i));
      static_cast<uint8_t*>(y)[i] = __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
    } else {
      __nv_fp8_e4m3 v;
      v.__x = static_cast<const uint8_t*>(x)[i];
      static_cast<F*>(y)[i] = store_as<F>(static_cast<float>(v));
    }
  }
}

template <class F, bool kToFloat8>
class Float8CastKernel : public Kernel {
 public:
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t n = out[0].numel();
    if (!n) return;
    float8_cast<F, kToFloat8><<<blocks_for(n), kThreads, 0, stream()>>>(in[0].data, out[0].data, n);
    check_launch("launching a float8 cast");
  }
};

// Inference allows float8 <-> float32/float16/bfloat16 and float8 -> float8 (a copy, by bytes).
std::unique_ptr<Kernel> create_float8_cast(DataType from, DataType to) {
  if (is_float8(from) && is_float8(to)) return make_map<uint8_t, uint8_t>(Convert<uint8_t>{});
  const DataType other = is_float8(to) ? from : to;
  auto make = [&](auto tag) -> std::unique_ptr<Kernel> {
    using F = typename decltype(tag)::type;
    if (is_float8(to)) return std::make_unique<Float8CastKernel<F, true>>();
    return std::make_unique<Float8CastKernel<F, false>>();
  };
  if (other == DataType::kFloat16) return make(Tag<__half>{});
  if (other == DataType::kBFloat16) return make(Tag<__nv_bfloat16>{});
  return make(Tag<float>{});
}

}  // namespace

std::unique_ptr<Kernel> create_cast(const KernelSpec& s) {
  if (is_float8(s.inputs[0]->dtype) || is_float8(s.outputs[0]->dtype))
    return create_float8_cast(s.inputs[0]->dtype, s.outputs[0]->dtype);
  return dispatch(s.inputs[0]->dtype, [&](auto in_tag) {
    using T = typename decltype(in_tag)::type;
    return dispatch(s.outputs[0]->dtype, [&](auto out_tag) {
      using Out = typename decltype(out_tag)::type;
      return make_map<T, Out>(Convert<Out>{});
    });
  });
}

}  // namespace tensorforge::cuda
