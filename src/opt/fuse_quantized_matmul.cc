// Quantized matmul fusion (see fuse_quantized_matmul.h).
#include "opt/fuse_quantized_matmul.h"

#include <optional>
#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

struct Fusion {
  int q = -1;                      // the int8 (or uint8) activation tensor
  Dims view;                       // when a reshape came between its dequantize and the matmul: a's shape
  int weight = -1;                 // the int8 constant [K, N] or [N, K]
  bool transposed = false;         // it is [N, K] (transpose_b)
  std::vector<double> scale;       // sa · sb[n]
  std::vector<double> bias;        // empty: none
};

// The dequantize layer producing `id`, or nullptr.
const ir::Layer* dequantize_of(const ir::Graph& g, int id) {
  const int p = id >= 0 ? g.tensors[id].producer : -1;
  return p >= 0 && g.layers[p].kind == LayerKind::kDequantize ? &g.layers[p] : nullptr;
}

// A float32 constant's values when it has one element or exactly the extents `dims` allow
// (broadcast along one axis of extent n); empty otherwise.
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

// True when the zero point input `id` is absent or a constant of zeros.
bool zero_point_zero(const ir::Graph& g, int id) {
  if (id < 0) return true;
  if (!is_constant(g, id)) return false;
  const Weights& w = constant_value(g, id);
  const int32_t* z = static_cast<const int32_t*>(w.data());
  for (int64_t i = 0; i < w.dims().volume(); ++i)
    if (z[i] != 0) return false;
  return true;
}

std::optional<Fusion> match(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kMatMul || ir::attr_int(l, "transpose_a") != 0 || !l.size_attrs.empty()) return {};
  const std::string& act = ir::attr_string(l, "activation");
  if ((act != "none" && act != "relu") || (l.inputs.size() > 3 && l.inputs[3] >= 0)) return {};
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
  const ir::Layer* db = dequantize_of(g, l.inputs[1]);
  const DataType qt = da ? g.tensors[da->inputs[0]].dtype : DataType::kFloat32;
  if (!da || !db || (qt != DataType::kInt8 && qt != DataType::kUInt8)) return {};
  const int w = db->inputs[0];
  if (!is_constant(g, w) || g.tensors[w].dtype != DataType::kInt8 || g.tensors[w].dims.rank() != 2) return {};
  const bool tb = ir::attr_int(l, "transpose_b") != 0;
  const Dims& wd = g.tensors[w].dims;
  const int64_t n = tb ? wd[0] : wd[1], k = tb ? wd[1] : wd[0];
  // Activation: one scale and one zero point; weight: a scale per output channel, zero points 0.
  const std::vector<double> sa = channel_values(g, da->inputs[1], 1, Dims{1}, Dims{1});
  if (sa.size() != 1) return {};
  double za = 0;
  if (da->inputs.size() > 2 && da->inputs[2] >= 0) {
    if (!is_constant(g, da->inputs[2]) || constant_value(g, da->inputs[2]).dims().volume() != 1) return {};
    za = *static_cast<const int32_t*>(constant_value(g, da->inputs[2]).data());
  }
  const std::vector<double> sb = tb ? channel_values(g, db->inputs[1], n, Dims{n, 1}, Dims{n, 1})
                                     : channel_values(g, db->inputs[1], n, Dims{1, n}, Dims{n});
  if (sb.empty() || !zero_point_zero(g, db->inputs.size() > 2 ? db->inputs[2] : -1)) return {};
  Fusion f;
  f.q = da->inputs[0];
  f.view = view;
  f.weight = w;
  f.transposed = tb;
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

// An int8 [K, N] weight as [N, K]: each output channel's weights contiguous, the layout every
// quantized_matmul kernel reads fastest (cuBLASLt's int8 products take only this one).
Weights rows_of(const Weights& w) {
  const int64_t k = w.dims()[0], n = w.dims()[1];
  const int8_t* src = static_cast<const int8_t*>(w.data());
  std::vector<int8_t> t(static_cast<size_t>(k * n));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) t[static_cast<size_t>(j * k + i)] = src[i * n + j];
  return Weights(DataType::kInt8, Dims{n, k}, t.data());
}

}  // namespace

ir::Graph fuse_quantized_matmul(const ir::Graph& g) {
  std::vector<std::optional<Fusion>> fusions;
  bool any = false;
  for (const ir::Layer& l : g.layers) {
    fusions.push_back(match(g, l));
    any = any || fusions.back().has_value();
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!fusions[li]) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const Fusion& f = *fusions[li];
    const Dims n{static_cast<int64_t>(f.scale.size())};
    const int scale = rb.constant(float_weights(DataType::kFloat32, n, f.scale), l.name + ".scale");
    const int bias = f.bias.empty() ? -1 : rb.constant(float_weights(DataType::kFloat32, n, f.bias), l.name + ".bias");
    int a = rb.map(f.q);
    if (f.view.rank()) a = rb.add(LayerKind::kReshape, {a}, {{"shape", f.view.vec()}}, l.name + ".a");
    const int weight =
        f.transposed ? rb.map(f.weight) : rb.constant(rows_of(constant_value(g, f.weight)), l.name + ".weight");
    rb.replace(static_cast<int>(li), LayerKind::kQuantizedMatMul, {a, weight, scale, bias},
               {{"transpose_b", int64_t(1)},
                {"activation", ir::attr_string(l, "activation")},
                {"dtype", std::string(to_string(g.tensors[l.outputs[0]].dtype))}},
               l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
