// RMS norm recognition (see recognize_rms_norm.h). Matching walks backwards from every candidate
// final layer: the weight multiply (optional), the cast back (optional), the x * r multiply, then
// r's chain up to the square of xf.
#include "opt/recognize_rms_norm.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

struct Match {
  int last = -1;     // the layer whose output the rms_norm computes
  int x = -1;        // the normalized tensor (old id)
  int weight = -1;   // -1: none
  double eps = 0;
  std::vector<int> layers;  // every matched layer
};

class Matcher {
 public:
  explicit Matcher(const ir::Graph& g) : g_(g), reader_(single_readers(g)) {}

  // The match ending at layer `li`, if any.
  std::optional<Match> at(int li) {
    Match m;
    m.last = li;
    const ir::Layer* l = &g_.layers[li];
    int y = l->outputs[0];
    // [* weight]: a constant [D] of the output's dtype
    if (is_op(l, LayerKind::kElementwise, "mul")) {
      for (int k = 0; k < 2 && m.weight < 0; ++k) {
        const int w = l->inputs[k], v = l->inputs[1 - k];
        const ir::TensorDesc& wt = g_.tensors[w];
        if (is_constant(g_, w) && wt.dims.rank() == 1 && wt.dtype == g_.tensors[y].dtype &&
            wt.dims[0] == g_.tensors[v].dims[g_.tensors[v].dims.rank() - 1] && g_.tensors[v].dims == g_.tensors[y].dims &&
            sole(v) && inner(v, m)) {
          m.weight = w;
        }
      }
      if (m.weight >= 0) {
        m.layers.push_back(li);
        return finish(m, y);
      }
    }
    if (!inner(y, m)) return std::nullopt;
    return finish(m, y);
  }

 private:
  // Whether tensor `v` is [cast](xf * r) with r = rsqrt(mean(xf^2) + eps); fills m.x, m.eps, m.layers.
  bool inner(int v, Match& m) {
    std::vector<int> seen;
    const ir::Layer* l = producer(g_, v);
    if (is_op(l, LayerKind::kCast, nullptr)) {
      if (!sole(l->inputs[0])) return false;
      seen.push_back(g_.tensors[v].producer);
      l = producer(g_, l->inputs[0]);
    }
    if (!is_op(l, LayerKind::kElementwise, "mul")) return false;
    const int mul = static_cast<int>(l - g_.layers.data());
    for (int k = 0; k < 2; ++k) {
      const int r = l->inputs[k], xf = l->inputs[1 - k];
      double eps = 0;
      std::vector<int> chain;
      if (!sole(r) || !rsqrt_of_mean_square(r, xf, eps, chain)) continue;
      const int x = strip(xf);  // xf is x itself or x cast to float32
      if (!is_floating(g_.tensors[x].dtype)) return false;
      m.x = x;
      m.eps = eps;
      m.layers.insert(m.layers.end(), seen.begin(), seen.end());
      m.layers.push_back(mul);
      m.layers.insert(m.layers.end(), chain.begin(), chain.end());
      return true;
    }
    return false;
  }

  // r = rsqrt(add(mean(square(xf)), eps)), each intermediate read once.
  bool rsqrt_of_mean_square(int r, int xf, double& eps, std::vector<int>& chain) {
    const ir::Layer* rs = producer(g_, r);
    if (!is_op(rs, LayerKind::kUnary, "rsqrt") || !sole(rs->inputs[0])) return false;
    const ir::Layer* add = producer(g_, rs->inputs[0]);
    if (!is_op(add, LayerKind::kElementwise, "add")) return false;
    int mean = -1;
    for (int k = 0; k < 2 && mean < 0; ++k) {
      auto e = scalar(g_, add->inputs[1 - k]);
      if (e && *e >= 0) {
        eps = *e;
        mean = add->inputs[k];
      }
    }
    if (mean < 0 || !sole(mean)) return false;
    const ir::Layer* red = producer(g_, mean);
    if (!is_op(red, LayerKind::kReduce, "mean") || ir::attr_int(*red, "keepdim") == 0) return false;
    const int rank = g_.tensors[xf].dims.rank();
    const std::vector<int64_t>& axes = ir::attr_ints(*red, "axes");
    if (rank < 1 || axes.size() != 1 || (axes[0] != -1 && axes[0] != rank - 1)) return false;
    if (!sole(red->inputs[0])) return false;
    const ir::Layer* sq = producer(g_, red->inputs[0]);
    // The square may read its own cast of x (T5 casts x for the square and again for the product).
    const int base = strip(xf);
    bool square = false;
    if (is_op(sq, LayerKind::kElementwise, "mul")) square = strip(sq->inputs[0]) == base && strip(sq->inputs[1]) == base;
    if (is_op(sq, LayerKind::kElementwise, "pow")) {
      auto two = scalar(g_, sq->inputs[1]);
      square = strip(sq->inputs[0]) == base && two && *two == 2.0;
    }
    if (!square) return false;
    for (const ir::Layer* p : {rs, add, red, sq}) chain.push_back(static_cast<int>(p - g_.layers.data()));
    return true;
  }

  std::optional<Match> finish(Match& m, int y) {
    // The rms_norm gives x's dtype and shape: the matched output must have both.
    if (g_.tensors[y].dtype != g_.tensors[m.x].dtype || g_.tensors[y].dims != g_.tensors[m.x].dims) return std::nullopt;
    if (m.weight >= 0 && g_.tensors[m.weight].dtype != g_.tensors[m.x].dtype) return std::nullopt;
    if (std::find(m.layers.begin(), m.layers.end(), m.last) == m.layers.end()) m.layers.push_back(m.last);
    return m;
  }

  // `id` without a cast to float32 in front of it.
  int strip(int id) const {
    const ir::Layer* c = producer(g_, id);
    return is_op(c, LayerKind::kCast, nullptr) && g_.tensors[id].dtype == DataType::kFloat32 ? c->inputs[0] : id;
  }

  // Read by exactly one layer and not a network output.
  bool sole(int id) const { return id >= 0 && reader_[id] >= 0; }

  const ir::Graph& g_;
  std::vector<int> reader_;
};

}  // namespace

ir::Graph recognize_rms_norm(const ir::Graph& g) {
  Matcher matcher(g);
  std::vector<std::optional<Match>> at = match_last_first<Match>(g, [&](int li) -> std::optional<Match> {
    return g.layers[li].outputs.size() == 1 ? matcher.at(li) : std::nullopt;
  });
  return rebuild_matches(g, at, [&](GraphRebuilder& rb, int li, const Match& m) {
    rb.replace(li, LayerKind::kRMSNorm, {rb.map(m.x), rb.map(m.weight)},
               {{"normalized_rank", int64_t(1)}, {"eps", m.eps}}, g.layers[li].name, m.layers);
  });
}

}  // namespace tensorforge
