// Rebuilding a graph layer by layer, the way the builder's passes rewrite networks: layers are
// re-added through Graph::add_layer (so every new or changed layer is checked by inference), old
// tensor ids map to new ones, and tensors keep their names where the rebuilt graph allows.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace tensorforge {

class GraphRebuilder {
 public:
  /// Starts a new graph with the inputs of `old`.
  explicit GraphRebuilder(const ir::Graph& old);
  /// Copies layer `li` of the old graph unchanged (origins included).
  void copy(int li);
  /// Adds a layer computing what old layer `replaces` output; its outputs take that layer's place.
  /// Its origins are those of `replaces` and of the old layers `folded` (layers it absorbed).
  void replace(int replaces, LayerKind kind, const std::vector<int>& new_inputs, const Attributes& attrs,
               const std::string& name, const std::vector<int>& folded = {});
  /// Adds a layer whose outputs, in order, compute the old tensors `replaces` (which may come from
  /// several old layers); each takes its old tensor's place and name. Its origins are those of the
  /// old layers `folded`.
  void replace_tensors(const std::vector<int>& replaces, LayerKind kind, const std::vector<int>& new_inputs,
                       const Attributes& attrs, const std::string& name, const std::vector<int>& folded = {});
  /// Adds a layer of the new graph only (no old layer's place, no origins: the optimizer inserted
  /// it; its name made unique); returns its first output's id.
  int add(LayerKind kind, const std::vector<int>& new_inputs, const Attributes& attrs, const std::string& name);
  /// As add(), for a layer that computes what the old layers `folded` did (their origins are its).
  int add_holding(LayerKind kind, const std::vector<int>& new_inputs, const Attributes& attrs,
                  const std::string& name, const std::vector<int>& folded);
  /// From now on old tensor `old` is new tensor `nid`, which takes its name (the new tensor that had
  /// the name gets it with `suffix` appended, made unique).
  void substitute(int old, int nid, const std::string& suffix);
  /// From now on old tensor `old` is new tensor `nid`; names stay as they are.
  void alias(int old, int nid) { map_[old] = nid; }
  /// Adds a constant layer; returns its new tensor id.
  int constant(const Weights& w, const std::string& name);
  /// The new id of old tensor `id` (-1 stays -1).
  int map(int id) const { return id < 0 ? -1 : map_[id]; }
  std::vector<int> map(const std::vector<int>& ids) const;
  /// Marks the outputs and returns the new graph.
  ir::Graph finish();

 private:
  void take_outputs(int old_layer, int new_layer);
  void set_origins(int new_layer, std::vector<int> old_layers);
  const ir::Graph& old_;
  ir::Graph out_;
  std::vector<int> map_;
};

/// For every tensor, the indices of the layers reading it (in layer order; a layer reading it twice
/// appears twice).
std::vector<std::vector<int>> readers_of(const ir::Graph& g);

/// For every tensor, the index of the one layer reading it; -1 when several layers (or none) read it
/// or it is a network output.
std::vector<int> single_readers(const ir::Graph& g);

/// True when tensor `id` is the output of a constant layer.
bool is_constant(const ir::Graph& g, int id);

/// The weights of constant tensor `id` (is_constant(g, id) must hold).
const Weights& constant_value(const ir::Graph& g, int id);

/// The values of float32/float16/bfloat16 weights as doubles (0 for other dtypes).
std::vector<double> float_values(const Weights& w);

/// Weights of float dtype `t` (float32, float16 or bfloat16) and `dims` holding `v`, each value
/// rounded once to `t`.
Weights float_weights(DataType t, const Dims& dims, const std::vector<double>& v);

/// Float32/float16/bfloat16 weights `w` with element i multiplied by scale[(i / inner) % n], n being
/// scale.size() (inner = the elements per row: one scale per row; inner = 1: one per column), each
/// product taken in double and rounded once to w's dtype, as float_weights of the scaled
/// float_values would give, in one pass over the bytes.
Weights scaled_weights(const Weights& w, const std::vector<double>& scale, int64_t inner);

/// The bias of `add` when it is add(x, bias) or add(bias, x) with bias a constant [N] of x's
/// dtype, N being x's last extent; else -1.
int bias_of_add(const ir::Graph& g, const ir::Layer& add, int x);

/// True when no input or output of layer `l` is empty (volume 0).
bool non_empty(const ir::Graph& g, const ir::Layer& l);

/// Pattern matching for the recognizing passes: `match(li)` (an std::optional of a struct with a
/// `layers` vector: every layer the match covers, li among them) is tried at each layer from the
/// last to the first, so the longest match ending late wins; a layer an earlier match covers starts
/// no match, and a match covering such a layer is dropped. Returns the matches by the index of the
/// layer they were found at (empty when there is none at all).
template <class Match, class F>
std::vector<std::optional<Match>> match_last_first(const ir::Graph& g, F&& match) {
  std::vector<std::optional<Match>> at(g.layers.size());
  std::vector<char> inside(g.layers.size(), 0);
  bool any = false;
  for (int li = static_cast<int>(g.layers.size()) - 1; li >= 0; --li) {
    if (inside[li]) continue;
    std::optional<Match> m = match(li);
    if (!m) continue;
    bool overlaps = false;
    for (int k : m->layers) overlaps = overlaps || inside[k];
    if (overlaps) continue;
    for (int k : m->layers) inside[k] = 1;
    at[li] = std::move(m);
    any = true;
  }
  if (!any) at.clear();
  return at;
}

/// `g` rebuilt with `emit(rb, li, match)` in place of each layer `li` that has a match in `at` (as
/// match_last_first returns them; `g` itself when `at` is empty), every other layer copied.
template <class Match, class F>
ir::Graph rebuild_matches(const ir::Graph& g, const std::vector<std::optional<Match>>& at, F&& emit) {
  if (at.empty()) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (at[li])
      emit(rb, static_cast<int>(li), *at[li]);
    else
      rb.copy(static_cast<int>(li));
  }
  return rb.finish();
}

/// How the dims of `coarse` group those of `fine` (shapes of equal volume, both row-major): for each
/// coarse dim, the indices of the consecutive fine dims whose product it is (a size-1 coarse dim
/// may take none; size-1 fine dims after the last group join none). None when `coarse` is not such
/// a grouping of `fine`.
std::optional<std::vector<std::vector<int>>> dim_groups(const std::vector<int64_t>& fine,
                                                        const std::vector<int64_t>& coarse);

/// True when `a` and `b` both have rank >= 2 and equal last two dims (a view that only regroups the
/// batch dims of a matrix stack).
bool same_last_two(const Dims& a, const Dims& b);

/// The layer producing tensor `id`; nullptr for a network input (or id -1).
const ir::Layer* producer(const ir::Graph& g, int id);

/// True when `l` exists, is of `kind` and, when `op` is given, has that "op" attribute.
bool is_op(const ir::Layer* l, LayerKind kind, const char* op = nullptr);

/// The value of a volume-1 float constant tensor (float32, float16 or bfloat16); else none.
std::optional<double> scalar(const ir::Graph& g, int id);

}  // namespace tensorforge
