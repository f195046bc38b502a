// CUDA cast: every dtype to every dtype, with the CPU engine's rules (float to integer as PyTorch
// on x86, kernels/common/float_to_int.h; anything to bool is != 0).
#include "kernels/common/float_to_int.h"
#include "kernels/cuda/map.cuh"
#include "kernels/cuda/pointwise.cuh"

namespace tensorforge::cuda {

namespace {

template <class Out, class C>
__device__ compute_t<Out> convert(C v) {
  if constexpr (is_float_v<Out>) {
    return static_cast<float>(v);
  } else if constexpr (std::is_same_v<Out, bool>) {
    return v != C(0);
  } else if constexpr (std::is_floating_point_v<C>) {
    return kernels::float_to_int<Out>(static_cast<double>(v));
  } else {
    return static_cast<Out>(v);
  }
}

template <class Out>
struct Convert {
  template <class C>
  __device__ compute_t<Out> operator()(C v) const {
    return convert<Out>(v);
  }
};

}  // namespace

std::unique_ptr<Kernel> create_cast(const KernelSpec& s) {
  return dispatch(s.inputs[0]->dtype, [&](auto in_tag) {
    using T = typename decltype(in_tag)::type;
    return dispatch(s.outputs[0]->dtype, [&](auto out_tag) {
      using Out = typename decltype(out_tag)::type;
      return make_map<T, Out>(Convert<Out>{});
    });
  });
}

}  // namespace tensorforge::cuda
