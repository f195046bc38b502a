// Registration of the CPU shape kernels.
#include "kernels/cpu/shape.h"

namespace tensorforge::cpu {

void add_shape_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kReshape, "cpu.reshape.copy", create_reshape});
  k.push_back({LayerKind::kTranspose, "cpu.transpose.strided", create_transpose});
  k.push_back({LayerKind::kExpand, "cpu.expand.strided", create_expand});
  k.push_back({LayerKind::kConcat, "cpu.concat", create_concat});
  k.push_back({LayerKind::kSplit, "cpu.split", create_split});
  k.push_back({LayerKind::kSlice, "cpu.slice.strided", create_slice});
  k.push_back({LayerKind::kAsStrided, "cpu.as_strided.strided", create_as_strided});
}

}  // namespace tensorforge::cpu
