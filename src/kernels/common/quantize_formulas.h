// The arithmetic of the quantize and dequantize layers (docs/layers.md), one definition for the CPU
// and CUDA kernels, written as PyTorch's quantized_decomposed ops compute it so that converted
// graphs match them exactly:
//   quantize:   q = clamp(round_half_even(x * (1 / scale)) + zero_point, qmin, qmax)   (NaN -> zero_point)
//   dequantize: y = (q - zero_point) * scale
//   float8_e4m3fn: q = float8(clamp(x * (1/scale), -448, 448)) (no zero point), y = q * scale
// all in float32 (1 / scale is float32's correctly rounded reciprocal); the integer range [qmin,
// qmax] lies within the quantized dtype's.
#pragma once

#include <cmath>

#include "kernels/common/float_to_int.h"  // TF_HOST_DEVICE

namespace tensorforge::kernels {

TF_HOST_DEVICE inline float quantize_value(float x, float scale, float zero_point, float qmin, float qmax) {
  float v = rintf(x * (1.0f / scale)) + zero_point;  // rintf: the current (nearest, ties to even) rounding
  if (v != v) v = zero_point;
  return v < qmin ? qmin : (v > qmax ? qmax : v);
}

// float8_e4m3fn quantize: x * (1 / scale) in float32, saturated to the format's largest finite 448
// (NaN stays NaN), then rounded to the format by the caller (to nearest even).
TF_HOST_DEVICE inline float quantize_float8_value(float x, float scale) {
  const float v = x * (1.0f / scale);
  return v > 448.0f ? 448.0f : (v < -448.0f ? -448.0f : v);
}

TF_HOST_DEVICE inline float dequantize_value(float q, float scale, float zero_point) {
  return (q - zero_point) * scale;
}

}  // namespace tensorforge::kernels
