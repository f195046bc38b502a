// The one list of CPU kernel families, in the order the builder tries them.
#include "kernels/kernel.h"

namespace tensorforge {

void runtime_fail(const ir::Layer& layer, const std::string& why) {
  throw Error(ErrorCode::kRuntime, "layer '" + layer.name + "' (" + to_string(layer.kind) + "): " + why);
}

namespace cpu {

const std::vector<KernelEntry>& kernels() {
  static const std::vector<KernelEntry> list = [] {
    std::vector<KernelEntry> k;
    add_spatial_kernels(k);
    add_pointwise_kernels(k);
    add_matmul_kernels(k);
    add_norm_kernels(k);
    add_reduce_kernels(k);
    add_shape_kernels(k);
    add_index_kernels(k);
    add_generator_kernels(k);
    return k;
  }();
  return list;
}

}  // namespace cpu
}  // namespace tensorforge
