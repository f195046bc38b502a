// The activations of matrix products (matmul's and quantized_matmul's epilogue, docs/layers.md) and
// quantized_matmul's scaling, one definition for the CPU and CUDA kernels.
#pragma once

#include <cmath>

#include "kernels/common/float_to_int.h"  // TF_HOST_DEVICE
#include "kernels/matmul_shape.h"         // MatMulActivation

namespace tensorforge::kernels {

/// act(x): relu keeps NaN; GELU in its erf form, or its tanh form (PyTorch's constants).
TF_HOST_DEVICE inline float matmul_activate(MatMulActivation act, float x) {
  switch (act) {
    case MatMulActivation::kRelu:
      return x > 0.0f ? x : (x != x ? x : 0.0f);
    case MatMulActivation::kGelu:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case MatMulActivation::kGeluTanh:  // sqrt(2/pi)
      return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case MatMulActivation::kNone:
      break;
  }
  return x;
}

/// quantized_matmul's epilogue: act(acc * scale + bias + residual) in float32, the product and each
/// sum rounded on their own (never contracted into a fused multiply-add, which the CPU kernels'
/// baseline x86-64 build cannot do either), so the CPU and CUDA kernels agree bit for bit before the
/// activation.
TF_HOST_DEVICE inline float quantized_epilogue(float acc, float scale, float bias, float residual,
                                               MatMulActivation act) {
#ifdef __CUDA_ARCH__
  const float v = __fadd_rn(__fadd_rn(__fmul_rn(acc, scale), bias), residual);
#else
  const float v = acc * scale + bias + residual;
#endif
  return matmul_activate(act, v);
}

}  // namespace tensorforge::kernels
