// reduce's prod kernels for every dtype (reduce_kernels.cuh).
#include "kernels/cuda/reduce_kernels.cuh"

namespace tensorforge::cuda::reduce_detail {

std::unique_ptr<Kernel> make_prod(DataType t, const Walk& kept, const Walk& reduced) {
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>)
      return make<T, T>(kept, reduced, ProdR<T>{});
    else
      return nullptr;
  });
}

}  // namespace tensorforge::cuda::reduce_detail
