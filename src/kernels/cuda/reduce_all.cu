// reduce's all (with its prologues) kernels for every dtype (reduce_kernels.cuh), in a translation unit of their own.
#include "kernels/cuda/reduce_kernels.cuh"

namespace tensorforge::cuda::reduce_detail {

template std::unique_ptr<Kernel> make_any_or_all<false>(DataType, const Walk&, const Walk&, int);

}  // namespace tensorforge::cuda::reduce_detail
