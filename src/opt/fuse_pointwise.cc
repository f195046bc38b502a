// Pointwise fusion (see fuse_pointwise.h): grouping in one pass over the layers, then the graph is
// rebuilt with each group as one layer, the layers re-ordered topologically (a group runs where all
// its inputs exist, before any reader of its outputs).
#include "opt/fuse_pointwise.h"

#include <algorithm>
#include <queue>

#include "ir/pointwise_program.h"
#include "ir/printer.h"
#include "opt/rebuild.h"
#include "opt/strided_view.h"

namespace tensorforge {

namespace {

bool holds_values(DataType t) { return is_floating(t) || t == DataType::kBool; }

bool named_in(ir::PwOp kind, const std::string& op) {
  const auto& names = ir::pw_formula_names(kind);
  return std::find(names.begin(), names.end(), op) != names.end();
}

// A concat the fused kernel can read in place (DenseNet's growing concatenation, read by its batch
// norm and ReLU): two or more distinct pieces of its dtype, each longer than 1 along the axis (a
// piece of extent 1 could also be read broadcast by a layer of the group).
bool concat_prologue(const ir::Graph& g, const ir::Layer& l) {
  if (l.inputs.size() < 2 || !non_empty(g, l)) return false;
  const ir::TensorDesc& out = g.tensors[l.outputs[0]];
  const int64_t axis = ir::attr_int(l, "axis") < 0 ? ir::attr_int(l, "axis") + out.dims.rank() : ir::attr_int(l, "axis");
  std::vector<int> seen;
  for (int id : l.inputs) {
    const ir::TensorDesc& t = g.tensors[id];
    if (t.dtype != out.dtype || t.dims.rank() != out.dims.rank() || t.dims[static_cast<int>(axis)] < 2) return false;
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) return false;
    seen.push_back(id);
  }
  return true;
}

// A layer the fused kernel can compute: a pointwise kind, float/bool tensors, a formula for its op.
bool fusible(const ir::Graph& g, const ir::Layer& l) {
  if (l.outputs.size() != 1) return false;
  for (int id : l.inputs)
    if (id < 0 || !holds_values(g.tensors[id].dtype)) return false;
  if (!holds_values(g.tensors[l.outputs[0]].dtype)) return false;
  switch (l.kind) {
    case LayerKind::kElementwise: {
      const std::string& op = ir::attr_string(l, "op");
      return named_in(ir::PwOp::kBinary, op) || named_in(ir::PwOp::kCompare, op);
    }
    case LayerKind::kUnary: {
      const std::string& op = ir::attr_string(l, "op");
      return named_in(ir::PwOp::kUnary, op) || named_in(ir::PwOp::kPredicate, op);
    }
    case LayerKind::kActivation:
      return named_in(ir::PwOp::kActivation, ir::attr_string(l, "op"));
    case LayerKind::kCast:
    case LayerKind::kSelect:
      return true;
    case LayerKind::kConcat:
      return concat_prologue(g, l);
    default:
      return false;
  }
}

void merge_into(std::vector<int>& into, const std::vector<int>& from) {
  std::vector<int> out;
  std::set_union(into.begin(), into.end(), from.begin(), from.end(), std::back_inserter(out));
  into.swap(out);
}

bool contains(const std::vector<int>& sorted, int v) { return std::binary_search(sorted.begin(), sorted.end(), v); }

struct Group {
  Dims shape;
  std::vector<int> layers;
};

// group[li]: the group of layer li (-1 if not fusible). A layer joins the group of one of its
// inputs; when another input comes from a second group of the same shape, that group joins too
// (Llama's rotary embedding: q * cos and rotate_half(q) * sin meet in one add), unless a path
// through layers outside both groups links them.
std::vector<int> find_groups(const ir::Graph& g, std::vector<Group>& groups) {
  std::vector<int> group(g.layers.size(), -1);
  std::vector<int> rep;  // per group: the group it was merged into (itself when none), union-find
  auto find = [&](int x) {
    while (rep[x] != x) x = rep[x] = rep[rep[x]];
    return x;
  };
  auto group_of = [&](int layer) { return layer < 0 || group[layer] < 0 ? -1 : find(group[layer]); };
  std::vector<std::vector<int>> dep(g.tensors.size());  // groups each tensor depends on, sorted
  auto depends = [&](int tensor, int grp) {
    for (int x : dep[tensor])
      if (find(x) == grp) return true;
    return false;
  };
  // Whether some layer of group `a` reads, from outside `a` and `b`, a tensor that depends on `b`.
  auto linked_outside = [&](int a, int b) {
    for (int li : groups[a].layers)
      for (int id : g.layers[li].inputs) {
        const int q = group_of(g.tensors[id].producer);
        if (q != a && q != b && depends(id, b)) return true;
      }
    return false;
  };
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    std::vector<int> d;
    for (int id : l.inputs)
      if (id >= 0) merge_into(d, dep[id]);
    if (fusible(g, l)) {
      const Dims& shape = g.tensors[l.outputs[0]].dims;
      int joined = -1;
      for (int id : l.inputs) {
        const int cand = group_of(g.tensors[id].producer);
        if (cand < 0 || groups[cand].shape != shape) continue;
        bool convex = true;
        for (int other : l.inputs)
          if (group_of(g.tensors[other].producer) != cand && depends(other, cand)) convex = false;
        if (convex) {
          joined = cand;
          break;
        }
      }
      if (joined >= 0) {
        for (int id : l.inputs) {  // siblings: other input groups of this shape
          const int c2 = group_of(g.tensors[id].producer);
          if (c2 < 0 || c2 == joined || groups[c2].shape != shape) continue;
          bool convex = !linked_outside(joined, c2) && !linked_outside(c2, joined);
          for (int other : l.inputs) {
            const int q = group_of(g.tensors[other].producer);
            if (q != joined && q != c2 && depends(other, c2)) convex = false;
          }
          if (!convex) continue;
          std::vector<int> merged;
          std::merge(groups[joined].layers.begin(), groups[joined].layers.end(), groups[c2].layers.begin(),
                     groups[c2].layers.end(), std::back_inserter(merged));
          groups[joined].layers.swap(merged);
          groups[c2].layers.clear();
          rep[c2] = joined;
        }
      } else {
        joined = static_cast<int>(groups.size());
        groups.push_back({shape, {}});
        rep.push_back(joined);
      }
      group[li] = joined;
      groups[joined].layers.push_back(static_cast<int>(li));
      merge_into(d, {joined});
    }
    for (int id : l.outputs) dep[id] = d;
  }
  for (size_t li = 0; li < g.layers.size(); ++li)
    if (group[li] >= 0) group[li] = find(group[li]);
  return group;
}

constexpr size_t kMaxRecomputedLayers = 8;  // a broadcast group computed again per element: short ones

// Folds each group of a smaller, broadcasting shape into the one group that reads it (see the
// header). A group is folded only into a group that was not folded itself, and only when none of
// its inputs depends on the reader group (no path leaves the reader and comes back).
void absorb_broadcast_groups(const ir::Graph& g, std::vector<Group>& groups, std::vector<int>& group) {
  std::vector<char> network_output(g.tensors.size(), 0);
  for (int id : g.outputs) network_output[id] = 1;
  // Per group: the groups of the layers that read it from outside (-2: a non-fused layer or several).
  std::vector<int> reader(groups.size(), -1);
  for (size_t li = 0; li < g.layers.size(); ++li)
    for (int id : g.layers[li].inputs) {
      const int p = id >= 0 ? g.tensors[id].producer : -1;
      if (p < 0 || group[p] < 0 || group[p] == group[li]) continue;
      int& r = reader[group[p]];
      r = (group[li] < 0 || (r >= 0 && r != group[li])) ? -2 : group[li];
    }
  // Groups each tensor depends on (through any layers), to keep the merged group convex.
  std::vector<std::vector<int>> dep(g.tensors.size());
  for (size_t li = 0; li < g.layers.size(); ++li) {
    std::vector<int> d;
    for (int id : g.layers[li].inputs)
      if (id >= 0) merge_into(d, dep[id]);
    if (group[li] >= 0) merge_into(d, {group[li]});
    for (int id : g.layers[li].outputs) dep[id] = d;
  }
  std::vector<char> absorbed(groups.size(), 0), grown(groups.size(), 0);
  for (size_t h = 0; h < groups.size(); ++h) {
    const int into = reader[h];
    if (into < 0 || absorbed[into] || grown[h] || groups[h].layers.size() > kMaxRecomputedLayers) continue;
    const Group& big = groups[into];
    if (groups[h].shape == big.shape || !ir::broadcasts_to(groups[h].shape, big.shape) ||
        groups[h].shape.volume() >= big.shape.volume())
      continue;
    bool ok = true;
    for (int li : big.layers)  // a concat reads its pieces whole, not per element of the group
      if (g.layers[li].kind == LayerKind::kConcat) ok = false;
    for (int li : groups[h].layers)  // and has the iteration shape itself
      if (g.layers[li].kind == LayerKind::kConcat) ok = false;
    for (int li : groups[h].layers) {
      ok = ok && !network_output[g.layers[li].outputs[0]];
      for (int id : g.layers[li].inputs) {
        const int p = g.tensors[id].producer;
        if ((p < 0 || group[p] != static_cast<int>(h)) && contains(dep[id], into)) ok = false;
      }
    }
    if (!ok) continue;
    for (int li : groups[h].layers) group[li] = into;
    std::vector<int> merged;
    std::merge(big.layers.begin(), big.layers.end(), groups[h].layers.begin(), groups[h].layers.end(),
               std::back_inserter(merged));
    groups[into].layers.swap(merged);
    groups[h].layers.clear();
    absorbed[h] = 1;
    grown[into] = 1;
  }
}

struct Fused {
  std::vector<int> inputs;   // old tensor ids the layer reads from outside, in first-use order
  std::vector<int> outputs;  // old tensor ids needed outside
  std::string body;
  std::vector<int64_t> views;  // the "input_views" attribute: inputs read in place through strides
};

// Tensor `id` (of the group's shape) as a strided view of a tensor up its chain of transposes,
// slices, reshapes, as_strided copies and rotate-halves gathers (Llama's rotate_half) that costs
// at least one copy: the view of the chain below its trailing reshapes, whose dims may be finer
// than id's (Swin's window reverse: a [2, 2, 7, 2, 7, 96] transpose viewed as [2, 14, 14, 96]; a
// rotation splits its dim in two halves); base -1 otherwise. describe() checks that the dims
// refine with the group's shape.
StridedViewOf input_view(const ir::Graph& g, int id) {
  int t = id;
  while (g.tensors[t].producer >= 0 && g.layers[g.tensors[t].producer].kind == LayerKind::kReshape)
    t = g.layers[g.tensors[t].producer].inputs[0];
  if (t == id && g.tensors[t].producer < 0) return {};
  StridedViewOf v = strided_view_of(g, t, /*unit_last_stride=*/true, /*for_pointwise=*/true);
  if (v.base < 0 || v.contiguous || v.copies == 0 || g.tensors[v.base].dtype != g.tensors[id].dtype ||
      v.view.dims.volume() != g.tensors[t].dims.volume())
    return {};
  return v;
}

Fused describe(const ir::Graph& g, const Group& grp, const std::vector<int>& group, int gi,
               const std::vector<char>& read_outside, const std::vector<int>& reader) {
  Fused f;
  ir::Graph b;
  std::vector<int> map(g.tensors.size(), -1);
  std::vector<int> original;  // f.inputs without views
  bool has_concat = false;  // a concat's pieces walk at their own offsets: no views then
  for (int li : grp.layers) has_concat = has_concat || g.layers[li].kind == LayerKind::kConcat;
  for (int li : grp.layers)
    for (int id : g.layers[li].inputs) {
      int p = g.tensors[id].producer;
      if ((p >= 0 && group[p] == gi) || map[id] >= 0) continue;
      const ir::TensorDesc& t = g.tensors[id];
      map[id] = b.add_tensor(t.name, t.dtype, t.dims, -1, 0);
      b.inputs.push_back(map[id]);
      StridedViewOf v = reader[id] == li && !has_concat && t.dims == grp.shape ? input_view(g, id) : StridedViewOf{};
      if (v.base >= 0) {  // read in place: [input, rank, dims..., strides..., offset]
        const std::vector<int64_t> dims = v.view.dims.vec();
        f.views.push_back(static_cast<int64_t>(f.inputs.size()));
        f.views.push_back(static_cast<int64_t>(dims.size()));
        f.views.insert(f.views.end(), dims.begin(), dims.end());
        f.views.insert(f.views.end(), v.view.strides.begin(), v.view.strides.end());
        f.views.push_back(v.view.offset);
      }
      f.inputs.push_back(v.base >= 0 ? v.base : id);
      original.push_back(id);
    }
  for (int li : grp.layers) {
    const ir::Layer& l = g.layers[li];
    std::vector<int> ins;
    for (int id : l.inputs) ins.push_back(map[id]);
    int nl = b.add_layer(l.kind, ins, l.attrs, l.name);
    int out = l.outputs[0];
    map[out] = b.layers[nl].outputs[0];
    if (!b.by_name.count(g.tensors[out].name)) b.rename(map[out], g.tensors[out].name);
    if (read_outside[out]) {
      f.outputs.push_back(out);
      b.outputs.push_back(map[out]);
    }
  }
  f.body = ir::to_text(b);
  if (!f.views.empty()) {  // views whose dims do not refine with the group's shape (or refine into
                           // more than kMaxDims dims together): read the copies
    try {
      ir::PwProgram p = ir::compile_pointwise_body(f.body);
      ir::apply_input_views(p, f.views);
      (void)ir::pointwise_iteration(p);
    } catch (const Error&) {
      f.views.clear();
      f.inputs = original;
    }
  }
  return f;
}

// Each tensor's single reader (single_readers), except that a tensor read by a rotate-halves gather
// and by one layer of the group that reads the gather is that layer's alone: the group reads the
// gather in place, so its input becomes a view read too and its copy dies.
std::vector<int> readers_through_rotations(const ir::Graph& g, const std::vector<int>& group) {
  std::vector<int> reader = single_readers(g);
  std::vector<std::vector<int>> readers(g.tensors.size());  // every reader, once each
  for (size_t li = 0; li < g.layers.size(); ++li)
    for (int id : g.layers[li].inputs)
      if (id >= 0 && (readers[id].empty() || readers[id].back() != static_cast<int>(li)))
        readers[id].push_back(static_cast<int>(li));
  std::vector<char> is_output(g.tensors.size(), 0);
  for (int id : g.outputs) is_output[id] = 1;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!rotate_halves_gather(g, l)) continue;
    const int r = reader[l.outputs[0]], x = l.inputs[0];
    if (r < 0 || group[r] < 0 || is_output[x] || readers[x].size() != 2) continue;
    const int other = readers[x][0] == static_cast<int>(li) ? readers[x][1] : readers[x][0];
    if (group[other] == group[r]) reader[x] = other;
  }
  return reader;
}

}  // namespace

ir::Graph fuse_pointwise(const ir::Graph& g) {
  std::vector<Group> groups;
  std::vector<int> group = find_groups(g, groups);
  absorb_broadcast_groups(g, groups, group);
  std::vector<char> read_outside(g.tensors.size(), 0);
  for (int id : g.outputs) read_outside[id] = 1;
  for (size_t li = 0; li < g.layers.size(); ++li)
    for (int id : g.layers[li].inputs) {
      int p = id >= 0 ? g.tensors[id].producer : -1;
      if (p >= 0 && (group[li] < 0 || group[li] != group[p])) read_outside[id] = 1;
    }
  // Which groups become fused layers: two or more layers, or one that reads an input through a view
  // (a copy saved), and something outside needs them.
  const std::vector<int> reader = readers_through_rotations(g, group);
  std::vector<char> fuse(groups.size(), 0);
  std::vector<Fused> fused(groups.size());
  bool any = false;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    if (groups[gi].layers.empty()) continue;
    const bool single = groups[gi].layers.size() == 1;
    if (single && g.layers[groups[gi].layers[0]].kind == LayerKind::kConcat) continue;
    fused[gi] = describe(g, groups[gi], group, static_cast<int>(gi), read_outside, reader);
    fuse[gi] = !fused[gi].outputs.empty() && (!single || !fused[gi].views.empty());
    any = any || fuse[gi];
  }
  if (!any) return g;

  // Units: a fused group, or a single layer. Order them topologically, earliest original layer first.
  const int nl = static_cast<int>(g.layers.size());
  std::vector<int> unit_of(nl);
  std::vector<int> unit_group;  // per unit: group index, or -1 for a single layer
  std::vector<int> unit_layer;  // per unit: the (first) layer
  std::vector<int> unit_of_group(groups.size(), -1);
  for (int li = 0; li < nl; ++li) {
    int gi = group[li];
    if (gi >= 0 && fuse[gi]) {
      if (unit_of_group[gi] < 0) {
        unit_of_group[gi] = static_cast<int>(unit_group.size());
        unit_group.push_back(gi);
        unit_layer.push_back(li);
      }
      unit_of[li] = unit_of_group[gi];
    } else {
      unit_of[li] = static_cast<int>(unit_group.size());
      unit_group.push_back(-1);
      unit_layer.push_back(li);
    }
  }
  const int nu = static_cast<int>(unit_group.size());
  std::vector<std::vector<int>> readers(nu);
  std::vector<int> waiting(nu, 0);
  for (int li = 0; li < nl; ++li)
    for (int id : g.layers[li].inputs) {
      int p = id >= 0 ? g.tensors[id].producer : -1;
      if (p < 0 || unit_of[p] == unit_of[li]) continue;
      readers[unit_of[p]].push_back(unit_of[li]);
      ++waiting[unit_of[li]];
    }
  std::priority_queue<std::pair<int, int>, std::vector<std::pair<int, int>>, std::greater<>> ready;
  for (int u = 0; u < nu; ++u)
    if (!waiting[u]) ready.push({unit_layer[u], u});

  GraphRebuilder rb(g);
  int emitted = 0;
  while (!ready.empty()) {
    int u = ready.top().second;
    ready.pop();
    ++emitted;
    int gi = unit_group[u];
    if (gi < 0) {
      rb.copy(unit_layer[u]);
    } else {
      const Group& grp = groups[gi];
      Attributes attrs = {{"body", fused[gi].body}};
      if (!fused[gi].views.empty()) attrs["input_views"] = fused[gi].views;
      rb.replace_tensors(fused[gi].outputs, LayerKind::kPointwise, rb.map(fused[gi].inputs), attrs,
                         g.layers[grp.layers.back()].name + ".fused", grp.layers);
    }
    for (int r : readers[u])
      if (--waiting[r] == 0) ready.push({unit_layer[r], r});
  }
  if (emitted != nu) throw Error(ErrorCode::kInternal, "fuse_pointwise: the fused graph has a cycle");
  return rb.finish();
}

}  // namespace tensorforge
