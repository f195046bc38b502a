// Dtype dispatch for CPU kernels. Storage types map to a compute type: float16 and bfloat16 are
// loaded as float and stored back rounded; every other type computes in itself.
#pragma once

#include <cstdint>
#include <type_traits>

#include "common/float8.h"
#include "common/half.h"
#include "tensorforge/types.h"

namespace tensorforge::cpu {

template <class T>
struct Compute {
  using type = T;
};
template <>
struct Compute<half_t> {
  using type = float;
};
template <>
struct Compute<bfloat16_t> {
  using type = float;
};
template <>
struct Compute<float8_e4m3_t> {
  using type = float;
};
template <class T>
using compute_t = typename Compute<T>::type;

/// Loads element i of a storage array as its compute type.
template <class T>
inline compute_t<T> load(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, half_t> || std::is_same_v<T, bfloat16_t> || std::is_same_v<T, float8_e4m3_t>)
    return to_float(p[i]);
  else
    return p[i];
}

/// Converts a compute value to storage type T.
template <class T, class C>
inline T store_as(C v) {
  if constexpr (std::is_same_v<T, half_t>)
    return to_half(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bfloat16_t>)
    return to_bfloat16(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, float8_e4m3_t>)
    return to_float8_e4m3(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bool>)
    return v != C(0);
  else
    return static_cast<T>(v);
}

/// Storage type of a DataType, as a tag for dispatch.
template <class T>
struct Tag {
  using type = T;
};

/// Calls f(Tag<T>{}) with the storage type of `t`.
template <class F>
decltype(auto) dispatch(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: return f(Tag<float>{});
    case DataType::kFloat16: return f(Tag<half_t>{});
    case DataType::kBFloat16: return f(Tag<bfloat16_t>{});
    case DataType::kInt8: return f(Tag<int8_t>{});
    case DataType::kInt32: return f(Tag<int32_t>{});
    case DataType::kInt64: return f(Tag<int64_t>{});
    case DataType::kBool: return f(Tag<bool>{});
    case DataType::kUInt8: return f(Tag<uint8_t>{});
    case DataType::kFloat8E4M3: break;  // a storage type: no kernel computes on it through dispatch
  }
  throw Error(ErrorCode::kInternal, std::string("a CPU kernel was asked to compute on ") + to_string(t) + " data");
}

/// Calls f(Tag<T>{}) for the floating types only (float32, float16, bfloat16).
template <class F>
decltype(auto) dispatch_floating(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat16: return f(Tag<half_t>{});
    case DataType::kBFloat16: return f(Tag<bfloat16_t>{});
    default: return f(Tag<float>{});
  }
}

template <class T>
constexpr bool is_float_storage_v =
    std::is_same_v<T, float> || std::is_same_v<T, half_t> || std::is_same_v<T, bfloat16_t>;

}  // namespace tensorforge::cpu
