// Float functions for the CPU kernels' loops, written so that the compiler vectorizes a loop that
// calls them (no branches, no library calls), in place of the C library's scalar ones.
//
// erff and tanhf are declared in namespace tensorforge::cpu: where the pointwise formulas of
// kernels/common/pointwise_formulas.h are expanded inside that namespace, their unqualified
// `erff(x)` and `tanhf(x)` find these, not the C library's (the CUDA kernels and the generated ones
// keep CUDA's own). The exact GELU of a BERT-style encoder spent 3.9 of its 12 ms in the C
// library's erff; its tanhf took 9.4 ns an element in GPT-2's GELU.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace tensorforge::cpu {

/// e^x for x <= 0 (x below -87 gives e^-87, which the callers' factors make 0 or negligible; NaN
/// may come back as e^-87 where the loop is vectorized, so callers carry NaN in another factor):
/// Cody-Waite reduction by ln 2 and a degree-7 polynomial, within 2 ulp.
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // rounded to an integer
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;  // x - n ln 2, in two parts
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) * (1 << 23);  // 2^n, n in [-126, 0]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/// The error function, within about 3e-7 of the exact value relative to max(|erf(x)|, 0.5):
/// the Taylor series to x^13 below |x| = 0.5, above it 1 - erfc(|x|) with erfc from a Chebyshev
/// fit of t = 1 / (1 + |x| / 2) (fractional error under 1.2e-7, Numerical Recipes' erfcc). NaN
/// stays NaN, erf(+-inf) = +-1.
inline float erff(float x) {
  const float a = std::fabs(x);
  const float near = std::copysign(std::min(a, 0.5f), x);  // the Taylor branch's argument, kept finite
  const float s = near * near;
  float taylor = 1.20553304e-4f;  // 2 / sqrt(pi) * (-1)^k / (k! (2k + 1)), k = 6 down to 0
  taylor = taylor * s - 8.54832702e-4f;
  taylor = taylor * s + 5.22397762e-3f;
  taylor = taylor * s - 2.68661706e-2f;
  taylor = taylor * s + 1.12837917e-1f;
  taylor = taylor * s - 3.76126389e-1f;
  taylor = taylor * s + 1.12837917f;
  taylor *= near;
  const float t = 1.0f / (1.0f + 0.5f * a);
  float q = 0.17087277f;
  q = q * t - 0.82215223f;
  q = q * t + 1.48851587f;
  q = q * t - 1.13520398f;
  q = q * t + 0.27886807f;
  q = q * t - 0.18628806f;
  q = q * t + 0.09678418f;
  q = q * t + 0.37409196f;
  q = q * t + 1.00002368f;
  q = q * t - 1.26551223f;
  const float erfc = t * exp_nonpositive(q - a * a);
  const float far = std::copysign(1.0f - erfc, x);
  const float take_taylor = static_cast<float>(a < 0.5f);  // a blend, not a branch: both are finite
  return taylor * take_taylor + far * (1.0f - take_taylor);
}

/// The hyperbolic tangent, within 2.5e-7 of the exact value relative to it: y + y^3 P(y^2) below
/// |y| = 0.625 (P of degree 5, a least-squares fit of ours), above it 1 - 2 e / (1 + e) with
/// e = e^-2|y|. NaN stays NaN, tanh(+-inf) = +-1.
inline float tanhf(float y) {
  const float a = std::fabs(y);
  const float near = std::min(a, 0.625f);  // the polynomial's argument, kept finite
  const float s = near * near;
  float p = 2.24836450e-3f;
  p = p * s - 8.29302706e-3f;
  p = p * s + 2.17476953e-2f;
  p = p * s - 5.39553910e-2f;
  p = p * s + 1.33332744e-1f;
  p = p * s - 3.33333313e-1f;
  const float small = std::copysign(near + near * s * p, y);
  const float e = exp_nonpositive(-2.0f * a);
  const float large = std::copysign(1.0f - 2.0f * e / (1.0f + e), y);
  const float take_small = static_cast<float>(a < 0.625f);  // a blend, not a branch
  return small * take_small + large * (1.0f - take_small);
}

}  // namespace tensorforge::cpu
