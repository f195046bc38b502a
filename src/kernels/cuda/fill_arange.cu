// CUDA fill and arange: out[i] = start + step * i computed in double (fill: step 0), converted with
// the CPU engine's rules: floats round to the storage type (via float32 for float16/bfloat16), float
// to integer as PyTorch on x86 (kernels/common/float_to_int.h), bool is != 0. Every dtype.
#include "kernels/common/float_to_int.h"
#include "kernels/cuda/fill_arange.cuh"

namespace tensorforge::cuda {

namespace {

template <class Out>
__device__ __forceinline__ Out convert(double v) {
  if constexpr (is_float_v<Out>) {
    return store_as<Out>(v);
  } else if constexpr (std::is_same_v<Out, bool>) {
    return v != 0.0;
  } else {
    return kernels::float_to_int<Out>(v);
  }
}

template <class Out>
__global__ void fill_kernel(Out* __restrict__ y, int64_t n, double start, double step) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    // Separately rounded multiply and add, as the CPU kernel: a fused multiply-add would truncate
    // values like 10 - 20 * 0.7 to a different integer.
    y[i] = convert<Out>(__dadd_rn(start, __dmul_rn(step, static_cast<double>(i))));
}

template <class Out>
class FillKernel : public Kernel {
 public:
  FillKernel(double start, double step) : start_(start), step_(step) {}
  void run(const TensorView*, const TensorView* out, void*) const override {
    int64_t n = out[0].numel();
    if (!n) return;
    fill_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(out[0].as<Out>(), n, start_, step_);
    check_launch("launching fill/arange");
  }

 private:
  double start_, step_;
};

std::unique_ptr<Kernel> make(DataType t, double start, double step) {
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<FillKernel<typename decltype(tag)::type>>(start, step);
  });
}

}  // namespace

std::unique_ptr<Kernel> create_fill(const KernelSpec& s) {
  return make(s.outputs[0]->dtype, ir::attr_float(s.layer, "value"), 0.0);
}

std::unique_ptr<Kernel> create_arange(const KernelSpec& s) {
  return make(s.outputs[0]->dtype, ir::attr_float(s.layer, "start"), ir::attr_float(s.layer, "step"));
}

}  // namespace tensorforge::cuda
