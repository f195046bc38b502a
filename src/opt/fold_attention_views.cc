// Attention view folding (see fold_attention_views.h).
#include "opt/fold_attention_views.h"

#include "opt/rebuild.h"
#include "opt/strided_view.h"

namespace tensorforge {

namespace {

struct Fold {
  StridedViewOf operand[3];
  int merge = -1;             // the transpose layer written in place, -1 for none
  std::vector<int> reshapes;  // reshapes between the attention and that transpose (regrouping batch dims)
  std::vector<int64_t> perm;  // the transpose's permutation over the attention's own dims
};

// The transpose that keeps the last dim and reads attention layer l's output, alone or through
// reshapes that only regroup its batch dims (each the only reader of the one before): fills f.merge,
// f.reshapes and f.perm (the transpose's permutation expanded onto the attention's dims, each
// regrouped dim moving as its group).
void merge_transpose(const ir::Graph& g, const ir::Layer& l, const std::vector<int>& readers, Fold& f) {
  const Dims& a = g.tensors[l.outputs[0]].dims;
  int t = l.outputs[0], r = readers[t];
  std::vector<int> chain;
  while (r >= 0 && g.layers[r].kind == LayerKind::kReshape && same_last_two(g.tensors[g.layers[r].outputs[0]].dims, a)) {
    chain.push_back(r);
    t = g.layers[r].outputs[0];
    r = readers[t];
  }
  if (r < 0 || g.layers[r].kind != LayerKind::kTranspose) return;
  const std::vector<int64_t>& perm = ir::attr_ints(g.layers[r], "perm");
  const int64_t rank = static_cast<int64_t>(perm.size());
  if (rank < 2 || (perm.back() != rank - 1 && perm.back() != -1)) return;
  std::vector<int64_t> expanded;
  if (chain.empty()) {
    expanded = perm;
  } else {
    if (!ir::attention_out_perm(l).empty()) return;  // a permuted write already: not composed through reshapes
    const auto groups = dim_groups(a.vec(), g.tensors[t].dims.vec());
    if (!groups) return;
    for (int64_t p : perm)
      for (int d : (*groups)[p < 0 ? p + rank : p]) expanded.push_back(d);
    if (static_cast<int>(expanded.size()) != a.rank()) return;  // a size-1 dim joined no group
  }
  f.merge = r;
  f.reshapes = chain;
  f.perm = expanded;
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
    merge_transpose(g, l, readers, f);
    if (f.merge >= 0) merged[f.merge] = true;
    for (int r : f.reshapes) merged[r] = true;
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
    const std::vector<int64_t>& perm = f.perm;
    const std::vector<int64_t> old = ir::attention_out_perm(l);
    const int64_t r = static_cast<int64_t>(perm.size());
    std::vector<int64_t> composed(r);
    for (int64_t i = 0; i < r; ++i) {
      const int64_t p = perm[i] < 0 ? perm[i] + r : perm[i];
      composed[i] = old.empty() ? p : old[p];
    }
    attrs["out_perm"] = composed;
    std::vector<int> folded = {static_cast<int>(li), f.merge};
    folded.insert(folded.end(), f.reshapes.begin(), f.reshapes.end());
    if (f.reshapes.empty()) {
      rb.replace_tensors({g.layers[f.merge].outputs[0]}, l.kind, inputs, attrs, l.name, folded);
      continue;
    }
    // Through reshapes: the attention writes its dims permuted as groups, and one reshape (free)
    // gives the transpose's output shape.
    const int a = rb.add_holding(l.kind, inputs, attrs, l.name, folded);
    const int out = g.layers[f.merge].outputs[0];
    rb.replace_tensors({out}, LayerKind::kReshape, {a}, {{"shape", g.tensors[out].dims.vec()}},
                       g.layers[f.merge].name, {f.merge});
  }
  return rb.finish();
}

}  // namespace tensorforge
