// reduce's sum and mean kernels for every dtype (reduce_kernels.cuh).
#include "kernels/cuda/reduce_kernels.cuh"

namespace tensorforge::cuda::reduce_detail {

std::unique_ptr<Kernel> make_sum_or_mean(DataType t, const std::string& op, const Walk& kept, const Walk& reduced) {
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      if (op == "sum") return make<T, T>(kept, reduced, SumR<T>{});
      if constexpr (is_float_v<T>)
        if (op == "mean") return make<T, T>(kept, reduced, MeanR<T>{});
    }
    return nullptr;
  });
}

}  // namespace tensorforge::cuda::reduce_detail
