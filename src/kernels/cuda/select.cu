// CUDA select (where: out = condition ? a : b, numpy broadcasting of all three operands; moves whole
// elements, so any dtype) and prelu (out = x > 0 ? x : x * slope, slope broadcast to x; float32,
// float16, bfloat16 computed in float32 like the CPU).
#include "kernels/cuda/copy_views.cuh"
#include "kernels/cuda/select.cuh"

namespace tensorforge::cuda {

namespace {

template <class W>
__global__ void select_kernel(const bool* __restrict__ c, const W* __restrict__ a, const W* __restrict__ b,
                              W* __restrict__ o, int64_t n, Broadcast bc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    o[i] = c[bc.offset(0, i)] ? a[bc.offset(1, i)] : b[bc.offset(2, i)];
}

template <class W>
class SelectKernel : public Kernel {
 public:
  explicit SelectKernel(Broadcast bc) : bc_(bc) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    int64_t n = out[0].numel();
    if (!n) return;
    select_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const bool>(), in[1].as<const W>(),
                                                            in[2].as<const W>(), out[0].as<W>(), n, bc_);
    check_launch("launching select");
  }

 private:
  Broadcast bc_;
};

template <class T>
__global__ void prelu_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t n,
                             Broadcast bc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = static_cast<float>(load(x, i)), s = static_cast<float>(load(w, bc.offset(1, i)));
    y[i] = store_as<T>(v > 0 ? v : v * s);
  }
}

template <class T>
class PReluKernel : public Kernel {
 public:
  explicit PReluKernel(Broadcast bc) : bc_(bc) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    int64_t n = out[0].numel();
    if (!n) return;
    prelu_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const T>(), in[1].as<const T>(), out[0].as<T>(),
                                                           n, bc_);
    check_launch("launching prelu");
  }

 private:
  Broadcast bc_;
};

}  // namespace

std::unique_ptr<Kernel> create_select(const KernelSpec& s) {
  Dims in[3] = {s.inputs[0]->dims, s.inputs[1]->dims, s.inputs[2]->dims};
  Broadcast bc = make_broadcast(s.outputs[0]->dims, in, 3);
  return dispatch_bytes(element_size(s.outputs[0]->dtype), [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<SelectKernel<typename decltype(tag)::type>>(bc);
  });
}

std::unique_ptr<Kernel> create_prelu(const KernelSpec& s) {
  Dims in[2] = {s.inputs[0]->dims, s.inputs[1]->dims};
  Broadcast bc = make_broadcast(s.outputs[0]->dims, in, 2);
  switch (s.inputs[0]->dtype) {
    case DataType::kFloat16: return std::make_unique<PReluKernel<__half>>(bc);
    case DataType::kBFloat16: return std::make_unique<PReluKernel<__nv_bfloat16>>(bc);
    default: return std::make_unique<PReluKernel<float>>(bc);
  }
}

}  // namespace tensorforge::cuda
