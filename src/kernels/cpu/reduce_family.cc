// Registration of the CPU reduction and scan kernels: reduce, arg_reduce, cumsum, topk.
#include "kernels/cpu/reduce.h"

namespace tensorforge::cpu {

void add_reduce_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kReduce, "cpu.reduce", create_reduce});
  k.push_back({LayerKind::kArgReduce, "cpu.arg_reduce", create_arg_reduce});
  k.push_back({LayerKind::kCumSum, "cpu.cumsum", create_cumsum});
  k.push_back({LayerKind::kTopK, "cpu.topk", create_topk});
}

}  // namespace tensorforge::cpu
