// One element of a tensor of any dtype, as a double (integers and booleans exactly, half types
// widened): for printing constants and comparing kernels' outputs.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/float8.h"
#include "common/half.h"
#include "tensorforge/types.h"

namespace tensorforge {

inline double element_as_double(DataType t, const void* data, int64_t i) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  switch (t) {
    case DataType::kFloat32: { float v; std::memcpy(&v, p + i * 4, 4); return v; }
    case DataType::kFloat16: { half_t v; std::memcpy(&v.bits, p + i * 2, 2); return to_float(v); }
    case DataType::kBFloat16: { bfloat16_t v; std::memcpy(&v.bits, p + i * 2, 2); return to_float(v); }
    case DataType::kInt8: return static_cast<int8_t>(p[i]);
    case DataType::kInt32: { int32_t v; std::memcpy(&v, p + i * 4, 4); return v; }
    case DataType::kInt64: { int64_t v; std::memcpy(&v, p + i * 8, 8); return static_cast<double>(v); }
    case DataType::kBool: return p[i] ? 1 : 0;
    case DataType::kUInt8: return p[i];
    case DataType::kFloat8E4M3: return to_float(float8_e4m3_t{p[i]});
  }
  return 0;
}

}  // namespace tensorforge
