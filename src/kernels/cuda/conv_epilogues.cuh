// The epilogues of our convolution kernels (conv_small_channels.cu, conv_mma.cu), applied to eight
// adjacent output channels of one position at a time, as float32 sums: the float convolution's
// act(sum + bias + residual) and quantized_convolution's act(sum * scale + bias + residual *
// residual_scale), each rounded once to the output type (int8: half to even, saturated).
#pragma once

#include <cstdint>
#include <type_traits>

#include "common/conv_activation.h"
#include "kernels/common/matmul_epilogue.h"
#include "kernels/common/quantize_formulas.h"
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

// Eight adjacent elements from (to) a 16-byte aligned place: one access, or two for float32.
template <class T>
__device__ __forceinline__ Pack<T, 8> load8(const T* p) {
  if constexpr (sizeof(T) <= 2) {
    return *reinterpret_cast<const Pack<T, 8>*>(p);
  } else {
    Pack<T, 8> v;
    const Pack<T, 4> lo = reinterpret_cast<const Pack<T, 4>*>(p)[0], hi = reinterpret_cast<const Pack<T, 4>*>(p)[1];
#pragma unroll
    for (int i = 0; i < 4; ++i) v.v[i] = lo.v[i], v.v[4 + i] = hi.v[i];
    return v;
  }
}
template <class T>
__device__ __forceinline__ void store8(T* p, const Pack<T, 8>& v) {
  if constexpr (sizeof(T) <= 2) {
    *reinterpret_cast<Pack<T, 8>*>(p) = v;
  } else {
    Pack<T, 4> lo, hi;
#pragma unroll
    for (int i = 0; i < 4; ++i) lo.v[i] = v.v[i], hi.v[i] = v.v[4 + i];
    reinterpret_cast<Pack<T, 4>*>(p)[0] = lo;
    reinterpret_cast<Pack<T, 4>*>(p)[1] = hi;
  }
}

// The float convolution's epilogue: act(sum + bias + residual), rounded once to T.
template <class T>
struct FloatEpilogue {
  const T* bias;
  const T* residual;
  T* y;
  ConvActivation act;
  __device__ void operator()(int64_t at, int k, const float (&v)[8]) const {
    Pack<T, 8> out, res;
    if (residual) res = load8(residual + at);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      float s = v[i];
      if (bias) s += load(bias, k + i);
      if (residual) s += load(res.v, i);
      out.v[i] = store_as<T>(conv_activate(act, s));
    }
    store8(y + at, out);
  }
};

// quantized_convolution's epilogue (the direct kernel's, kernels/common/matmul_epilogue.h):
// act(sum * scale[k] + bias[k] + residual * residual_scale), to T (int8: half to even, saturated).
template <class T, class R>
struct QuantizedEpilogue {
  const float* scale;
  const float* bias;
  const R* residual;
  const float* residual_scale;
  T* y;
  MatMulActivation act;
  __device__ void operator()(int64_t at, int k, const float (&v)[8]) const {
    Pack<T, 8> out;
    Pack<R, 8> res;
    if (residual) res = load8(residual + at);
    const float rs = residual_scale ? *residual_scale : 1.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float r = residual ? __fmul_rn(static_cast<float>(load(res.v, i)), rs) : 0.0f;
      const float s = kernels::quantized_epilogue(v[i], scale[k + i], bias ? bias[k + i] : 0.0f, r, act);
      if constexpr (std::is_same_v<T, int8_t>)
        out.v[i] = static_cast<int8_t>(kernels::quantize_value(s, 1.0f, 0.0f, -128.0f, 127.0f));
      else
        out.v[i] = store_as<T>(s);
    }
    store8(y + at, out);
  }
};

/// quantized_convolution's epilogue from the layer's untyped pointers (residual_scale, bias and
/// residual may be null).
template <class T, class R>
QuantizedEpilogue<T, R> quantized_epilogue_of(const void* scale, const void* bias, const void* residual,
                                              const void* residual_scale, void* y, MatMulActivation act) {
  return {static_cast<const float*>(scale), static_cast<const float*>(bias), static_cast<const R*>(residual),
          static_cast<const float*>(residual_scale), static_cast<T*>(y), act};
}

}  // namespace tensorforge::cuda
