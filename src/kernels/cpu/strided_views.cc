// CPU transpose, expand and slice: each is a StridedCopy whose input strides and offset are worked
// out once at creation (permuted strides, 0 for broadcast dims, step-scaled strides from the start).
#include <algorithm>

#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/shape.h"
#include "kernels/cpu/strided_copy.h"

namespace tensorforge::cpu {

namespace {

class StridedViewKernel : public Kernel {
 public:
  explicit StridedViewKernel(StridedCopy copy) : copy_(copy) {}
  void run(const TensorView* in, const TensorView* out, void*) const override { copy_.run(in[0].data, out[0].data); }

 private:
  StridedCopy copy_;
};

std::unique_ptr<Kernel> make(const KernelSpec& s, const std::vector<int64_t>& strides, int64_t offset) {
  const ir::TensorDesc& o = *s.outputs[0];
  return std::make_unique<StridedViewKernel>(StridedCopy(o.dims, strides, offset, element_size(o.dtype)));
}

}  // namespace

std::unique_ptr<Kernel> create_transpose(const KernelSpec& s) {
  const Dims& in = s.inputs[0]->dims;
  std::vector<int64_t> cs = contiguous_strides(in), strides(in.rank());
  const auto& perm = ir::attr_ints(s.layer, "perm");
  for (int i = 0; i < in.rank(); ++i) strides[i] = cs[perm[i] < 0 ? perm[i] + in.rank() : perm[i]];
  return make(s, strides, 0);
}

std::unique_ptr<Kernel> create_expand(const KernelSpec& s) {
  return make(s, broadcast_strides(s.inputs[0]->dims, s.outputs[0]->dims), 0);
}

std::unique_ptr<Kernel> create_slice(const KernelSpec& s) {
  const Dims& in = s.inputs[0]->dims;
  std::vector<int64_t> cs = contiguous_strides(in), strides = cs;
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
    if (s.outputs[0]->dims[a] > 1) strides[a] = cs[a] * (steps.empty() ? 1 : steps[i]);  // step < extent here
  }
  return make(s, strides, offset);
}

}  // namespace tensorforge::cpu
