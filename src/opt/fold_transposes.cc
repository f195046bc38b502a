// Transpose folding (see fold_transposes.h).
#include "opt/fold_transposes.h"

#include <string>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The input of the transpose producing `id` when it swaps exactly the last two dims; else -1.
int swapped_source(const ir::Graph& g, int id) {
  const int p = g.tensors[id].producer;
  if (p < 0 || g.layers[p].kind != LayerKind::kTranspose) return -1;
  const std::vector<int64_t>& perm = ir::attr_ints(g.layers[p], "perm");
  const int r = static_cast<int>(perm.size());
  if (r < 2) return -1;
  for (int i = 0; i < r - 2; ++i)
    if (perm[i] != i) return -1;
  return perm[r - 2] == r - 1 && perm[r - 1] == r - 2 ? g.layers[p].inputs[0] : -1;
}

}  // namespace

ir::Graph fold_transposes(const ir::Graph& g) {
  bool any = false;
  for (const ir::Layer& l : g.layers)
    if (l.kind == LayerKind::kMatMul)
      any = any || swapped_source(g, l.inputs[0]) >= 0 || swapped_source(g, l.inputs[1]) >= 0;
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind != LayerKind::kMatMul) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    std::vector<int> inputs = rb.map(l.inputs);
    Attributes attrs = l.attrs;
    const char* flags[2] = {"transpose_a", "transpose_b"};
    for (int k = 0; k < 2; ++k) {
      const int src = swapped_source(g, l.inputs[k]);
      if (src < 0) continue;
      inputs[k] = rb.map(src);
      attrs[flags[k]] = int64_t(ir::attr_int(l, flags[k]) == 0 ? 1 : 0);
    }
    rb.replace(static_cast<int>(li), l.kind, inputs, attrs, l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
