// Placeholder: this family has no CPU kernels yet.
#include "kernels/kernel.h"

namespace tensorforge::cpu {

void add_shape_kernels(std::vector<KernelEntry>& k) {}

}  // namespace tensorforge::cpu
