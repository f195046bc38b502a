// CUDA quantize and dequantize kernels (docs/layers.md): the formulas of
// kernels/common/quantize_formulas.h, the scale and the zero point broadcast to the data (operands
// 1 and 2 of a Broadcast; a missing zero point reads as 0).
#include <cuda_fp8.h>

#include <algorithm>
#include <limits>

#include "kernels/common/quantize_formulas.h"
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

namespace {

template <class T, class Q>
__global__ void quantize_kernel(const T* __restrict__ x, const float* __restrict__ scale,
                                const int32_t* __restrict__ zero, Q* __restrict__ q, int64_t n, Broadcast bc,
                                float qmin, float qmax) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float z = zero ? static_cast<float>(zero[bc.offset(2, i)]) : 0.0f;
    const float v = static_cast<float>(load(x, i));
    q[i] = static_cast<Q>(kernels::quantize_value(v, scale[bc.offset(1, i)], z, qmin, qmax));
  }
}

// One scale and zero point for the whole tensor (activations), both pointers aligned for packs: eight
// elements a thread (16-byte loads of 2-byte floats), the reciprocal of the scale taken once; the
// last n % 8 elements one a thread. The same formula as quantize_kernel, so the same results.
template <class T, class Q>
__global__ void quantize_per_tensor_packs(const T* __restrict__ x, const float* __restrict__ scale,
                                          const int32_t* __restrict__ zero, Q* __restrict__ q, int64_t n,
                                          float qmin, float qmax) {
  constexpr int kN = 8;
  const float s = *scale, z = zero ? static_cast<float>(*zero) : 0.0f;
  const int64_t packs = n / kN, stride = int64_t(gridDim.x) * blockDim.x;
  const auto* xp = reinterpret_cast<const Pack<T, kN>*>(x);
  auto* qp = reinterpret_cast<Pack<Q, kN>*>(q);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += stride) {
    const Pack<T, kN> v = xp[i];
    Pack<Q, kN> r;
#pragma unroll
    for (int j = 0; j < kN; ++j)
      r.v[j] = static_cast<Q>(kernels::quantize_value(static_cast<float>(load(v.v, j)), s, z, qmin, qmax));
    qp[i] = r;
  }
  for (int64_t i = packs * kN + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    q[i] = static_cast<Q>(kernels::quantize_value(static_cast<float>(load(x, i)), s, z, qmin, qmax));
}

template <class Q, class T>
__global__ void dequantize_kernel(const Q* __restrict__ q, const float* __restrict__ scale,
                                  const int32_t* __restrict__ zero, T* __restrict__ y, int64_t n, Broadcast bc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float z = zero ? static_cast<float>(zero[bc.offset(2, i)]) : 0.0f;
    y[i] = store_as<T>(kernels::dequantize_value(static_cast<float>(q[i]), scale[bc.offset(1, i)], z));
  }
}

// float8_e4m3fn (no zero point): q = float8(clamp(x * (1/scale), -448, 448)), rounded to nearest
// even; y = float(q) * scale. One element a thread; the scale broadcast as operand 1 (a single scale:
// quantize_float8_packs).
template <class T>
__global__ void quantize_float8_kernel(const T* __restrict__ x, const float* __restrict__ scale,
                                       uint8_t* __restrict__ q, int64_t n, Broadcast bc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = kernels::quantize_float8_value(static_cast<float>(load(x, i)), scale[bc.offset(1, i)]);
    q[i] = __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
  }
}

// One scale for the whole tensor (activations), pointers aligned for packs: eight elements a thread
// (a 16-byte load of 2-byte floats, an 8-byte store), the same formula as quantize_float8_kernel.
template <class T>
__global__ void quantize_float8_packs(const T* __restrict__ x, const float* __restrict__ scale,
                                      uint8_t* __restrict__ q, int64_t n) {
  constexpr int kN = 8;
  const float s = *scale;
  const int64_t packs = n / kN, stride = int64_t(gridDim.x) * blockDim.x;
  const auto* xp = reinterpret_cast<const Pack<T, kN>*>(x);
  auto* qp = reinterpret_cast<Pack<uint8_t, kN>*>(q);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += stride) {
    const Pack<T, kN> v = xp[i];
    Pack<uint8_t, kN> r;
#pragma unroll
    for (int j = 0; j < kN; ++j)
      r.v[j] = __nv_cvt_float_to_fp8(kernels::quantize_float8_value(static_cast<float>(load(v.v, j)), s),
                                     __NV_SATFINITE, __NV_E4M3);
    qp[i] = r;
  }
  for (int64_t i = packs * kN + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    q[i] = __nv_cvt_float_to_fp8(kernels::quantize_float8_value(static_cast<float>(load(x, i)), s), __NV_SATFINITE,
                                 __NV_E4M3);
}

template <class T>
__global__ void dequantize_float8_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale,
                                         T* __restrict__ y, int64_t n, Broadcast bc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    __nv_fp8_e4m3 v;
    v.__x = q[i];
    y[i] = store_as<T>(kernels::dequantize_value(static_cast<float>(v), scale[bc.offset(1, i)], 0.0f));
  }
}

Broadcast params_broadcast(const KernelSpec& s) {
  const Dims& data = s.outputs[0]->dims;
  const bool zero = s.inputs.size() > 2 && s.inputs[2];
  Dims in[3] = {data, s.inputs[1]->dims, zero ? s.inputs[2]->dims : Dims(std::vector<int64_t>(data.rank(), 1))};
  return make_broadcast(data, in, 3);
}

template <class T, class Q>
class QuantizeKernel : public Kernel {
 public:
  explicit QuantizeKernel(const KernelSpec& s)
      : bc_(params_broadcast(s)),
        zero_(s.inputs.size() > 2 && s.inputs[2]),
        per_tensor_(s.inputs[1]->dims.volume() == 1 && (!zero_ || s.inputs[2]->dims.volume() == 1)) {
    qmin_ = static_cast<float>(std::max<int64_t>(ir::attr_int(s.layer, "qmin"), std::numeric_limits<Q>::min()));
    qmax_ = static_cast<float>(std::min<int64_t>(ir::attr_int(s.layer, "qmax"), std::numeric_limits<Q>::max()));
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t n = out[0].numel();
    if (!n) return;
    const int32_t* zero = zero_ ? in[2].as<const int32_t>() : nullptr;
    if (per_tensor_ && reinterpret_cast<uintptr_t>(in[0].data) % alignof(Pack<T, 8>) == 0 &&
        reinterpret_cast<uintptr_t>(out[0].data) % alignof(Pack<Q, 8>) == 0) {
      quantize_per_tensor_packs<<<blocks_for((n + 7) / 8), kThreads, 0, stream()>>>(
          in[0].as<const T>(), in[1].as<const float>(), zero, out[0].as<Q>(), n, qmin_, qmax_);
      check_launch("launching quantize");
      return;
    }
    quantize_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const T>(), in[1].as<const float>(),
                                                              zero, out[0].as<Q>(), n, bc_, qmin_, qmax_);
    check_launch("launching quantize");
  }

 private:
  Broadcast bc_;
  bool zero_, per_tensor_;  // per_tensor_: one scale (and zero point) for every element
  float qmin_, qmax_;
};

template <class Q, class T>
class DequantizeKernel : public Kernel {
 public:
  explicit DequantizeKernel(const KernelSpec& s)
      : bc_(params_broadcast(s)), zero_(s.inputs.size() > 2 && s.inputs[2]) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t n = out[0].numel();
    if (!n) return;
    dequantize_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const Q>(), in[1].as<const float>(),
                                                                zero_ ? in[2].as<const int32_t>() : nullptr,
                                                                out[0].as<T>(), n, bc_);
    check_launch("launching dequantize");
  }

 private:
  Broadcast bc_;
  bool zero_;
};

// quantize (kQuantize) or dequantize between T and float8_e4m3fn.
template <class T, bool kQuantize>
class Float8QuantizeKernel : public Kernel {
 public:
  explicit Float8QuantizeKernel(const KernelSpec& s)
      : bc_(params_broadcast(s)), per_tensor_(s.inputs[1]->dims.volume() == 1) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t n = out[0].numel();
    if (!n) return;
    if constexpr (kQuantize) {
      if (per_tensor_ && reinterpret_cast<uintptr_t>(in[0].data) % alignof(Pack<T, 8>) == 0 &&
          reinterpret_cast<uintptr_t>(out[0].data) % alignof(Pack<uint8_t, 8>) == 0) {
        quantize_float8_packs<<<blocks_for((n + 7) / 8), kThreads, 0, stream()>>>(
            in[0].as<const T>(), in[1].as<const float>(), out[0].as<uint8_t>(), n);
        check_launch("launching a float8 quantize");
        return;
      }
    }
    if constexpr (kQuantize)
      quantize_float8_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const T>(), in[1].as<const float>(),
                                                                       out[0].as<uint8_t>(), n, bc_);
    else
      dequantize_float8_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(
          in[0].as<const uint8_t>(), in[1].as<const float>(), out[0].as<T>(), n, bc_);
    check_launch(kQuantize ? "launching a float8 quantize" : "launching a float8 dequantize");
  }

 private:
  Broadcast bc_;
  bool per_tensor_;  // one scale for every element
};

template <template <class, class> class K, bool kFloatFirst, class T>
std::unique_ptr<Kernel> make_for(const KernelSpec& s, DataType int_type) {
  if (int_type == DataType::kFloat8E4M3) return std::make_unique<Float8QuantizeKernel<T, kFloatFirst>>(s);
  if constexpr (kFloatFirst) {
    if (int_type == DataType::kUInt8) return std::make_unique<K<T, uint8_t>>(s);
    return std::make_unique<K<T, int8_t>>(s);
  } else {
    if (int_type == DataType::kUInt8) return std::make_unique<K<uint8_t, T>>(s);
    return std::make_unique<K<int8_t, T>>(s);
  }
}

template <template <class, class> class K, bool kFloatFirst>
std::unique_ptr<Kernel> make(const KernelSpec& s, DataType float_type, DataType int_type) {
  switch (float_type) {
    case DataType::kFloat16: return make_for<K, kFloatFirst, __half>(s, int_type);
    case DataType::kBFloat16: return make_for<K, kFloatFirst, __nv_bfloat16>(s, int_type);
    default: return make_for<K, kFloatFirst, float>(s, int_type);
  }
}

}  // namespace

std::unique_ptr<Kernel> create_quantize(const KernelSpec& s) {
  return make<QuantizeKernel, true>(s, s.inputs[0]->dtype, s.outputs[0]->dtype);
}

std::unique_ptr<Kernel> create_dequantize(const KernelSpec& s) {
  return make<DequantizeKernel, false>(s, s.outputs[0]->dtype, s.inputs[0]->dtype);
}

}  // namespace tensorforge::cuda
