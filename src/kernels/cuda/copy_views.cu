// CUDA reshape (a device-to-device copy on the stream), and transpose, expand and slice as one
// strided-copy kernel whose input strides and offset are worked out at creation (permuted strides,
// 0 on broadcast dims, step-scaled strides from the start), as in the CPU kernels.
#include <algorithm>

#include "kernels/cuda/copy_views.cuh"

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
  const Dims& in = s.inputs[0]->dims;
  std::vector<int64_t> cs = dense_strides(in), strides(in.rank());
  const auto& perm = ir::attr_ints(s.layer, "perm");
  for (int i = 0; i < in.rank(); ++i) strides[i] = cs[perm[i] < 0 ? perm[i] + in.rank() : perm[i]];
  return make(s, strides, 0);
}

std::unique_ptr<Kernel> create_expand(const KernelSpec& s) {
  const Dims& in = s.inputs[0]->dims;
  const Dims& out = s.outputs[0]->dims;
  std::vector<int64_t> strides(out.rank(), 0);
  int64_t acc = 1;
  for (int i = in.rank() - 1; i >= 0; --i) {
    strides[out.rank() - in.rank() + i] = in[i] == 1 ? 0 : acc;
    acc *= in[i];
  }
  return make(s, strides, 0);
}

std::unique_ptr<Kernel> create_slice(const KernelSpec& s) {
  const Dims& in = s.inputs[0]->dims;
  std::vector<int64_t> cs = dense_strides(in), strides = cs;
  const auto& axes = ir::attr_ints(s.layer, "axes");
  const auto& starts = ir::attr_ints(s.layer, "starts");
  const auto& steps = ir::attr_ints(s.layer, "steps");
  int64_t offset = 0;
  for (size_t i = 0; i < axes.size(); ++i) {
    int a = static_cast<int>(axes[i] < 0 ? axes[i] + in.rank() : axes[i]);
    int64_t n = in[a];
    int64_t start = starts[i] < 0 ? starts[i] + n : starts[i];
    start = std::clamp<int64_t>(start, 0, n);
    if (s.outputs[0]->dims[a] == 0) continue;  // empty along this axis: nothing is read
    offset += start * cs[a];
    if (s.outputs[0]->dims[a] > 1) strides[a] = cs[a] * (steps.empty() ? 1 : steps[i]);
  }
  return make(s, strides, offset);
}

}  // namespace tensorforge::cuda
