// CUDA quantize and dequantize kernels (docs/layers.md): the formulas of
// kernels/common/quantize_formulas.h, the scale and the zero point broadcast to the data (operands
// 1 and 2 of a Broadcast; a missing zero point reads as 0).
#include <cuda_fp8.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "kernels/common/matmul_epilogue.h"
#include "kernels/common/quantize_formulas.h"
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

namespace {

// The float8_e4m3fn type of the templates below (its bytes are stored as uint8_t); the integer types
// stand for themselves.
struct Float8 {};
template <class Q>
using Stored = std::conditional_t<std::is_same_v<Q, Float8>, uint8_t, Q>;

// One element quantized: integers clamp(round(v / s) + z, qmin, qmax); float8 (no zero point)
// float8(clamp(v * (1/s), -448, 448)), rounded to nearest even. The formulas of quantize_formulas.h.
template <class Q>
__device__ __forceinline__ Stored<Q> quantized(float v, float s, float z, float qmin, float qmax) {
  if constexpr (std::is_same_v<Q, Float8>)
    return __nv_cvt_float_to_fp8(kernels::quantize_float8_value(v, s), __NV_SATFINITE, __NV_E4M3);
  else
    return static_cast<Q>(kernels::quantize_value(v, s, z, qmin, qmax));
}

template <class Q>
__device__ __forceinline__ float stored_value(Stored<Q> q) {
  if constexpr (std::is_same_v<Q, Float8>) {
    __nv_fp8_e4m3 v;
    v.__x = q;
    return static_cast<float>(v);
  } else {
    return static_cast<float>(q);
  }
}

// quantize's activation (applied first): its result rounded to x's dtype T, as a layer of its own
// would write it.
template <class T>
__device__ __forceinline__ float activated(float v, MatMulActivation act) {
  if (act == MatMulActivation::kNone) return v;
  const T r = store_as<T>(kernels::matmul_activate(act, v));
  return static_cast<float>(load(&r, 0));
}

template <class T, class Q>
__global__ void quantize_kernel(const T* __restrict__ x, const float* __restrict__ scale,
                                const int32_t* __restrict__ zero, Stored<Q>* __restrict__ q, int64_t n, Broadcast bc,
                                float qmin, float qmax, MatMulActivation act) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float z = zero ? static_cast<float>(zero[bc.offset(2, i)]) : 0.0f;
    q[i] = quantized<Q>(activated<T>(static_cast<float>(load(x, i)), act), scale[bc.offset(1, i)], z, qmin, qmax);
  }
}

// One scale and zero point for the whole tensor (activations), both pointers aligned for packs: eight
// elements a thread (16-byte loads of 2-byte floats), the scale read once; the last n % 8 elements
// one a thread. The same formula as quantize_kernel, so the same results.
template <class T, class Q>
__global__ void quantize_per_tensor_packs(const T* __restrict__ x, const float* __restrict__ scale,
                                          const int32_t* __restrict__ zero, Stored<Q>* __restrict__ q, int64_t n,
                                          float qmin, float qmax, MatMulActivation act) {
  constexpr int kN = 8;
  const float s = *scale, z = zero ? static_cast<float>(*zero) : 0.0f;
  const int64_t packs = n / kN, stride = int64_t(gridDim.x) * blockDim.x;
  const auto* xp = reinterpret_cast<const Pack<T, kN>*>(x);
  auto* qp = reinterpret_cast<Pack<Stored<Q>, kN>*>(q);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += stride) {
    const Pack<T, kN> v = xp[i];
    Pack<Stored<Q>, kN> r;
#pragma unroll
    for (int j = 0; j < kN; ++j)
      r.v[j] = quantized<Q>(activated<T>(static_cast<float>(load(v.v, j)), act), s, z, qmin, qmax);
    qp[i] = r;
  }
  for (int64_t i = packs * kN + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    q[i] = quantized<Q>(activated<T>(static_cast<float>(load(x, i)), act), s, z, qmin, qmax);
}

template <class Q, class T>
__global__ void dequantize_kernel(const Stored<Q>* __restrict__ q, const float* __restrict__ scale,
                                  const int32_t* __restrict__ zero, T* __restrict__ y, int64_t n, Broadcast bc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float z = zero ? static_cast<float>(zero[bc.offset(2, i)]) : 0.0f;
    y[i] = store_as<T>(kernels::dequantize_value(stored_value<Q>(q[i]), scale[bc.offset(1, i)], z));
  }
}

// dequantize_kernel for one scale and zero point (activations), both pointers aligned for packs:
// eight elements a thread (an 8-byte load of int8, a 16-byte store of 2-byte floats), the scale read
// once; the last n % 8 elements one a thread.
template <class Q, class T>
__global__ void dequantize_per_tensor_packs(const Stored<Q>* __restrict__ q, const float* __restrict__ scale,
                                            const int32_t* __restrict__ zero, T* __restrict__ y, int64_t n) {
  constexpr int kN = 8;
  const float s = *scale, z = zero ? static_cast<float>(*zero) : 0.0f;
  const int64_t packs = n / kN, stride = int64_t(gridDim.x) * blockDim.x;
  const auto* qp = reinterpret_cast<const Pack<Stored<Q>, kN>*>(q);
  auto* yp = reinterpret_cast<Pack<T, kN>*>(y);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += stride) {
    const Pack<Stored<Q>, kN> v = qp[i];
    Pack<T, kN> r;
#pragma unroll
    for (int j = 0; j < kN; ++j) r.v[j] = store_as<T>(kernels::dequantize_value(stored_value<Q>(v.v[j]), s, z));
    yp[i] = r;
  }
  for (int64_t i = packs * kN + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    y[i] = store_as<T>(kernels::dequantize_value(stored_value<Q>(q[i]), s, z));
}

/// True when the scale (and zero point) is one value for the whole tensor.
bool per_tensor(const KernelSpec& s, bool zero) {
  return s.inputs[1]->dims.volume() == 1 && (!zero || s.inputs[2]->dims.volume() == 1);
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
        zero_(!std::is_same_v<Q, Float8> && s.inputs.size() > 2 && s.inputs[2]),
        per_tensor_(per_tensor(s, zero_)),
        act_(parse_activation(s.layer)) {
    if constexpr (!std::is_same_v<Q, Float8>) {
      qmin_ = static_cast<float>(std::max<int64_t>(ir::attr_int(s.layer, "qmin"), std::numeric_limits<Q>::min()));
      qmax_ = static_cast<float>(std::min<int64_t>(ir::attr_int(s.layer, "qmax"), std::numeric_limits<Q>::max()));
    }
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t n = out[0].numel();
    if (!n) return;
    const int32_t* zero = zero_ ? in[2].as<const int32_t>() : nullptr;
    const char* what = std::is_same_v<Q, Float8> ? "launching a float8 quantize" : "launching quantize";
    if (per_tensor_ && reinterpret_cast<uintptr_t>(in[0].data) % alignof(Pack<T, 8>) == 0 &&
        reinterpret_cast<uintptr_t>(out[0].data) % alignof(Pack<Stored<Q>, 8>) == 0) {
      quantize_per_tensor_packs<T, Q><<<blocks_for((n + 7) / 8), kThreads, 0, stream()>>>(
          in[0].as<const T>(), in[1].as<const float>(), zero, out[0].as<Stored<Q>>(), n, qmin_, qmax_, act_);
      check_launch(what);
      return;
    }
    quantize_kernel<T, Q><<<blocks_for(n), kThreads, 0, stream()>>>(
        in[0].as<const T>(), in[1].as<const float>(), zero, out[0].as<Stored<Q>>(), n, bc_, qmin_, qmax_, act_);
    check_launch(what);
  }

 private:
  Broadcast bc_;
  bool zero_, per_tensor_;  // per_tensor_: one scale (and zero point) for every element
  MatMulActivation act_;    // applied before quantizing
  float qmin_ = 0, qmax_ = 0;  // integers only
};

template <class Q, class T>
class DequantizeKernel : public Kernel {
 public:
  explicit DequantizeKernel(const KernelSpec& s)
      : bc_(params_broadcast(s)),
        zero_(!std::is_same_v<Q, Float8> && s.inputs.size() > 2 && s.inputs[2]),
        per_tensor_(per_tensor(s, zero_)) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t n = out[0].numel();
    if (!n) return;
    const int32_t* zero = zero_ ? in[2].as<const int32_t>() : nullptr;
    if (per_tensor_ && reinterpret_cast<uintptr_t>(in[0].data) % alignof(Pack<Stored<Q>, 8>) == 0 &&
        reinterpret_cast<uintptr_t>(out[0].data) % alignof(Pack<T, 8>) == 0) {
      dequantize_per_tensor_packs<Q, T><<<blocks_for((n + 7) / 8), kThreads, 0, stream()>>>(
          in[0].as<const Stored<Q>>(), in[1].as<const float>(), zero, out[0].as<T>(), n);
    } else {
      dequantize_kernel<Q, T><<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const Stored<Q>>(),
                                                                        in[1].as<const float>(), zero,
                                                                        out[0].as<T>(), n, bc_);
    }
    check_launch(std::is_same_v<Q, Float8> ? "launching a float8 dequantize" : "launching dequantize");
  }

 private:
  Broadcast bc_;
  bool zero_;        // float8 has no zero point
  bool per_tensor_;  // one scale (and zero point) for every element
};

template <template <class, class> class K, bool kFloatFirst, class T>
std::unique_ptr<Kernel> make_for(const KernelSpec& s, DataType int_type) {
  if constexpr (kFloatFirst) {
    if (int_type == DataType::kFloat8E4M3) return std::make_unique<K<T, Float8>>(s);
    if (int_type == DataType::kUInt8) return std::make_unique<K<T, uint8_t>>(s);
    return std::make_unique<K<T, int8_t>>(s);
  } else {
    if (int_type == DataType::kFloat8E4M3) return std::make_unique<K<Float8, T>>(s);
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
