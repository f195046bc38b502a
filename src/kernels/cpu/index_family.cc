// Registration of the CPU indexing kernels.
#include "kernels/cpu/index.h"

namespace tensorforge::cpu {

void add_index_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kGather, "cpu.gather", create_gather});
  k.push_back({LayerKind::kScatter, "cpu.scatter", create_scatter});
}

}  // namespace tensorforge::cpu
