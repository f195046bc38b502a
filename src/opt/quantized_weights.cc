// Quantized weights as the quantized-matmul passes read them (see quantized_weights.h).
#include "opt/quantized_weights.h"

namespace tensorforge {

namespace {

// A one-byte (int8 or float8) [K, N] weight as [N, K].
Weights rows_of(const Weights& w) {
  const int64_t k = w.dims()[0], n = w.dims()[1];
  const uint8_t* src = static_cast<const uint8_t*>(w.data());
  std::vector<uint8_t> t(static_cast<size_t>(k * n));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) t[static_cast<size_t>(j * k + i)] = src[i * n + j];
  return Weights(w.dtype(), Dims{n, k}, t.data());
}

}  // namespace

bool zero_point_zero(const ir::Graph& g, int id) {
  if (id < 0) return true;
  if (!is_constant(g, id)) return false;
  const Weights& w = constant_value(g, id);
  const int32_t* z = static_cast<const int32_t*>(w.data());
  for (int64_t i = 0; i < w.dims().volume(); ++i)
    if (z[i] != 0) return false;
  return true;
}

const ir::Layer* dequantize_of(const ir::Graph& g, int id) {
  const int p = id >= 0 ? g.tensors[id].producer : -1;
  return p >= 0 && g.layers[p].kind == LayerKind::kDequantize ? &g.layers[p] : nullptr;
}

std::vector<double> channel_values(const ir::Graph& g, int id, int64_t n, const Dims& per_channel_a,
                                   const Dims& per_channel_b) {
  if (id < 0 || !is_constant(g, id)) return {};
  const Weights& w = constant_value(g, id);
  if (w.dtype() != DataType::kFloat32) return {};
  std::vector<double> v = float_values(w);
  if (w.dims().volume() == 1) return std::vector<double>(static_cast<size_t>(n), v[0]);
  if (w.dims() == per_channel_a || w.dims() == per_channel_b) return v;
  return {};
}

std::optional<QuantizedWeight> quantized_weight(const ir::Graph& g, const ir::Layer& l) {
  const ir::Layer* db = l.inputs.size() > 1 ? dequantize_of(g, l.inputs[1]) : nullptr;
  if (!db) return {};
  QuantizedWeight q;
  q.weight = db->inputs[0];
  const DataType wt = g.tensors[q.weight].dtype;
  if (!is_constant(g, q.weight) || (wt != DataType::kInt8 && !is_float8(wt)) || g.tensors[q.weight].dims.rank() != 2)
    return {};
  q.dtype = wt;
  q.transposed = ir::attr_int(l, "transpose_b") != 0;
  const Dims& wd = g.tensors[q.weight].dims;
  q.n = q.transposed ? wd[0] : wd[1];
  q.k = q.transposed ? wd[1] : wd[0];
  q.scale = q.transposed ? channel_values(g, db->inputs[1], q.n, Dims{q.n, 1}, Dims{q.n, 1})
                         : channel_values(g, db->inputs[1], q.n, Dims{1, q.n}, Dims{q.n});
  if (q.scale.empty() || !zero_point_zero(g, db->inputs.size() > 2 ? db->inputs[2] : -1)) return {};
  q.source = ir::attr_string_or(*db, "scale_source", "");
  return q;
}

Attributes with_scale_source(Attributes attrs, const std::string& source) {
  if (!source.empty()) attrs["scale_source"] = source;
  return attrs;
}

bool quantized_matmul_activation(const ir::Layer& l) {
  const std::string& act = ir::attr_string(l, "activation");
  return act == "none" || act == "relu" || act == "gelu" || act == "gelu_tanh";
}

std::vector<int> quantized_matmul_inputs(const ir::Layer& l, GraphRebuilder& rb, int a, int weight, int scale,
                                         int bias) {
  std::vector<int> in = {a, weight, scale, bias};
  if (l.inputs.size() > 3 && l.inputs[3] >= 0) in.push_back(rb.map(l.inputs[3]));  // the residual
  return in;
}

int weight_rows(const ir::Graph& g, const QuantizedWeight& w, GraphRebuilder& rb, const std::string& name) {
  return w.transposed ? rb.map(w.weight) : rb.constant(rows_of(constant_value(g, w.weight)), name);
}

}  // namespace tensorforge
