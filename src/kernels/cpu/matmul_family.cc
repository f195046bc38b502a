// Registration of the CPU matrix kernels: matmul, scaled dot-product attention, quantized matmul.
#include "kernels/cpu/matrix.h"

namespace tensorforge::cpu {

void add_matmul_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kMatMul, "cpu.matmul.onednn", create_matmul_onednn});
  k.push_back({LayerKind::kMatMul, "cpu.matmul.sgemm", create_matmul});
  k.push_back({LayerKind::kAttention, "cpu.attention.sgemm_softmax", create_attention});
  k.push_back({LayerKind::kQuantizedMatMul, "cpu.quantized_matmul", create_quantized_matmul});
}

}  // namespace tensorforge::cpu
