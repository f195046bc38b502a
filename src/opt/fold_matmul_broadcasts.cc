#include "opt/fold_matmul_broadcasts.h"

#include <algorithm>
#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The batch dims (all but the last two) of `d`.
std::vector<int64_t> batch_of(const Dims& d) {
  std::vector<int64_t> v = d.vec();
  v.resize(v.size() >= 2 ? v.size() - 2 : 0);
  return v;
}

// Numpy broadcast of two batch shapes; false where an extent pair is neither equal nor has a 1.
bool broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b, std::vector<int64_t>& out) {
  const size_t n = std::max(a.size(), b.size());
  out.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) return false;
    out[i] = x == 1 ? y : x;
  }
  return true;
}

// The expand's input where operand `which` of matmul `l` can read it instead of the expand; -1 if not.
int unexpanded(const ir::Graph& g, const ir::Layer& l, int which) {
  const int id = l.inputs[which];
  const int p = g.tensors[id].producer;
  if (p < 0 || g.layers[p].kind != LayerKind::kExpand) return -1;
  const int src = g.layers[p].inputs[0];
  const Dims &from = g.tensors[src].dims, &to = g.tensors[id].dims;
  if (from.rank() < 2 || from[from.rank() - 1] != to[to.rank() - 1] || from[from.rank() - 2] != to[to.rank() - 2])
    return -1;
  std::vector<int64_t> batch;
  const Dims& other = g.tensors[l.inputs[1 - which]].dims;
  if (!broadcast(batch_of(from), batch_of(other), batch)) return -1;
  return batch == batch_of(g.tensors[l.outputs[0]].dims) ? src : -1;
}

}  // namespace

ir::Graph fold_matmul_broadcasts(const ir::Graph& g) {
  std::vector<std::vector<int>> inputs(g.layers.size());
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind != LayerKind::kMatMul || l.inputs.size() < 2 || l.inputs[0] < 0 || l.inputs[1] < 0) continue;
    std::vector<int> in = l.inputs;
    for (int which : {1, 0}) {  // b first: a weight expanded to the batch is the common case
      ir::Layer probe = l;
      probe.inputs = in;
      const int src = unexpanded(g, probe, which);
      if (src >= 0) in[which] = src;
    }
    if (in != l.inputs) {
      inputs[li] = std::move(in);
      any = true;
    }
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (inputs[li].empty())
      rb.copy(static_cast<int>(li));
    else
      rb.replace(static_cast<int>(li), l.kind, rb.map(inputs[li]), l.attrs, l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
