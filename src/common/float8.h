// float8_e4m3fn storage (the OCP FP8 E4M3 format PyTorch calls torch.float8_e4m3fn): 1 sign bit, 4
// exponent bits (bias 7), 3 mantissa bits; no infinities, NaN is S.1111.111; largest finite 448,
// smallest normal 2^-6, subnormals in steps of 2^-9. Conversions from float round to nearest even
// and saturate, as PyTorch 2.13's `.to(torch.float8_e4m3fn)` and CUDA's __NV_SATFINITE do:
// magnitudes past 448 and infinities become +-448; NaN stays NaN.
#pragma once

#include <cstdint>

#include "common/half.h"

namespace tensorforge {

/// float8_e4m3fn bits.
struct float8_e4m3_t {
  uint8_t bits;
};

inline float to_float(float8_e4m3_t v) {
  const uint32_t sign = static_cast<uint32_t>(v.bits & 0x80u) << 24;
  const uint32_t exp = (v.bits >> 3) & 0xfu, man = v.bits & 0x7u;
  if (exp == 0xfu && man == 0x7u) return bits_float(sign | 0x7fc00000u);  // NaN
  if (exp == 0) {                                                           // zero or subnormal: man * 2^-9
    const float f = static_cast<float>(man) * 0.001953125f;
    return sign ? -f : f;
  }
  return bits_float(sign | ((exp + 120u) << 23) | (man << 20));  // exponent bias 7 -> 127
}

inline float8_e4m3_t to_float8_e4m3(float f) {
  const uint32_t u = float_bits(f);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return {static_cast<uint8_t>(sign | 0x7fu)};   // NaN
  if (abs >= 0x43e00000u) return {static_cast<uint8_t>(sign | 0x7eu)};  // >= 448, infinities: +-448
  if (abs < 0x3c800000u) {  // below 2^-6: a multiple of 2^-9, rounded to nearest even (8 is 2^-6)
    const float scaled = bits_float(abs) * 512.0f;
    uint32_t m = static_cast<uint32_t>(scaled);
    const float rem = scaled - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return {static_cast<uint8_t>(sign | m)};
  }
  // Normal (below 448): rebias the exponent (127 -> 7) and round the mantissa to 3 bits, ties to
  // even; a carry moves into the exponent (at most to 448's code).
  uint32_t r = abs - ((127u - 7u) << 23);
  r += 0x7ffffu + ((r >> 20) & 1u);
  return {static_cast<uint8_t>(sign | (r >> 20))};
}

}  // namespace tensorforge
