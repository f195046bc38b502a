// A flat CUDA map kernel out[i] = f(in[i]) over contiguous tensors, shared by unary, activation
// and cast.
#pragma once

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

template <class T, class Out, class F>
__global__ void map_kernel(const T* x, Out* y, int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = store_as<Out>(f(load(x, i)));
}

template <class T, class Out, class F>
class MapKernel : public Kernel {
 public:
  explicit MapKernel(F f) : f_(f) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    int64_t n = out[0].numel();
    if (!n) return;
    map_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<T>(), out[0].as<Out>(), n, f_);
    check_launch("launching a pointwise kernel");
  }

 private:
  F f_;
};

template <class T, class Out, class F>
std::unique_ptr<Kernel> make_map(F f) {
  return std::make_unique<MapKernel<T, Out, F>>(f);
}

}  // namespace tensorforge::cuda
