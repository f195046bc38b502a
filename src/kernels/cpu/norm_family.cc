// Registration of the CPU normalization kernels: softmax, batch_norm, layer_norm, group_norm, rms_norm.
#include "kernels/cpu/norm.h"

namespace tensorforge::cpu {

void add_norm_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kSoftmax, "cpu.softmax", create_softmax});
  k.push_back({LayerKind::kBatchNorm, "cpu.batch_norm", create_batch_norm});
  k.push_back({LayerKind::kLayerNorm, "cpu.layer_norm", create_layer_norm});
  k.push_back({LayerKind::kGroupNorm, "cpu.group_norm", create_group_norm});
  k.push_back({LayerKind::kRMSNorm, "cpu.rms_norm", create_rms_norm});
}

}  // namespace tensorforge::cpu
