// Quantized matmul fusion (see fuse_quantized_matmul.h).
#include "opt/fuse_quantized_matmul.h"

#include <optional>
#include <vector>

#include "opt/quantized_weights.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

struct Fusion {
  int q = -1;                      // the int8 (or uint8) activation tensor
  Dims view;                       // when a reshape came between its dequantize and the matmul: a's shape
  QuantizedWeight weight;          // the int8 constant [K, N] or [N, K] and its scales
  std::vector<double> scale;       // sa · sb[n]
  std::vector<double> bias;        // empty: none
};

// kFloat8: float8 rows and weights only; else int8/uint8 rows and int8 weights only.
std::optional<Fusion> match(const ir::Graph& g, const ir::Layer& l, bool float8) {
  if (l.kind != LayerKind::kMatMul || ir::attr_int(l, "transpose_a") != 0 || !l.size_attrs.empty()) return {};
  if (!quantized_matmul_activation(l)) return {};
  const DataType out = g.tensors[l.outputs[0]].dtype;
  if (!is_floating(out) || !non_empty(g, l)) return {};
  // a: dequantize(q), or a reshape of it (a linear layer's [B, S, K] activation viewed as [B·S, K]).
  const ir::Layer* da = dequantize_of(g, l.inputs[0]);
  Dims view;
  const int ap = g.tensors[l.inputs[0]].producer;
  if (!da && ap >= 0 && g.layers[ap].kind == LayerKind::kReshape && g.layers[ap].size_attrs.empty()) {
    da = dequantize_of(g, g.layers[ap].inputs[0]);
    view = g.tensors[l.inputs[0]].dims;
  }
  const std::optional<QuantizedWeight> qw = quantized_weight(g, l);
  const DataType qt = da ? g.tensors[da->inputs[0]].dtype : DataType::kFloat32;
  // int8 or uint8 activations with int8 weights, or float8 with float8.
  if (!da || !qw || ((qt != DataType::kInt8 && qt != DataType::kUInt8) || is_float8(qw->dtype)) != is_float8(qt))
    return {};
  if (is_float8(qt) != float8) return {};
  const int64_t n = qw->n, k = qw->k;
  const bool tb = qw->transposed;
  // Activation: one scale and one zero point; weight: a scale per output channel, zero points 0.
  const std::vector<double> sa = channel_values(g, da->inputs[1], 1, Dims{1}, Dims{1});
  if (sa.size() != 1) return {};
  double za = 0;
  if (da->inputs.size() > 2 && da->inputs[2] >= 0) {
    if (!is_constant(g, da->inputs[2]) || constant_value(g, da->inputs[2]).dims().volume() != 1) return {};
    za = *static_cast<const int32_t*>(constant_value(g, da->inputs[2]).data());
  }
  const std::vector<double>& sb = qw->scale;
  const int w = qw->weight;
  Fusion f;
  f.q = da->inputs[0];
  f.view = view;
  f.weight = *qw;
  for (int64_t j = 0; j < n; ++j) f.scale.push_back(sa[0] * sb[j]);
  const int bias = l.inputs.size() > 2 ? l.inputs[2] : -1;
  if (bias >= 0) {
    if (!is_constant(g, bias)) return {};
    f.bias = float_values(constant_value(g, bias));
  }
  if (za != 0) {  // Σk (q - za) W = Σk q W - za Σk W: the second term joins the bias
    if (f.bias.empty()) f.bias.assign(static_cast<size_t>(n), 0.0);
    const int8_t* wq = static_cast<const int8_t*>(constant_value(g, w).data());
    for (int64_t j = 0; j < n; ++j) {
      int64_t sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += tb ? wq[j * k + i] : wq[i * n + j];
      f.bias[j] -= f.scale[j] * za * static_cast<double>(sum);
    }
  }
  return f;
}

ir::Graph fuse(const ir::Graph& g, bool float8) {
  std::vector<std::optional<Fusion>> fusions;
  bool any = false;
  for (const ir::Layer& l : g.layers) {
    fusions.push_back(match(g, l, float8));
    any = any || fusions.back().has_value();
  }
  if (!any) fusions.clear();
  return rebuild_matches(g, fusions, [&](GraphRebuilder& rb, int li, const Fusion& f) {
    const ir::Layer& l = g.layers[li];
    const Dims n{static_cast<int64_t>(f.scale.size())};
    const int scale = rb.constant(float_weights(DataType::kFloat32, n, f.scale), l.name + ".scale");
    const int bias = f.bias.empty() ? -1 : rb.constant(float_weights(DataType::kFloat32, n, f.bias), l.name + ".bias");
    int a = rb.map(f.q);
    if (f.view.rank()) a = rb.add(LayerKind::kReshape, {a}, {{"shape", f.view.vec()}}, l.name + ".a");
    const int weight = weight_rows(g, f.weight, rb, l.name + ".weight");
    rb.replace(li, LayerKind::kQuantizedMatMul, quantized_matmul_inputs(l, rb, a, weight, scale, bias),
               with_scale_source({{"transpose_b", int64_t(1)},
                                  {"activation", ir::attr_string(l, "activation")},
                                  {"dtype", std::string(to_string(g.tensors[l.outputs[0]].dtype))}},
                                 f.weight.source),
               l.name);
  });
}

}  // namespace

ir::Graph fuse_quantized_matmul(const ir::Graph& g) { return fuse(g, false); }

ir::Graph fuse_float8_matmul(const ir::Graph& g) { return fuse(g, true); }

}  // namespace tensorforge
