// Weight-only matmul fusion (see fuse_weight_only_matmul.h).
#include "opt/fuse_weight_only_matmul.h"

#include <optional>
#include <vector>

#include "opt/quantized_weights.h"
#include "opt/rebuild.h"

namespace tensorforge {

bool weight_only_candidate(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kMatMul || l.inputs.size() < 2 || l.inputs[0] < 0 || l.inputs[1] < 0) return false;
  const ir::TensorDesc& a = g.tensors[l.inputs[0]];
  if (!is_floating(a.dtype) || a.dims.rank() < 1 || dequantize_of(g, l.inputs[0])) return false;
  const int64_t k = a.dims[a.dims.rank() - 1];
  return k > 0 && a.dims.volume() / k <= kWeightOnlyMaxRows && dequantize_of(g, l.inputs[1]);
}

namespace {

std::optional<QuantizedWeight> match(const ir::Graph& g, const ir::Layer& l) {
  if (!weight_only_candidate(g, l) || ir::attr_int(l, "transpose_a") != 0 || !l.size_attrs.empty()) return {};
  if (!quantized_matmul_activation(l)) return {};
  if (!is_floating(g.tensors[l.outputs[0]].dtype) || !non_empty(g, l)) return {};
  if (l.inputs.size() > 2 && l.inputs[2] >= 0 && !is_constant(g, l.inputs[2])) return {};
  std::optional<QuantizedWeight> w = quantized_weight(g, l);
  if (w && w->dtype != DataType::kInt8) return {};  // int8 weights only (float8 ones pair with float8 rows)
  return w;
}

}  // namespace

ir::Graph fuse_weight_only_matmul(const ir::Graph& g) {
  std::vector<std::optional<QuantizedWeight>> fusions;
  bool any = false;
  for (const ir::Layer& l : g.layers) {
    fusions.push_back(match(g, l));
    any = any || fusions.back().has_value();
  }
  if (!any) fusions.clear();
  return rebuild_matches(g, fusions, [&](GraphRebuilder& rb, int li, const QuantizedWeight& w) {
    const ir::Layer& l = g.layers[li];
    const int scale = rb.constant(float_weights(DataType::kFloat32, Dims{w.n}, w.scale), l.name + ".scale");
    int bias = -1;
    if (l.inputs.size() > 2 && l.inputs[2] >= 0)  // the matmul's own constant bias, as float32 [N]
      bias = rb.constant(float_weights(DataType::kFloat32, Dims{w.n}, float_values(constant_value(g, l.inputs[2]))),
                         l.name + ".bias");
    rb.replace(li, LayerKind::kQuantizedMatMul,
               quantized_matmul_inputs(l, rb, rb.map(l.inputs[0]), weight_rows(g, w, rb, l.name + ".weight"), scale,
                                       bias),
               with_scale_source({{"transpose_b", int64_t(1)},
                                  {"activation", ir::attr_string(l, "activation")},
                                  {"dtype", std::string(to_string(g.tensors[l.outputs[0]].dtype))}},
                                 w.source),
               l.name);
  });
}

}  // namespace tensorforge
