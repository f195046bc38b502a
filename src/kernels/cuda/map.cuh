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

// 16 bytes of input per thread and step; the last n % N elements one by one.
template <class T, class Out, class F>
__global__ void map_vec_kernel(const T* x, Out* y, int64_t n, F f) {
  constexpr int N = vec_width<T>();
  int64_t nvec = n / N, stride = int64_t(gridDim.x) * blockDim.x;
  int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (int64_t i = first; i < nvec; i += stride) {
    Pack<T, N> a = reinterpret_cast<const Pack<T, N>*>(x)[i];
    Pack<Out, N> r;
#pragma unroll
    for (int k = 0; k < N; ++k) r.v[k] = store_as<Out>(f(load(a.v, k)));
    reinterpret_cast<Pack<Out, N>*>(y)[i] = r;
  }
  for (int64_t i = nvec * N + first; i < n; i += stride) y[i] = store_as<Out>(f(load(x, i)));
}

template <class T, class Out, class F>
class MapKernel : public Kernel {
 public:
  explicit MapKernel(F f) : f_(f) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    int64_t n = out[0].numel();
    if (!n) return;
    const T* x = in[0].as<T>();
    Out* y = out[0].as<Out>();
    if (vec_width<T>() > 1 && pack_aligned<T, T>(x) && pack_aligned<T, Out>(y))
      map_vec_kernel<<<blocks_for((n + vec_width<T>() - 1) / vec_width<T>()), kThreads, 0, stream()>>>(x, y, n, f_);
    else
      map_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(x, y, n, f_);
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
