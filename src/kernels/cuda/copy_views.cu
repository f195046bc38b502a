// CUDA reshape (a device-to-device copy on the stream), and transpose, expand and slice as one
// strided-copy kernel whose input strides and offset are worked out at creation (permuted strides,
// 0 on broadcast dims, step-scaled strides from the start), as in the CPU kernels.
#include <algorithm>

#include "kernels/cuda/copy_views.cuh"
#include "kernels/view_strides.h"

namespace tensorforge::cuda {

namespace {

template <class W>
__global__ void strided_copy_kernel(const W* __restrict__ in, W* __restrict__ out, int64_t n, StridedPlan p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = in[p.in_offset(i)];
}

template <class W>
class StridedViewKernel : public Kernel {
 public:
  explicit StridedViewKernel(StridedPlan p) : p_(p) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    int64_t n = out[0].numel();
    if (!n) return;
    strided_copy_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const W>(), out[0].as<W>(), n, p_);
    check_launch("launching a strided copy (transpose/expand/slice)");
  }

 private:
  StridedPlan p_;
};

std::unique_ptr<Kernel> make(const KernelSpec& s, const std::vector<int64_t>& strides, int64_t offset) {
  const ir::TensorDesc& o = *s.outputs[0];
  StridedPlan p = plan_strided(o.dims, strides, offset);
  return dispatch_bytes(element_size(o.dtype), [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<StridedViewKernel<typename decltype(tag)::type>>(p);
  });
}

class ReshapeKernel : public Kernel {
 public:
  explicit ReshapeKernel(size_t bytes) : bytes_(bytes) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (!bytes_ || in[0].data == out[0].data) return;
    check(cudaMemcpyAsync(out[0].data, in[0].data, bytes_, cudaMemcpyDeviceToDevice, stream()), "copying a reshape");
  }

 private:
  size_t bytes_;
};

}  // namespace

std::unique_ptr<Kernel> create_reshape(const KernelSpec& s) {
  const ir::TensorDesc& o = *s.outputs[0];
  return std::make_unique<ReshapeKernel>(static_cast<size_t>(o.dims.volume()) * element_size(o.dtype));
}

std::unique_ptr<Kernel> create_transpose(const KernelSpec& s) {
  ViewStrides v = transpose_strides(s);
  return make(s, v.strides, v.offset);
}

std::unique_ptr<Kernel> create_expand(const KernelSpec& s) {
  ViewStrides v = expand_strides(s);
  return make(s, v.strides, v.offset);
}

std::unique_ptr<Kernel> create_slice(const KernelSpec& s) {
  ViewStrides v = slice_strides(s);
  return make(s, v.strides, v.offset);
}

}  // namespace tensorforge::cuda
