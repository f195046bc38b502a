// Transpose cancellation (see cancel_transposes.h).
#include "opt/cancel_transposes.h"

#include <vector>

#include "opt/eliminate_dead_layers.h"
#include "opt/rebuild.h"
#include "opt/remove_identities.h"

namespace tensorforge {

namespace {

std::vector<int64_t> normalized_perm(const ir::Layer& l) {
  std::vector<int64_t> perm = ir::attr_ints(l, "perm");
  const int64_t r = static_cast<int64_t>(perm.size());
  for (int64_t& p : perm) p = p < 0 ? p + r : p;
  return perm;
}

bool is_transpose(const ir::Graph& g, int tensor) {
  const int p = g.tensors[tensor].producer;
  return p >= 0 && g.layers[p].kind == LayerKind::kTranspose;
}

}  // namespace

ir::Graph cancel_transposes(const ir::Graph& g) {
  // For every transpose output: the tensor its chain of transposes starts from and the one perm
  // that reads it from there (out dim i = root dim perm[i]).
  std::vector<int> root(g.tensors.size(), -1);
  std::vector<std::vector<int64_t>> perm(g.tensors.size());
  bool any = false;
  for (const ir::Layer& l : g.layers) {
    if (l.kind != LayerKind::kTranspose || l.inputs.empty() || l.inputs[0] < 0) continue;
    const int in = l.inputs[0], out = l.outputs[0];
    std::vector<int64_t> p = normalized_perm(l);
    if (is_transpose(g, in) && root[in] >= 0) {
      for (int64_t& d : p) d = perm[in][d];
      root[out] = root[in];
      any = true;
    } else {
      root[out] = in;
    }
    perm[out] = p;
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    const int out = l.outputs.empty() ? -1 : l.outputs[0];
    if (l.kind != LayerKind::kTranspose || out < 0 || root[out] < 0 || root[out] == l.inputs[0]) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    Attributes attrs = l.attrs;
    attrs["perm"] = perm[out];
    rb.replace(static_cast<int>(li), LayerKind::kTranspose, {rb.map(root[out])}, attrs, l.name);
  }
  // The first transposes of chains are often read by nothing now: dropped here, so the fusion
  // after this pass does not keep their inputs alive as extra outputs.
  return eliminate_dead_layers(remove_identities(rb.finish()));
}

}  // namespace tensorforge
