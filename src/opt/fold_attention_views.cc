// Attention view folding (see fold_attention_views.h).
#include "opt/fold_attention_views.h"

#include "opt/rebuild.h"
#include "opt/strided_view.h"

namespace tensorforge {

namespace {

struct Fold {
  StridedViewOf operand[3];
  int merge = -1;  // the transpose layer written in place, -1 for none
};

// The transpose that is the only reader of attention layer l's output, when it keeps the last dim.
int merge_transpose(const ir::Graph& g, const ir::Layer& l, const std::vector<int>& readers) {
  const int r = readers[l.outputs[0]];
  if (r < 0 || g.layers[r].kind != LayerKind::kTranspose) return -1;
  const std::vector<int64_t>& perm = ir::attr_ints(g.layers[r], "perm");
  const int64_t rank = static_cast<int64_t>(perm.size());
  return rank >= 2 && (perm.back() == rank - 1 || perm.back() == -1) ? r : -1;
}

}  // namespace

ir::Graph fold_attention_views(const ir::Graph& g) {
  const std::vector<int> readers = single_readers(g);
  std::vector<Fold> folds(g.layers.size());
  std::vector<bool> merged(g.layers.size(), false);
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind != LayerKind::kAttention || !non_empty(g, l)) continue;
    Fold& f = folds[li];
    for (int s = 0; s < 3; ++s) {
      if (!ir::attr_ints(l, ir::attention_view_attr(s)).empty()) continue;  // folded already
      f.operand[s] = strided_view_of(g, l.inputs[s]);
      if (f.operand[s].contiguous) f.operand[s] = {};  // a reshape of its input: free already
      any = any || f.operand[s].base >= 0;
    }
    f.merge = merge_transpose(g, l, readers);
    if (f.merge >= 0) merged[f.merge] = true;
    any = any || f.merge >= 0;
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (merged[li]) continue;  // its output was written by the attention above
    if (l.kind != LayerKind::kAttention) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const Fold& f = folds[li];
    std::vector<int> inputs = rb.map(l.inputs);
    Attributes attrs = l.attrs;
    for (int s = 0; s < 3; ++s) {
      const StridedViewOf& v = f.operand[s];
      if (v.base < 0) continue;
      inputs[s] = rb.map(v.base);
      std::vector<int64_t> a = v.view.dims.vec();
      a.insert(a.end(), v.view.strides.begin(), v.view.strides.end());
      a.push_back(v.view.offset);
      attrs[ir::attention_view_attr(s)] = a;
    }
    if (f.merge < 0) {
      rb.replace(static_cast<int>(li), l.kind, inputs, attrs, l.name);
      continue;
    }
    // out_perm composes: the output was transpose(attention, old); now transpose(that, perm).
    const std::vector<int64_t>& perm = ir::attr_ints(g.layers[f.merge], "perm");
    const std::vector<int64_t> old = ir::attention_out_perm(l);
    const int64_t r = static_cast<int64_t>(perm.size());
    std::vector<int64_t> composed(r);
    for (int64_t i = 0; i < r; ++i) {
      const int64_t p = perm[i] < 0 ? perm[i] + r : perm[i];
      composed[i] = old.empty() ? p : old[p];
    }
    attrs["out_perm"] = composed;
    rb.replace_tensors({g.layers[f.merge].outputs[0]}, l.kind, inputs, attrs, l.name,
                       {static_cast<int>(li), f.merge});
  }
  return rb.finish();
}

}  // namespace tensorforge
