// A kernel factory's dtype dispatch for the layers that take no bool input (arg_reduce, cumsum,
// topk: inference admits floating-point and integer inputs only), as cpu::make_non_bool.
#pragma once

#include <memory>
#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

/// K<T>(args...) for the CUDA storage type T of `t`; nullptr for bool.
template <template <class> class K, class... Args>
std::unique_ptr<Kernel> make_non_bool(DataType t, const Args&... args) {
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>)
      return nullptr;
    else
      return std::make_unique<K<T>>(args...);
  });
}

}  // namespace tensorforge::cuda
