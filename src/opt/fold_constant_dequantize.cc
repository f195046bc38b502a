// Constant dequantize folding (see fold_constant_dequantize.h).
#include "opt/fold_constant_dequantize.h"

#include <vector>

#include "common/broadcast.h"
#include "common/element.h"
#include "opt/fuse_weight_only_matmul.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

bool foldable(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kDequantize) return false;
  for (int id : l.inputs)
    if (id >= 0 && !is_constant(g, id)) return false;
  return true;
}

Weights dequantized(const ir::Graph& g, const ir::Layer& l) {
  const Weights& q = constant_value(g, l.inputs[0]);
  const Weights& scale = constant_value(g, l.inputs[1]);
  const bool has_zero = l.inputs.size() > 2 && l.inputs[2] >= 0;
  const Weights zeros = has_zero ? constant_value(g, l.inputs[2]) : Weights();
  const Dims& dims = q.dims();
  std::vector<std::vector<int64_t>> strides = {broadcast_strides(scale.dims(), dims)};
  strides.push_back(has_zero ? broadcast_strides(zeros.dims(), dims) : std::vector<int64_t>(dims.rank(), 0));
  const float* s = static_cast<const float*>(scale.data());
  std::vector<double> v(static_cast<size_t>(dims.volume()));
  int64_t i = 0;
  for (BroadcastIter it(dims, strides); !it.done(); it.next(), ++i) {
    const double zero = has_zero ? element_as_double(zeros.dtype(), zeros.data(), it.offset(1)) : 0.0;
    const double qi = element_as_double(q.dtype(), q.data(), i);  // int8, uint8, int32 or float8 exactly
    v[i] = static_cast<double>(static_cast<float>(qi - zero) * s[it.offset(0)]);  // the kernels' float32
  }
  return float_weights(g.tensors[l.outputs[0]].dtype, dims, v);
}

// Whether tensor `id` is a dequantize of an int8, uint8 or float8 tensor, or a reshape of one.
bool dequantized_int8(const ir::Graph& g, int id) {
  int p = id >= 0 ? g.tensors[id].producer : -1;
  if (p >= 0 && g.layers[p].kind == LayerKind::kReshape) p = g.tensors[g.layers[p].inputs[0]].producer;
  if (p < 0 || g.layers[p].kind != LayerKind::kDequantize) return false;
  const DataType q = g.tensors[g.layers[p].inputs[0]].dtype;
  return q == DataType::kInt8 || q == DataType::kUInt8 || is_float8(q);
}

// Per tensor: whether some matmul reads it as its second operand while its first is a dequantized
// int8 or uint8 tensor, or few float rows (the operands fuse_quantized_matmul and
// fuse_weight_only_matmul may take).
std::vector<char> quantized_matmul_weights(const ir::Graph& g) {
  std::vector<char> weight(g.tensors.size(), 0);
  for (const ir::Layer& l : g.layers) {
    if (l.kind != LayerKind::kMatMul || l.inputs.size() < 2 || l.inputs[1] < 0 ||
        !(dequantized_int8(g, l.inputs[0]) || weight_only_candidate(g, l)))
      continue;
    weight[l.inputs[1]] = 1;
    const int p = g.tensors[l.inputs[1]].producer;  // a transpose fold_transposes will make the matmul's flag
    if (p >= 0 && g.layers[p].kind == LayerKind::kTranspose) weight[g.layers[p].inputs[0]] = 1;
  }
  return weight;
}

ir::Graph fold(const ir::Graph& g, bool keep_quantized_matmul_weights) {
  const std::vector<char> keep =
      keep_quantized_matmul_weights ? quantized_matmul_weights(g) : std::vector<char>(g.tensors.size(), 0);
  // A dequantize whose weight a fusion took (into an int8 layer) is read by nothing: folding it would
  // only compute a float copy of the weight for eliminate_dead_layers to drop (seconds for a
  // decoder's gigabytes of weights).
  const std::vector<std::vector<int>> readers = readers_of(g);
  std::vector<char> output(g.tensors.size(), 0);
  for (int id : g.outputs) output[id] = 1;
  auto read = [&](int id) { return !readers[id].empty() || output[id]; };
  auto folds = [&](const ir::Layer& l) { return foldable(g, l) && !keep[l.outputs[0]] && read(l.outputs[0]); };
  bool any = false;
  for (const ir::Layer& l : g.layers) any = any || folds(l);
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!folds(l)) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    rb.replace(static_cast<int>(li), LayerKind::kConstant, {}, {{"value", dequantized(g, l)}}, l.name);
  }
  return rb.finish();
}

}  // namespace

ir::Graph fold_constant_dequantize(const ir::Graph& g) { return fold(g, false); }

ir::Graph fold_constant_dequantize_outside_matmuls(const ir::Graph& g) { return fold(g, true); }

}  // namespace tensorforge
