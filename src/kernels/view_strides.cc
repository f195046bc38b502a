// Strides and offsets of the strided-copy layers (permuted strides, 0 on broadcast dims,
// step-scaled strides from the start of each slice).
#include "kernels/view_strides.h"

#include <algorithm>

#include "common/broadcast.h"

namespace tensorforge {

ViewStrides transpose_strides(const KernelSpec& s) {
  const Dims& in = s.inputs[0]->dims;
  std::vector<int64_t> cs = contiguous_strides(in);
  ViewStrides v{std::vector<int64_t>(in.rank()), 0};
  const auto& perm = ir::attr_ints(s.layer, "perm");
  for (int i = 0; i < in.rank(); ++i) v.strides[i] = cs[perm[i] < 0 ? perm[i] + in.rank() : perm[i]];
  return v;
}

ViewStrides expand_strides(const KernelSpec& s) {
  const Dims& in = s.inputs[0]->dims;
  const Dims& out = s.outputs[0]->dims;
  ViewStrides v{std::vector<int64_t>(out.rank(), 0), 0};
  std::vector<int64_t> cs = contiguous_strides(in);
  for (int i = 0; i < in.rank(); ++i) v.strides[out.rank() - in.rank() + i] = in[i] == 1 ? 0 : cs[i];
  return v;
}

ViewStrides slice_strides(const KernelSpec& s) {
  const Dims& in = s.inputs[0]->dims;
  std::vector<int64_t> cs = contiguous_strides(in);
  ViewStrides v{cs, 0};
  const auto& axes = ir::attr_ints(s.layer, "axes");
  const auto& starts = ir::attr_ints(s.layer, "starts");
  const auto& steps = ir::attr_ints(s.layer, "steps");
  for (size_t i = 0; i < axes.size(); ++i) {
    int a = static_cast<int>(axes[i] < 0 ? axes[i] + in.rank() : axes[i]);
    int64_t n = in[a];
    int64_t start = std::clamp<int64_t>(starts[i] < 0 ? starts[i] + n : starts[i], 0, n);
    if (s.outputs[0]->dims[a] == 0) continue;  // empty along this axis: nothing is read
    v.offset += start * cs[a];
    if (s.outputs[0]->dims[a] > 1) v.strides[a] = cs[a] * (steps.empty() ? 1 : steps[i]);  // step < extent here
  }
  return v;
}

ViewStrides as_strided_strides(const KernelSpec& s) {
  return {ir::attr_ints(s.layer, "strides"), ir::attr_int(s.layer, "offset")};
}

}  // namespace tensorforge
