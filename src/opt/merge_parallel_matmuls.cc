// Horizontal matmul fusion (see merge_parallel_matmuls.h).
#include "opt/merge_parallel_matmuls.h"

#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "opt/constant_memo.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

constexpr size_t kMaxCopiedBytes = size_t(8) << 20;  // a split that copies: worth it up to here
constexpr int kMaxViewDepth = 8;

struct Member {
  int layer = -1;
  int bias_add = -1;     // the layer adding its constant bias, -1 for none
  int bias = -1;         // the bias tensor
  int64_t n = 0;         // its weights' N
};

// The matmul's weights when it is a plain product of an activation by a constant rank-2 matrix.
bool plain_linear(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kMatMul || l.inputs.size() < 2 || l.outputs.size() != 1) return false;
  for (size_t k = 2; k < l.inputs.size(); ++k)
    if (l.inputs[k] >= 0) return false;  // a bias or residual input already
  for (const auto& [key, value] : l.attrs)
    if (key != "transpose_a" && key != "transpose_b" && key != "activation") return false;
  if (ir::attr_string(l, "activation") != "none" || ir::attr_int(l, "transpose_a") != 0 || is_constant(g, l.inputs[0]) || !is_constant(g, l.inputs[1]))
    return false;
  const ir::TensorDesc &a = g.tensors[l.inputs[0]], &w = g.tensors[l.inputs[1]];
  return w.dims.rank() == 2 && a.dims.rank() >= 2 && w.dtype == a.dtype && non_empty(g, l);
}

// The layer adding a constant [N] bias to matmul output `x` when it is x's only reader; -1 if none.
int bias_add_of(const ir::Graph& g, const std::vector<int>& readers, int x, int* bias) {
  const int r = readers[x];
  if (r < 0) return -1;
  *bias = bias_of_add(g, g.layers[r], x);
  return *bias >= 0 ? r : -1;
}

// Every reader of `t` is a reshape or transpose leading on to attention operands, or an attention
// reading it as query, key or value: attention reads it through strides, so splitting it is free.
bool reaches_attention(const ir::Graph& g, const std::vector<std::vector<int>>& readers, int t, int depth) {
  if (depth > kMaxViewDepth || readers[t].empty()) return false;
  for (int id : g.outputs)
    if (id == t) return false;
  for (int r : readers[t]) {
    const ir::Layer& l = g.layers[r];
    if (l.kind == LayerKind::kAttention) {
      for (size_t k = 3; k < l.inputs.size(); ++k)
        if (l.inputs[k] == t) return false;  // a mask
      continue;
    }
    if (l.kind != LayerKind::kReshape && l.kind != LayerKind::kTranspose) return false;
    if (!reaches_attention(g, readers, l.outputs[0], depth + 1)) return false;
  }
  return true;
}

// Weights of `members` concatenated along N: [K, sum N] (row by row) or, transposed, [sum N, K].
Weights concat_weights(const ir::Graph& g, const std::vector<Member>& members, bool transposed) {
  const Weights& first = constant_value(g, g.layers[members[0].layer].inputs[1]);
  const size_t es = element_size(first.dtype());
  const int64_t k = transposed ? first.dims()[1] : first.dims()[0];
  int64_t total = 0;
  for (const Member& m : members) total += m.n;
  std::vector<uint8_t> bytes(static_cast<size_t>(total * k) * es);
  uint8_t* dst = bytes.data();
  if (transposed) {
    for (const Member& m : members) {
      const Weights& w = constant_value(g, g.layers[m.layer].inputs[1]);
      std::memcpy(dst, w.data(), w.size_bytes());
      dst += w.size_bytes();
    }
    return Weights(first.dtype(), Dims{total, k}, bytes.data());
  }
  for (int64_t row = 0; row < k; ++row) {
    for (const Member& m : members) {
      const Weights& w = constant_value(g, g.layers[m.layer].inputs[1]);
      const size_t n = static_cast<size_t>(m.n) * es;
      std::memcpy(dst, static_cast<const uint8_t*>(w.data()) + row * n, n);
      dst += n;
    }
  }
  return Weights(first.dtype(), Dims{k, total}, bytes.data());
}

// The constant [N] vectors `vector_of(member)` (biases, scales) of `members`, concatenated.
template <class F>
Weights concat_vectors(const ir::Graph& g, const std::vector<Member>& members, F vector_of) {
  const Weights& first = constant_value(g, vector_of(members[0]));
  std::vector<uint8_t> bytes;
  int64_t total = 0;
  for (const Member& m : members) {
    const Weights& b = constant_value(g, vector_of(m));
    const uint8_t* p = static_cast<const uint8_t*>(b.data());
    bytes.insert(bytes.end(), p, p + b.size_bytes());
    total += m.n;
  }
  return Weights(first.dtype(), Dims{total}, bytes.data());
}

bool worth_merging(const ir::Graph& g, const std::vector<std::vector<int>>& readers,
                   const std::vector<Member>& members);

std::vector<std::vector<Member>> find_groups(const ir::Graph& g) {
  const std::vector<int> single = single_readers(g);
  const std::vector<std::vector<int>> readers = readers_of(g);
  // Group key: the activation read (through a reshape, its source and shape), the weights' dtype,
  // orientation and K.
  using Key = std::tuple<int, std::vector<int64_t>, int, int64_t, int64_t>;
  std::map<Key, std::vector<Member>> by_key;
  std::vector<Key> order;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!plain_linear(g, l)) continue;
    int source = l.inputs[0];
    const int p = g.tensors[source].producer;
    if (p >= 0 && g.layers[p].kind == LayerKind::kReshape) source = g.layers[p].inputs[0];
    const ir::TensorDesc& w = g.tensors[l.inputs[1]];
    const int64_t t = ir::attr_int(l, "transpose_b");
    Key key{source, g.tensors[l.inputs[0]].dims.vec(), static_cast<int>(w.dtype), t, t ? w.dims[1] : w.dims[0]};
    Member m;
    m.layer = static_cast<int>(li);
    m.n = t ? w.dims[0] : w.dims[1];
    m.bias_add = bias_add_of(g, single, l.outputs[0], &m.bias);
    auto [it, fresh] = by_key.try_emplace(key);
    if (fresh) order.push_back(key);
    it->second.push_back(m);
  }
  std::vector<std::vector<Member>> groups;
  for (const Key& key : order) {
    std::vector<Member>& members = by_key[key];
    if (members.size() < 2) continue;
    bool all_biased = true;
    for (const Member& m : members) all_biased = all_biased && m.bias_add >= 0;
    if (!all_biased)
      for (Member& m : members) m.bias_add = m.bias = -1;
    if (worth_merging(g, readers, members)) groups.push_back(members);
  }
  return groups;
}

// Whether splitting the merged product costs nothing (every piece reaches attention through views)
// or copies at most kMaxCopiedBytes.
bool worth_merging(const ir::Graph& g, const std::vector<std::vector<int>>& readers,
                   const std::vector<Member>& members) {
  bool absorbed = true;
  int64_t total = 0;
  for (const Member& m : members) {
    const int out = m.bias_add >= 0 ? g.layers[m.bias_add].outputs[0] : g.layers[m.layer].outputs[0];
    absorbed = absorbed && reaches_attention(g, readers, out, 0);
    total += m.n;
  }
  const ir::TensorDesc& out = g.tensors[g.layers[members[0].layer].outputs[0]];
  const int64_t rows = out.dims.volume() / out.dims[out.dims.rank() - 1];
  return absorbed || static_cast<size_t>(rows * total) * element_size(out.dtype) <= kMaxCopiedBytes;
}

// A quantized_matmul of an activation by constant int8 weights [N, K] with constant scales and
// bias (or none), no residual.
bool plain_quantized(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kQuantizedMatMul || l.inputs.size() < 3 || l.outputs.size() != 1) return false;
  if (l.inputs.size() > 4 && l.inputs[4] >= 0) return false;  // a residual
  const bool bias = l.inputs.size() > 3 && l.inputs[3] >= 0;
  if (ir::attr_int(l, "transpose_b") != 1 || is_constant(g, l.inputs[0]) || !is_constant(g, l.inputs[1]) ||
      !is_constant(g, l.inputs[2]) || (bias && !is_constant(g, l.inputs[3])))
    return false;
  return g.tensors[l.inputs[1]].dims.rank() == 2 && non_empty(g, l);
}

std::vector<std::vector<Member>> find_quantized_groups(const ir::Graph& g) {
  const std::vector<std::vector<int>> readers = readers_of(g);
  // Group key: the activation read (through a reshape, its source and shape: each linear layer
  // views its rows itself), the epilogue (activation, output dtype), K, whether there is a bias.
  using Key = std::tuple<int, std::vector<int64_t>, std::string, std::string, int64_t, bool>;
  std::map<Key, std::vector<Member>> by_key;
  std::vector<Key> order;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!plain_quantized(g, l)) continue;
    const bool bias = l.inputs.size() > 3 && l.inputs[3] >= 0;
    int source = l.inputs[0];
    const int p = g.tensors[source].producer;
    if (p >= 0 && g.layers[p].kind == LayerKind::kReshape && g.layers[p].size_attrs.empty())
      source = g.layers[p].inputs[0];
    Key key{source, g.tensors[l.inputs[0]].dims.vec(), ir::attr_string(l, "activation"), ir::attr_string(l, "dtype"),
            g.tensors[l.inputs[1]].dims[1], bias};
    Member m;
    m.layer = static_cast<int>(li);
    m.n = g.tensors[l.inputs[1]].dims[0];
    m.bias = bias ? l.inputs[3] : -1;
    auto [it, fresh] = by_key.try_emplace(key);
    if (fresh) order.push_back(key);
    it->second.push_back(m);
  }
  std::vector<std::vector<Member>> groups;
  for (const Key& key : order)
    if (by_key[key].size() >= 2 && worth_merging(g, readers, by_key[key])) groups.push_back(by_key[key]);
  return groups;
}

// `g` with each group's layers (and bias adds) replaced by what `merge(rb, members)` adds in place
// of the group's first layer; every other layer copied.
template <class Merge>
ir::Graph rebuild_groups(const ir::Graph& g, const std::vector<std::vector<Member>>& groups, Merge merge) {
  if (groups.empty()) return g;
  std::vector<int> group_at(g.layers.size(), -1);  // the group a layer starts
  std::vector<char> skip(g.layers.size(), 0);       // layers the group's layers replace
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    group_at[groups[gi][0].layer] = static_cast<int>(gi);
    for (const Member& m : groups[gi]) {
      skip[m.layer] = 1;
      if (m.bias_add >= 0) skip[m.bias_add] = 1;
    }
  }
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (group_at[li] >= 0)
      merge(rb, groups[group_at[li]]);
    else if (!skip[li])
      rb.copy(static_cast<int>(li));
  }
  return rb.finish();
}

}  // namespace

ir::Graph merge_parallel_matmuls(const ir::Graph& g) {
  return rebuild_groups(g, find_groups(g), [&](GraphRebuilder& rb, const std::vector<Member>& members) {
    const ir::Layer& first = g.layers[members[0].layer];
    const bool transposed = ir::attr_int(first, "transpose_b") != 0;
    std::vector<int> matmuls, adds, replaced;
    std::vector<int64_t> sizes;
    for (const Member& m : members) {
      matmuls.push_back(m.layer);
      if (m.bias_add >= 0) adds.push_back(m.bias_add);
      replaced.push_back(m.bias_add >= 0 ? g.layers[m.bias_add].outputs[0] : g.layers[m.layer].outputs[0]);
      sizes.push_back(m.n);
    }
    std::vector<Weights> sources;
    for (const Member& m : members) sources.push_back(constant_value(g, g.layers[m.layer].inputs[1]));
    const int w = rb.constant(opt::derived_constant(transposed ? "concat_rows" : "concat_columns", sources,
                                                    [&] { return concat_weights(g, members, transposed); }),
                              first.name + ".merged_weight");
    int y = rb.add_holding(LayerKind::kMatMul, {rb.map(first.inputs[0]), w}, first.attrs, first.name + ".merged",
                           matmuls);
    if (!adds.empty()) {
      const int b = rb.constant(concat_vectors(g, members, [](const Member& m) { return m.bias; }),
                                first.name + ".merged_bias");
      y = rb.add_holding(LayerKind::kElementwise, {y, b}, {{"op", std::string("add")}},
                         first.name + ".merged_bias_add", adds);
    }
    const int64_t axis = g.tensors[first.outputs[0]].dims.rank() - 1;
    rb.replace_tensors(replaced, LayerKind::kSplit, {y}, {{"axis", axis}, {"sizes", sizes}},
                       first.name + ".merged_split");
  });
}

ir::Graph merge_parallel_quantized_matmuls(const ir::Graph& g) {
  return rebuild_groups(g, find_quantized_groups(g), [&](GraphRebuilder& rb, const std::vector<Member>& members) {
    const ir::Layer& first = g.layers[members[0].layer];
    std::vector<int> layers, replaced;
    std::vector<int64_t> sizes;
    std::vector<Weights> sources;
    for (const Member& m : members) {
      layers.push_back(m.layer);
      replaced.push_back(g.layers[m.layer].outputs[0]);
      sizes.push_back(m.n);
      sources.push_back(constant_value(g, g.layers[m.layer].inputs[1]));
    }
    const int w = rb.constant(opt::derived_constant("concat_rows", sources,
                                                    [&] { return concat_weights(g, members, true); }),
                              first.name + ".merged_weight");
    const int scale = rb.constant(
        concat_vectors(g, members, [&](const Member& m) { return g.layers[m.layer].inputs[2]; }),
        first.name + ".merged_scale");
    const int bias = members[0].bias < 0 ? -1 : rb.constant(concat_vectors(g, members, [](const Member& m) {
      return m.bias;
    }), first.name + ".merged_bias");
    const int y = rb.add_holding(LayerKind::kQuantizedMatMul, {rb.map(first.inputs[0]), w, scale, bias}, first.attrs,
                                 first.name + ".merged", layers);
    const int64_t axis = g.tensors[first.outputs[0]].dims.rank() - 1;
    rb.replace_tensors(replaced, LayerKind::kSplit, {y}, {{"axis", axis}, {"sizes", sizes}},
                       first.name + ".merged_split");
  });
}

}  // namespace tensorforge
