// Pad folding (see fold_pads.h).
#include "opt/fold_pads.h"

#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The spatial padding (one value per spatial dim) the pad producing `id` adds on both sides of
// each spatial dim, when it is a zero constant pad of only those, evenly; else empty.
std::vector<int64_t> even_spatial_pad(const ir::Graph& g, int id) {
  const int p = g.tensors[id].producer;
  if (p < 0 || g.layers[p].kind != LayerKind::kPad) return {};
  const ir::Layer& l = g.layers[p];
  if (ir::attr_string(l, "mode") != "constant" || ir::attr_float(l, "value") != 0.0) return {};
  const std::vector<int64_t>& pads = ir::attr_ints(l, "pads");
  const size_t r = pads.size() / 2;
  if (r < 3 || pads[0] != 0 || pads[1] != 0 || pads[r] != 0 || pads[r + 1] != 0) return {};
  std::vector<int64_t> spatial;
  for (size_t i = 2; i < r; ++i) {
    if (pads[i] != pads[r + i] || pads[i] < 0) return {};
    spatial.push_back(pads[i]);
  }
  return spatial;
}

bool foldable(const ir::Graph& g, const ir::Layer& l) {
  return l.kind == LayerKind::kConvolution && ir::attr_string(l, "layout") == "nchw" &&
         !even_spatial_pad(g, l.inputs[0]).empty();
}

}  // namespace

ir::Graph fold_pads(const ir::Graph& g) {
  bool any = false;
  for (const ir::Layer& l : g.layers) any = any || foldable(g, l);
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!foldable(g, l)) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const std::vector<int64_t> extra = even_spatial_pad(g, l.inputs[0]);
    std::vector<int64_t> padding = ir::attr_ints(l, "padding");
    padding.resize(extra.size(), 0);
    for (size_t i = 0; i < extra.size(); ++i) padding[i] += extra[i];
    Attributes attrs = l.attrs;
    attrs["padding"] = padding;
    std::vector<int> inputs = rb.map(l.inputs);
    const int pad_layer = g.tensors[l.inputs[0]].producer;
    inputs[0] = rb.map(g.layers[pad_layer].inputs[0]);
    rb.replace(static_cast<int>(li), l.kind, inputs, attrs, l.name, {static_cast<int>(li), pad_layer});
  }
  return rb.finish();
}

}  // namespace tensorforge
