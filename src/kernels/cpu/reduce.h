// Factories of the CPU reduction and scan kernels (registered in reduce_family.cc).
#pragma once

#include <type_traits>

#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_arg_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_cumsum(const KernelSpec& s);
std::unique_ptr<Kernel> create_topk(const KernelSpec& s);

/// K<T>(args...) for the storage type T of `t`; nullptr for bool, which arg_reduce, cumsum and topk reject.
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

}  // namespace tensorforge::cpu
