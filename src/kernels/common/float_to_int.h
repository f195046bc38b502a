// Float to integer conversion with the results PyTorch gives on x86, for the CPU and CUDA kernels
// alike: the value is truncated toward zero; int64 takes it when it fits and INT64_MIN otherwise
// (NaN and infinities included); the narrower integers go through int32 the same way (INT32_MIN
// when it does not fit) and then wrap to their width, so float(300) -> int8 is 44 and NaN -> 0.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#ifdef __CUDACC__
#define TF_HOST_DEVICE __host__ __device__
#else
#define TF_HOST_DEVICE
#endif

namespace tensorforge::kernels {

template <class Out>
TF_HOST_DEVICE inline Out float_to_int(double v) {
  static_assert(std::is_integral_v<Out> && !std::is_same_v<Out, bool>, "an integer target");
  const double t = trunc(v);  // NaN stays NaN and fails both range tests below
  if constexpr (sizeof(Out) == 8) {
    return t >= -9223372036854775808.0 && t < 9223372036854775808.0 ? static_cast<Out>(static_cast<int64_t>(t))
                                                                       : static_cast<Out>(INT64_MIN);
  } else {
    const int32_t i = t >= -2147483648.0 && t < 2147483648.0 ? static_cast<int32_t>(t) : INT32_MIN;
    return static_cast<Out>(i);  // modular narrowing (C++20 rule; what every compiler does)
  }
}

}  // namespace tensorforge::kernels
