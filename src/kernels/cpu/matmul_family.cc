// Registration of the CPU matrix kernels: matmul and scaled dot-product attention.
#include "kernels/cpu/matrix.h"

namespace tensorforge::cpu {

void add_matmul_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kMatMul, "cpu.matmul.sgemm", create_matmul});
  k.push_back({LayerKind::kAttention, "cpu.attention.sgemm_softmax", create_attention});
}

}  // namespace tensorforge::cpu
