// Strided view composition (see strided_view.h).
//
// A view is tracked as groups of atoms: each visible dim is a group of (extent, stride) atoms, outer
// first, whose extents multiply to the dim's extent. A reshape regroups the atoms (splitting one
// where a new dim boundary falls inside it), a transpose permutes the groups, a slice narrows a
// group of one atom (or the outer atom of a group at whole inner blocks). Groups of several atoms
// that do not merge into one stride are allowed in between — the head split of multi-head
// attention passes through such a shape — and only the end result must have one atom per dim.
#include "opt/strided_view.h"

#include <optional>

#include "common/broadcast.h"

namespace tensorforge {

namespace {

struct Atom {
  int64_t extent, stride;
};

struct Composite {
  std::vector<std::vector<Atom>> dims;
  int64_t offset = 0;
};

// Merges neighbours that are one stride (outer.stride == inner.extent * inner.stride).
std::vector<Atom> merged(const std::vector<Atom>& atoms) {
  std::vector<Atom> r;
  for (const Atom& a : atoms) {
    if (a.extent == 1) continue;
    if (!r.empty() && r.back().stride == a.extent * a.stride) {
      r.back() = {r.back().extent * a.extent, a.stride};
      continue;
    }
    r.push_back(a);
  }
  return r;
}

bool reshape(Composite& c, const Dims& to) {
  std::vector<Atom> flat;
  for (const auto& d : c.dims) flat.insert(flat.end(), d.begin(), d.end());
  flat = merged(flat);
  size_t next = 0;
  std::vector<std::vector<Atom>> out(to.rank());
  for (int i = 0; i < to.rank(); ++i) {
    int64_t need = to[i];
    while (need > 1) {
      if (next == flat.size()) return false;
      Atom& a = flat[next];
      if (a.extent <= need) {
        if (need % a.extent != 0) return false;
        out[i].push_back(a);
        need /= a.extent;
        ++next;
      } else {  // the boundary falls inside this atom: its outer part ends this dim
        if (a.extent % need != 0) return false;
        out[i].push_back({need, a.stride * (a.extent / need)});
        a.extent /= need;
        need = 1;
      }
    }
  }
  if (next != flat.size()) return false;
  c.dims = std::move(out);
  return true;
}

bool transpose(Composite& c, const std::vector<int64_t>& perm) {
  const int r = static_cast<int>(c.dims.size());
  if (static_cast<int>(perm.size()) != r) return false;
  std::vector<std::vector<Atom>> out(r);
  for (int i = 0; i < r; ++i) {
    const int64_t p = perm[i] < 0 ? perm[i] + r : perm[i];
    if (p < 0 || p >= r) return false;
    out[i] = c.dims[p];
  }
  c.dims = std::move(out);
  return true;
}

// Dim `axis` (extent n) keeps elements start, start + step, ... (`extent` of them).
bool slice(Composite& c, int axis, int64_t start, int64_t step, int64_t extent) {
  std::vector<Atom> g = merged(c.dims[axis]);
  if (extent == 0) return false;
  if (g.empty()) {  // extent 1
    if (start != 0 || extent != 1) return false;
    return true;
  }
  int64_t inner = 1;
  for (size_t i = 1; i < g.size(); ++i) inner *= g[i].extent;
  if (g.size() == 1) {
    c.offset += start * g[0].stride;
    g[0] = {extent, g[0].stride * step};
  } else {  // whole blocks of the inner atoms: narrow the outer one
    if (step != 1 || start % inner != 0 || extent % inner != 0) return false;
    c.offset += (start / inner) * g[0].stride;
    g[0].extent = extent / inner;
  }
  c.dims[axis] = g;
  return true;
}

// Whether tensor `id` is a constant int64 [2h] holding h..2h-1 then 0..h-1 (rotate_half's index).
bool rotate_halves_index(const ir::Graph& g, int id) {
  const int p = id >= 0 ? g.tensors[id].producer : -1;
  if (p < 0 || g.layers[p].kind != LayerKind::kConstant) return false;
  const Weights& w = ir::attr_weights(g.layers[p], "value");
  if (w.dtype() != DataType::kInt64 || w.dims().rank() != 1 || w.dims()[0] < 2 || w.dims()[0] % 2 != 0) return false;
  const int64_t n = w.dims()[0], h = n / 2;
  const auto* v = static_cast<const int64_t*>(w.data());
  for (int64_t i = 0; i < n; ++i)
    if (v[i] != (i < h ? i + h : i - h)) return false;
  return true;
}

// A rotate-halves gather along `axis` (extent 2h, one atom of stride s): output element j*h + k
// reads input (1 - j)*h + k, the dim as atoms [2 of stride -h*s, h of stride s] from offset h*s.
bool rotate_halves(Composite& c, int axis) {
  std::vector<Atom> g = merged(c.dims[axis]);
  if (g.size() != 1 || g[0].extent % 2 != 0) return false;
  const int64_t h = g[0].extent / 2, s = g[0].stride;
  c.offset += h * s;
  c.dims[axis] = {{2, -h * s}, {h, s}};
  return true;
}

// An as_strided of c's elements in row-major order: only when c is them in place (contiguous).
bool as_strided(Composite& c, const ir::Layer& l) {
  std::vector<Atom> flat;
  for (const auto& d : c.dims) flat.insert(flat.end(), d.begin(), d.end());
  flat = merged(flat);
  if (flat.size() > 1 || (flat.size() == 1 && flat[0].stride != 1)) return false;
  const auto &shape = ir::attr_ints(l, "shape"), &strides = ir::attr_ints(l, "strides");
  if (shape.size() != strides.size()) return false;
  c.dims.assign(shape.size(), {});
  for (size_t i = 0; i < shape.size(); ++i) c.dims[i] = {{shape[i], strides[i]}};
  c.offset += ir::attr_int(l, "offset");
  return true;
}

// Applies the view layer producing tensor `out` (from its first input) to c; `for_pointwise` adds
// the steps only a fused pointwise kernel's views take (see strided_view_of).
bool apply(const ir::Graph& g, int out, Composite& c, bool for_pointwise) {
  const ir::TensorDesc& t = g.tensors[out];
  const ir::Layer& l = g.layers[t.producer];
  const Dims& in = g.tensors[l.inputs[0]].dims;
  switch (l.kind) {
    case LayerKind::kAsStrided: return for_pointwise && as_strided(c, l);
    case LayerKind::kGather: {
      const int a = static_cast<int>(ir::attr_int(l, "axis") < 0 ? ir::attr_int(l, "axis") + in.rank()
                                                                   : ir::attr_int(l, "axis"));
      return for_pointwise && rotate_halves_gather(g, l) && rotate_halves(c, a);
    }
    case LayerKind::kReshape: return reshape(c, t.dims);
    case LayerKind::kTranspose: return transpose(c, ir::attr_ints(l, "perm"));
    case LayerKind::kSlice: {
      const auto &axes = ir::attr_ints(l, "axes"), &starts = ir::attr_ints(l, "starts");
      const auto& steps = ir::attr_ints(l, "steps");
      for (size_t i = 0; i < axes.size(); ++i) {
        const int a = static_cast<int>(axes[i] < 0 ? axes[i] + in.rank() : axes[i]);
        const int64_t n = in[a];
        int64_t s = starts[i] < 0 ? starts[i] + n : starts[i];
        s = s < 0 ? 0 : s > n ? n : s;
        if (!slice(c, a, s, steps.empty() ? 1 : steps[i], t.dims[a])) return false;
      }
      return true;
    }
    case LayerKind::kSplit: {
      const int a = static_cast<int>(ir::attr_int(l, "axis") < 0 ? ir::attr_int(l, "axis") + in.rank()
                                                                   : ir::attr_int(l, "axis"));
      int64_t start = 0;
      for (int i = 0; i < t.producer_out; ++i) start += g.tensors[l.outputs[i]].dims[a];
      return slice(c, a, start, 1, t.dims[a]);
    }
    default: return false;
  }
}

bool is_view_layer(const ir::Layer& l, bool for_pointwise) {
  return l.kind == LayerKind::kReshape || l.kind == LayerKind::kTranspose || l.kind == LayerKind::kSlice ||
         l.kind == LayerKind::kSplit ||
         (for_pointwise && (l.kind == LayerKind::kAsStrided || l.kind == LayerKind::kGather));
}

// The chain from `base` down to `id` (chain[k] is produced from chain[k + 1]) as one strided view.
std::optional<ir::StridedOperand> compose(const ir::Graph& g, const std::vector<int>& chain, size_t base_at,
                                          bool unit_last_stride, bool for_pointwise) {
  const Dims& bd = g.tensors[chain[base_at]].dims;
  if (bd.volume() == 0) return std::nullopt;
  Composite c;
  const std::vector<int64_t> bs = contiguous_strides(bd);
  for (int i = 0; i < bd.rank(); ++i) c.dims.push_back({{bd[i], bs[i]}});
  for (size_t k = base_at; k-- > 0;)
    if (!apply(g, chain[k], c, for_pointwise)) return std::nullopt;
  const Dims& d = g.tensors[chain[0]].dims;
  ir::StridedOperand v;
  if (for_pointwise) {  // every atom its own dim (extent-1 ones dropped), the offset at least 0
    std::vector<int64_t> dims, strides;
    for (const auto& group : c.dims)
      for (const Atom& a : merged(group)) {
        dims.push_back(a.extent);
        strides.push_back(a.stride);
      }
    if (dims.empty()) {
      dims.push_back(1);
      strides.push_back(1);
    }
    int64_t lowest = c.offset;
    for (size_t i = 0; i < dims.size(); ++i) lowest += std::min<int64_t>(0, (dims[i] - 1) * strides[i]);
    if (lowest < 0 || dims.size() > static_cast<size_t>(kMaxDims)) return std::nullopt;
    if (unit_last_stride && dims.back() > 1 && strides.back() != 1) return std::nullopt;
    v.dims = Dims(dims);
    v.strides = strides;
    v.offset = c.offset;
    return v;
  }
  v.dims = d;
  v.offset = c.offset;
  v.strides.assign(d.rank(), 0);
  for (int i = d.rank() - 1; i >= 0; --i) {
    const std::vector<Atom> a = merged(c.dims[i]);
    if (a.size() > 1) return std::nullopt;
    // An extent-1 dim takes the stride it would have in a packed tensor, so it never looks misaligned.
    v.strides[i] = !a.empty() ? a[0].stride : i + 1 < d.rank() ? v.strides[i + 1] * d[i + 1] : 1;
  }
  if (unit_last_stride && d.rank() > 0 && d[d.rank() - 1] > 1 && v.strides.back() != 1) return std::nullopt;
  return v;
}

}  // namespace

bool rotate_halves_gather(const ir::Graph& g, const ir::Layer& l) {
  return l.kind == LayerKind::kGather && ir::attr_string(l, "mode") == "take" && l.inputs.size() == 2 &&
         g.tensors[l.outputs[0]].dims == g.tensors[l.inputs[0]].dims && rotate_halves_index(g, l.inputs[1]);
}

StridedViewOf strided_view_of(const ir::Graph& g, int id, bool unit_last_stride, bool for_pointwise) {
  std::vector<int> chain = {id};  // id, its view layer's input, ... up to a tensor no view layer makes
  for (int cur = id;;) {
    const int p = g.tensors[cur].producer;
    if (p < 0 || !is_view_layer(g.layers[p], for_pointwise) || chain.size() > 64) break;
    cur = g.layers[p].inputs[0];
    chain.push_back(cur);
  }
  for (size_t at = chain.size() - 1; at > 0; --at) {
    std::optional<ir::StridedOperand> v = compose(g, chain, at, unit_last_stride, for_pointwise);
    if (!v) continue;
    int copies = 0;
    for (size_t k = 0; k < at; ++k) copies += g.layers[g.tensors[chain[k]].producer].kind != LayerKind::kReshape;
    const bool contiguous = v->offset == 0 && v->strides == contiguous_strides(v->dims) &&
                            v->dims.volume() == g.tensors[chain[at]].dims.volume();
    return {chain[at], *v, copies, contiguous};
  }
  return {};
}

}  // namespace tensorforge
