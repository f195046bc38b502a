// Attention recognition (see recognize_attention.h). Matching starts at every matrix multiply that
// could be p·v and walks back through the softmax and the scores' chain to the q·kᵀ multiply; the
// chain walk backtracks over the two operands of each add.
#include "opt/recognize_attention.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "common/broadcast.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

struct Mask {
  int id = -1;  // the added tensor (old id)
  Dims at;      // the shape of the add's output (the scores as that view groups them)
};

struct Match {
  int q = -1, k = -1, v = -1;  // [..., Sq, D], [..., Sk, D], [..., Sk, Dv] (old ids)
  double scale = 1.0;
  std::vector<Mask> masks;
  std::vector<Dims> views;  // the shapes the scores take along the chain
  std::vector<int> layers;  // every matched layer
};

// The batch dims of `d` (all but the last two).
std::vector<int64_t> batch_of(const Dims& d) {
  std::vector<int64_t> v = d.vec();
  v.resize(v.size() - 2);
  return v;
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

// Mask dims `m` (broadcast over `at`, right-aligned) regrouped onto batch dims `t`, each dim of
// `at`'s batch being a run of consecutive dims of `t`; empty when `at` does not group `t` so.
std::vector<int64_t> regroup_mask(const Dims& m, const Dims& at, const std::vector<int64_t>& t) {
  const std::vector<int64_t> u = batch_of(at);
  std::vector<int64_t> md(at.rank(), 1);
  for (int i = 0; i < m.rank(); ++i) md[at.rank() - m.rank() + i] = m[i];
  const auto groups = dim_groups(t, u);
  if (!groups) return {};
  std::vector<int64_t> out(t.size(), 1);  // size-1 dims of t no group takes stay 1
  for (size_t i = 0; i < u.size(); ++i)
    for (int j : (*groups)[i]) out[j] = md[i] == 1 ? 1 : t[j];
  out.push_back(md[md.size() - 2]);
  out.push_back(md[md.size() - 1]);
  return out;
}

class Matcher {
 public:
  explicit Matcher(const ir::Graph& g) : g_(g), reader_(single_readers(g)) {}

  // The attention whose p·v multiply is layer `li`, if any.
  std::optional<Match> at(int li) {
    const ir::Layer& pv = g_.layers[li];
    if (!plain_matmul(pv)) return std::nullopt;
    Match m;
    m.layers.push_back(li);
    const ir::Layer* l = producer(g_, pv.inputs[0]);
    int p = pv.inputs[0];
    if (!sole(p)) return std::nullopt;
    if (is_op(l, LayerKind::kReshape) && same_last_two(dims(l->inputs[0]), dims(p))) {
      m.layers.push_back(index(l));
      p = l->inputs[0];
      if (!sole(p)) return std::nullopt;
      l = producer(g_, p);
    }
    if (!is_op(l, LayerKind::kSoftmax) || ir::attr_int(*l, "log") != 0) return std::nullopt;
    const int rank = dims(p).rank();
    const int64_t axis = ir::attr_int(*l, "axis");
    if (rank < 3 || (axis != -1 && axis != rank - 1)) return std::nullopt;
    m.layers.push_back(index(l));
    const int s = l->inputs[0];
    m.views.push_back(dims(s));
    if (!scores(s, m, false)) return std::nullopt;
    m.v = strip_reshape(pv.inputs[1], m);
    return check(m, pv) ? std::optional<Match>(m) : std::nullopt;
  }

 private:
  // Whether tensor `s` is the scores chain down to q·kᵀ; `scaled`: a constant factor was seen
  // after this point (a mask added before it would need scaling too).
  bool scores(int s, Match& m, bool scaled) {
    if (!sole(s)) return false;
    const ir::Layer* l = producer(g_, s);
    if (!l || l->outputs.size() != 1) return false;
    const size_t layers = m.layers.size(), views = m.views.size(), masks = m.masks.size();
    const double scale = m.scale;
    m.layers.push_back(index(l));
    auto undo = [&] {
      m.layers.resize(layers);
      m.views.resize(views);
      m.masks.resize(masks);
      m.scale = scale;
      return false;
    };
    if (l->kind == LayerKind::kReshape) {
      if (!same_last_two(dims(l->inputs[0]), dims(s))) return undo();
      m.views.push_back(dims(l->inputs[0]));
      return scores(l->inputs[0], m, scaled) || undo();
    }
    if (is_op(l, LayerKind::kElementwise, "add") && !scaled) {
      for (int k = 0; k < 2; ++k) {
        const int x = l->inputs[k], add = l->inputs[1 - k];
        Dims bc;
        if (dims(x) != dims(s) || g_.tensors[add].dtype != g_.tensors[s].dtype ||
            !broadcast_shape(dims(add), dims(s), bc) || bc != dims(s))
          continue;
        m.masks.push_back({add, dims(s)});
        if (scores(x, m, scaled)) return true;
        m.masks.resize(masks);
      }
      return undo();
    }
    const bool mul = is_op(l, LayerKind::kElementwise, "mul"), div = is_op(l, LayerKind::kElementwise, "div");
    if (mul || div) {
      for (int k = 0; k < (mul ? 2 : 1); ++k) {
        const int x = l->inputs[k];
        std::optional<double> c = scalar(g_, l->inputs[1 - k]);
        if (!c || *c == 0.0 || dims(x) != dims(s)) continue;
        m.scale = div ? scale / *c : scale * *c;
        if (scores(x, m, true)) return true;
      }
      return undo();
    }
    if (plain_matmul(*l)) return qk(*l, m) || undo();
    return undo();
  }

  // q·kᵀ: fills m.q (a scalar multiply of q folds into the scale) and m.k.
  bool qk(const ir::Layer& l, Match& m) {
    m.q = strip_reshape(l.inputs[0], m);
    const ir::Layer* qs = producer(g_, m.q);
    if (sole(m.q) && (is_op(qs, LayerKind::kElementwise, "mul") || is_op(qs, LayerKind::kElementwise, "div"))) {
      const bool div = is_op(qs, LayerKind::kElementwise, "div");
      for (int k = 0; k < (div ? 1 : 2); ++k) {
        std::optional<double> c = scalar(g_, qs->inputs[1 - k]);
        if (!c || *c == 0.0 || dims(qs->inputs[k]) != dims(m.q)) continue;
        m.scale = div ? m.scale / *c : m.scale * *c;
        m.layers.push_back(index(qs));
        m.q = qs->inputs[k];
        break;
      }
    }
    if (ir::attr_int(l, "transpose_b") != 0) {
      m.k = strip_reshape(l.inputs[1], m);
      return true;
    }
    const int kt = strip_reshape(l.inputs[1], m);
    const ir::Layer* t = producer(g_, kt);
    if (!is_op(t, LayerKind::kTranspose) || !sole(kt)) return false;
    const std::vector<int64_t>& perm = ir::attr_ints(*t, "perm");
    const int r = static_cast<int>(perm.size());
    for (int i = 0; i < r; ++i)
      if (perm[i] != (i == r - 2 ? r - 1 : i == r - 1 ? r - 2 : i)) return false;
    m.layers.push_back(index(t));
    m.k = t->inputs[0];
    return true;
  }

  // `id`, or the input of the reshape producing it when that reshape keeps the last two dims and
  // `id` has no other reader (the reshape joins the matched layers).
  int strip_reshape(int id, Match& m) {
    const ir::Layer* l = producer(g_, id);
    if (!sole(id) || !is_op(l, LayerKind::kReshape) || !same_last_two(dims(l->inputs[0]), dims(id))) return id;
    m.layers.push_back(index(l));
    return l->inputs[0];
  }

  // Shapes agree: q [.., Sq, D], k [.., Sk, D], v [.., Sk, Dv], each with the batch volume of p·v.
  bool check(const Match& m, const ir::Layer& pv) const {
    const Dims &q = dims(m.q), &k = dims(m.k), &v = dims(m.v), &s = m.views.front(), &o = dims(pv.outputs[0]);
    if (q.rank() < 2 || k.rank() < 2 || v.rank() < 2 || !non_empty(g_, pv)) return false;
    const int64_t sq = s[s.rank() - 2], sk = s[s.rank() - 1], d = q[q.rank() - 1], dv = v[v.rank() - 1];
    const DataType t = g_.tensors[m.q].dtype;
    if (!is_floating(t) || g_.tensors[m.k].dtype != t || g_.tensors[m.v].dtype != t) return false;
    if (q[q.rank() - 2] != sq || k[k.rank() - 2] != sk || k[k.rank() - 1] != d || v[v.rank() - 2] != sk) return false;
    if (o[o.rank() - 2] != sq || o[o.rank() - 1] != dv) return false;
    const int64_t g = product(batch_of(o));
    return product(batch_of(q)) == g && product(batch_of(k)) == g && product(batch_of(v)) == g &&
           product(batch_of(s)) == g;
  }

  bool plain_matmul(const ir::Layer& l) const {
    if (l.kind != LayerKind::kMatMul || ir::attr_int(l, "transpose_a") != 0 ||
        ir::attr_string(l, "activation") != "none")
      return false;
    for (size_t i = 2; i < l.inputs.size(); ++i)
      if (l.inputs[i] >= 0) return false;
    return dims(l.inputs[0]).rank() >= 3 || dims(l.outputs[0]).rank() >= 3;
  }

  const Dims& dims(int id) const { return g_.tensors[id].dims; }
  int index(const ir::Layer* l) const { return static_cast<int>(l - g_.layers.data()); }
  bool sole(int id) const { return id >= 0 && reader_[id] >= 0; }

  const ir::Graph& g_;
  std::vector<int> reader_;
};

// Whether `id` is a constant without an infinity or NaN. The written-out softmax gives NaN for a row
// every key of which is masked by -inf, the attention layer 0: only masks that cannot do that fold.
bool finite_constant(const ir::Graph& g, int id) {
  if (!is_constant(g, id)) return false;
  for (double v : float_values(constant_value(g, id)))
    if (!std::isfinite(v)) return false;
  return true;
}

// The attention's batch dims: those of the scores' view with the most of them.
std::vector<int64_t> attention_batch(const Match& m) {
  Dims best = m.views.front();
  for (const Dims& d : m.views)
    if (d.rank() > best.rank()) best = d;
  return batch_of(best);
}

// The constant masks of `m` summed (in double, rounded once to their dtype) over their broadcast
// shape in batch grouping `t`: one constant instead of an add per call.
Weights summed_masks(const ir::Graph& g, const Match& m, const std::vector<int64_t>& t) {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> out(t.size() + 2, 1);
  for (const Mask& mk : m.masks) {
    shapes.push_back(regroup_mask(g.tensors[mk.id].dims, mk.at, t));
    for (size_t d = 0; d < out.size(); ++d) out[d] = std::max(out[d], shapes.back()[d]);
  }
  const int64_t total = product(out);
  std::vector<double> sum(static_cast<size_t>(total), 0.0);
  for (size_t k = 0; k < m.masks.size(); ++k) {
    const std::vector<double> v = float_values(constant_value(g, m.masks[k].id));  // row-major in shapes[k]
    for (int64_t i = 0; i < total; ++i) {
      int64_t rest = i, off = 0, stride = 1;
      for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
        const int64_t c = rest % out[d];
        rest /= out[d];
        if (shapes[k][d] != 1) off += c * stride;
        stride *= shapes[k][d];
      }
      sum[static_cast<size_t>(i)] += v[static_cast<size_t>(off)];
    }
  }
  return float_weights(g.tensors[m.masks[0].id].dtype, Dims(out), sum);
}

// Old tensor `id` as new tensor of dims `want` (a reshape when its dims differ).
int as_dims(GraphRebuilder& rb, const ir::Graph& g, int id, const std::vector<int64_t>& want, const std::string& name) {
  const int nid = rb.map(id);
  if (g.tensors[id].dims == Dims(want)) return nid;
  return rb.add(LayerKind::kReshape, {nid}, {{"shape", want}}, name);
}

}  // namespace

ir::Graph recognize_attention(const ir::Graph& g) {
  Matcher matcher(g);
  std::vector<std::optional<Match>> at = match_last_first<Match>(g, [&](int li) -> std::optional<Match> {
    std::optional<Match> m = matcher.at(li);
    if (!m) return m;
    const std::vector<int64_t> t = attention_batch(*m);  // every mask must regroup onto its batch dims
    for (const Mask& k : m->masks)
      if (!finite_constant(g, k.id) || regroup_mask(g.tensors[k.id].dims, k.at, t).empty()) return std::nullopt;
    return m;
  });
  return rebuild_matches(g, at, [&](GraphRebuilder& rb, int li, const Match& m) {
    const ir::Layer& pv = g.layers[li];
    const std::string& name = pv.name;
    const std::vector<int64_t> t = attention_batch(m);
    auto with = [&](int id) {
      std::vector<int64_t> d = t;
      const Dims& own = g.tensors[id].dims;
      d.push_back(own[own.rank() - 2]);
      d.push_back(own[own.rank() - 1]);
      return d;
    };
    const int q = as_dims(rb, g, m.q, with(m.q), name + ".q");
    const int k = as_dims(rb, g, m.k, with(m.k), name + ".k");
    const int v = as_dims(rb, g, m.v, with(m.v), name + ".v");
    int mask = -1;
    if (m.masks.size() == 1) {
      const Mask& mk = m.masks[0];
      mask = as_dims(rb, g, mk.id, regroup_mask(g.tensors[mk.id].dims, mk.at, t), name + ".mask");
    } else if (!m.masks.empty()) {
      mask = rb.constant(summed_masks(g, m, t), name + ".mask");
    }
    const Attributes attrs = {{"causal", int64_t(0)}, {"scale", m.scale}};
    const std::vector<int> inputs = mask < 0 ? std::vector<int>{q, k, v} : std::vector<int>{q, k, v, mask};
    std::vector<int64_t> out = t;
    out.push_back(g.tensors[m.q].dims[g.tensors[m.q].dims.rank() - 2]);
    out.push_back(g.tensors[m.v].dims[g.tensors[m.v].dims.rank() - 1]);
    if (Dims(out) == g.tensors[pv.outputs[0]].dims) {
      rb.replace(li, LayerKind::kAttention, inputs, attrs, name, m.layers);
    } else {
      const int a = rb.add_holding(LayerKind::kAttention, inputs, attrs, name + ".attention", m.layers);
      rb.replace(li, LayerKind::kReshape, {a}, {{"shape", g.tensors[pv.outputs[0]].dims.vec()}}, name);
    }
  });
}

}  // namespace tensorforge
