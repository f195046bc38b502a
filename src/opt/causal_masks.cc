// Causal-mask recognition (see causal_masks.h).
#include "opt/causal_masks.h"

#include <cmath>
#include <optional>

#include "ir/attention_views.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// Element k of constant `w` as "kept" (true: the key is attended), or -1 when it is neither a
// clear keep nor a clear mask (an additive value other than 0 and -inf).
int kept(const Weights& w, const std::vector<double>& floats, int64_t k) {
  if (w.dtype() == DataType::kBool) return static_cast<const uint8_t*>(w.data())[k] != 0;
  const double v = floats[k];
  if (v == 0.0) return 1;
  return std::isinf(v) && v < 0 ? 0 : -1;
}

// Whether the constant mask `id` is the causal pattern over scores [..., L, S].
bool is_causal_mask(const ir::Graph& g, int id, int64_t l, int64_t s) {
  if (!is_constant(g, id)) return false;
  const Weights& w = constant_value(g, id);
  const Dims& d = w.dims();
  if (d.rank() < 2 || d[d.rank() - 2] != l || d[d.rank() - 1] != s || l < 1 || s < 1) return false;
  const bool is_bool = w.dtype() == DataType::kBool;
  if (!is_bool && !is_floating(w.dtype())) return false;
  const std::vector<double> floats = is_bool ? std::vector<double>{} : float_values(w);
  const int64_t slices = d.volume() / (l * s);
  for (int64_t b = 0; b < slices; ++b)
    for (int64_t i = 0; i < l; ++i)
      for (int64_t j = 0; j < s; ++j)
        if (kept(w, floats, (b * l + i) * s + j) != (j <= i ? 1 : 0)) return false;
  return true;
}

}  // namespace

ir::Graph causal_masks(const ir::Graph& g) {
  std::vector<std::optional<bool>> causal(g.layers.size());
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind != LayerKind::kAttention || l.inputs.size() < 4 || l.inputs[3] < 0 || ir::attr_int(l, "causal") != 0)
      continue;
    const Dims q = ir::attention_operand(l, 0, g.tensors[l.inputs[0]].dims).dims;
    const Dims k = ir::attention_operand(l, 1, g.tensors[l.inputs[1]].dims).dims;
    if (is_causal_mask(g, l.inputs[3], q[q.rank() - 2], k[k.rank() - 2])) causal[li] = any = true;
  }
  if (!any) causal.clear();
  return rebuild_matches(g, causal, [&](GraphRebuilder& rb, int li, bool) {
    const ir::Layer& l = g.layers[li];
    Attributes attrs = l.attrs;
    attrs["causal"] = int64_t(1);
    rb.replace(li, LayerKind::kAttention, {rb.map(l.inputs[0]), rb.map(l.inputs[1]), rb.map(l.inputs[2])}, attrs,
               l.name);
  });
}

}  // namespace tensorforge
