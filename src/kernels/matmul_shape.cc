// The matmul layer's sizes, batch strides and epilogue, read once for the CPU and CUDA kernels.
#include "kernels/matmul_shape.h"

#include "common/broadcast.h"

namespace tensorforge {

MatMulActivation parse_activation(const ir::Layer& l) {
  // Engine files written before the attribute existed load with it defaulted (see engine_reader.cc).
  const std::string& a = ir::attr_string(l, "activation");
  if (a == "relu") return MatMulActivation::kRelu;
  if (a == "gelu") return MatMulActivation::kGelu;
  if (a == "gelu_tanh") return MatMulActivation::kGeluTanh;
  return MatMulActivation::kNone;
}

MatMulShape::MatMulShape(const KernelSpec& s)
    : ta(ir::attr_int(s.layer, "transpose_a") != 0),
      tb(ir::attr_int(s.layer, "transpose_b") != 0),
      has_bias(s.inputs.size() > 2 && s.inputs[2] != nullptr),
      has_residual(s.inputs.size() > 3 && s.inputs[3] != nullptr),
      activation(parse_activation(s.layer)) {
  const Dims &a = s.inputs[0]->dims, &b = s.inputs[1]->dims, &o = s.outputs[0]->dims;
  int ra = a.rank(), ro = o.rank();
  m = o[ro - 2];
  n = o[ro - 1];
  k = ta ? a[ra - 2] : a[ra - 1];
  std::vector<int64_t> av = a.vec(), bv = b.vec(), ov = o.vec();
  batch.assign(ov.begin(), ov.end() - 2);
  Dims ab(std::vector<int64_t>(av.begin(), av.end() - 2)), bb(std::vector<int64_t>(bv.begin(), bv.end() - 2));
  Dims ob(batch);
  sa = broadcast_strides(ab, ob);
  sb = broadcast_strides(bb, ob);
  batches = ob.volume();
  a_batches = ab.volume();
  b_shared = bb.volume() == 1;
}

QuantizedMatMulShape::QuantizedMatMulShape(const KernelSpec& s)
    : k(s.inputs[0]->dims[s.inputs[0]->dims.rank() - 1]),
      n(s.outputs[0]->dims[s.outputs[0]->dims.rank() - 1]),
      m(n ? s.outputs[0]->dims.volume() / n : 0),
      tb(ir::attr_int(s.layer, "transpose_b") != 0),
      has_bias(s.inputs.size() > 3 && s.inputs[3]),
      has_residual(s.inputs.size() > 4 && s.inputs[4]),
      activation(parse_activation(s.layer)) {}

}  // namespace tensorforge
