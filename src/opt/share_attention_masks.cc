// Shared additive attention masks (see share_attention_masks.h).
#include "opt/share_attention_masks.h"

#include <limits>
#include <map>
#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The bool mask an attention layer reads (its input 3), or -1.
int bool_mask(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kAttention || l.inputs.size() < 4 || l.inputs[3] < 0) return -1;
  return g.tensors[l.inputs[3]].dtype == DataType::kBool ? l.inputs[3] : -1;
}

}  // namespace

ir::Graph share_attention_masks(const ir::Graph& g) {
  // Each bool mask's readers, and whether they share one float dtype.
  std::map<int, std::vector<int>> readers;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const int m = bool_mask(g, g.layers[li]);
    if (m >= 0) readers[m].push_back(static_cast<int>(li));
  }
  std::map<int, DataType> shared;  // mask -> the dtype of its additive form
  for (const auto& [m, layers] : readers) {
    if (layers.size() < 2) continue;
    const DataType t = g.tensors[g.layers[layers[0]].inputs[0]].dtype;
    bool same = is_floating(t);
    for (int li : layers) same = same && g.tensors[g.layers[li].inputs[0]].dtype == t;
    if (same) shared[m] = t;
  }
  if (shared.empty()) return g;
  GraphRebuilder rb(g);
  std::map<int, int> additive;  // old mask id -> new additive mask id
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    const int m = bool_mask(g, l);
    auto it = shared.find(m);
    if (m < 0 || it == shared.end()) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    if (!additive.count(m)) {  // at the first reader: the mask's producer came before it
      const std::string& name = g.tensors[m].name;
      const int zero = rb.constant(float_weights(it->second, Dims{}, {0.0}), name + "_keep");
      const int drop =
          rb.constant(float_weights(it->second, Dims{}, {-std::numeric_limits<double>::infinity()}), name + "_drop");
      additive[m] = rb.add(LayerKind::kSelect, {rb.map(m), zero, drop}, {}, name + "_additive");
    }
    std::vector<int> inputs = rb.map(l.inputs);
    inputs[3] = additive[m];
    rb.replace(static_cast<int>(li), LayerKind::kAttention, inputs, l.attrs, l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
