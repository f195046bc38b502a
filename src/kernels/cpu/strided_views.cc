// CPU transpose, expand and slice: each is a StridedCopy whose input strides and offset are worked
// out once at creation (permuted strides, 0 for broadcast dims, step-scaled strides from the start).
#include <algorithm>

#include "common/broadcast.h"
#include "kernels/cpu/shape.h"
#include "kernels/cpu/strided_copy.h"
#include "kernels/view_strides.h"

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

std::unique_ptr<Kernel> create_as_strided(const KernelSpec& s) {
  ViewStrides v = as_strided_strides(s);
  return make(s, v.strides, v.offset);
}

}  // namespace tensorforge::cpu
