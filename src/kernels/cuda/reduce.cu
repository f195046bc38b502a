// CUDA reduce (sum, mean, prod, max, min, any, all over a set of axes) with the semantics of
// src/kernels/cpu/reduce.cc: the factory, which picks the translation unit of the op's family (the
// kernels and how they walk the input: reduce_kernels.cuh).
#include "kernels/cuda/reduce.cuh"

#include "kernels/cuda/reduce_kernels.cuh"
#include "kernels/layer_attrs.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_reduce(const KernelSpec& s) {
  using namespace reduce_detail;
  const Dims& d = s.inputs[0]->dims;
  std::vector<bool> reduced = reduced_dims(s);
  const ReducePlan p = reduce_plan(d, reduced);
  const Walk kept = to_walk(p.kept), red = to_walk(p.reduced);
  const std::string& op = ir::attr_string(s.layer, "op");
  const int prologue = reduce_prologue_code(ir::attr_string(s.layer, "prologue"));
  const DataType t = s.inputs[0]->dtype;
  if (op == "any") return make_any_or_all<true>(t, kept, red, prologue);
  if (op == "all") return make_any_or_all<false>(t, kept, red, prologue);
  if (prologue != 0) return nullptr;
  if (op == "max") return make_max_or_min<true>(t, kept, red);
  if (op == "min") return make_max_or_min<false>(t, kept, red);
  if (op == "prod") return make_prod(t, kept, red);
  return make_sum_or_mean(t, op, kept, red);
}

}  // namespace tensorforge::cuda
