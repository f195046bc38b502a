// Transpose, expand and slice are strided copies of their input: these give, for each, the input
// element stride of every output dim and the starting offset. Shared by the CPU and CUDA kernels.
#pragma once

#include <vector>

#include "kernels/kernel.h"

namespace tensorforge {

/// Input element strides per output dim, and the element offset of the first output element.
struct ViewStrides {
  std::vector<int64_t> strides;
  int64_t offset = 0;
};

ViewStrides transpose_strides(const KernelSpec& s);
ViewStrides expand_strides(const KernelSpec& s);
ViewStrides slice_strides(const KernelSpec& s);
ViewStrides as_strided_strides(const KernelSpec& s);

}  // namespace tensorforge
