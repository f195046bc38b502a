// reduce's min kernels for every dtype (reduce_kernels.cuh), in a translation unit of their own.
#include "kernels/cuda/reduce_kernels.cuh"

namespace tensorforge::cuda::reduce_detail {

template std::unique_ptr<Kernel> make_max_or_min<false>(DataType, const Walk&, const Walk&);

}  // namespace tensorforge::cuda::reduce_detail
