// Registration of the CPU pointwise and generator kernels.
#include "kernels/cpu/pointwise.h"

namespace tensorforge::cpu {

void add_pointwise_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kElementwise, "cpu.elementwise", create_elementwise});
  k.push_back({LayerKind::kUnary, "cpu.unary", create_unary});
  k.push_back({LayerKind::kActivation, "cpu.activation", create_activation});
  k.push_back({LayerKind::kPRelu, "cpu.prelu", create_prelu});
  k.push_back({LayerKind::kSelect, "cpu.select", create_select});
  k.push_back({LayerKind::kCast, "cpu.cast", create_cast});
  k.push_back({LayerKind::kPointwise, "cpu.pointwise.interpreter", create_pointwise_fused});
  k.push_back({LayerKind::kQuantize, "cpu.quantize", create_quantize});
  k.push_back({LayerKind::kDequantize, "cpu.dequantize", create_dequantize});
}

void add_generator_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kFill, "cpu.fill", create_fill});
  k.push_back({LayerKind::kArange, "cpu.arange", create_arange});
}

}  // namespace tensorforge::cpu
