// Row-transpose motion (see move_row_transposes.h).
#include "opt/move_row_transposes.h"

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// One matched linear layer: the matmul, its optional bias add (and a reshape before that), and the
// transposes and reshapes around it; the rewrite is emitted where `last` stood.
struct Block {
  bool sink = false;           // the transpose is before the matmul (else after)
  int transpose = -1;          // the moved transpose
  int rows_reshape = -1;       // sink: reshape [M, C] of the transpose (or -1: a 3-D matmul reads it);
                               // hoist: reshape [M, K] of Z
  std::vector<int> chain;      // per-tensor quantize/dequantize layers between the rows and the matmul
  int matmul = -1;
  int bias_reshape = -1, bias_add = -1, bias = -1;  // optional: reshape, add, and the [F] constant
  int out_reshape = -1;        // hoist: the reshape [r..., F] the transpose reads
  int z = -1;                  // hoist: the tensor whose leading dims the transpose now permutes
  int z_transpose = -1;        // hoist: Z's own transpose (composed with the moved one), or -1
  int last = -1;
  int result = -1;             // the old tensor the block's final reshape stands for
};

bool keeps_last(const std::vector<int64_t>& perm) {
  const int64_t r = static_cast<int64_t>(perm.size());
  return r >= 3 && (perm.back() == r - 1 || perm.back() == -1);
}

std::vector<int64_t> normalized(const std::vector<int64_t>& perm) {
  std::vector<int64_t> p(perm);
  for (int64_t& v : p) v = v < 0 ? v + static_cast<int64_t>(p.size()) : v;
  return p;
}

// A layer that changes each element alone with one scale for all (a per-tensor quantize or
// dequantize): it commutes with any reordering of the elements, so the transpose moves past it.
bool per_element(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kQuantize && l.kind != LayerKind::kDequantize) return false;
  for (size_t i = 1; i < l.inputs.size(); ++i)
    if (l.inputs[i] >= 0 && g.tensors[l.inputs[i]].dims.volume() != 1) return false;
  return l.outputs.size() == 1 && g.tensors[l.outputs[0]].dims == g.tensors[l.inputs[0]].dims;
}

bool linear(const ir::Graph& g, const ir::Layer& m, int a) {
  return m.kind == LayerKind::kMatMul && m.inputs[0] == a && ir::attr_int(m, "transpose_a") == 0 &&
         g.tensors[m.inputs[1]].dims.rank() == 2 && (m.inputs.size() < 4 || m.inputs[3] < 0) &&
         is_floating(g.tensors[m.outputs[0]].dtype);
}

class Matcher {
 public:
  explicit Matcher(const ir::Graph& g) : g_(g), reader_(single_readers(g)), readers_(g.tensors.size()) {
    for (size_t li = 0; li < g.layers.size(); ++li)
      for (int id : g.layers[li].inputs)
        if (id >= 0) readers_[id].push_back(static_cast<int>(li));
    for (int id : g.outputs) readers_[id].push_back(-1);  // a network output: read as it is
  }

  // True when every use of tensor `id`, through view layers, is an attention's query, key or value:
  // a transpose moved there is read through the attention's views instead of copied.
  bool feeds_only_attention(int id, int depth = 0) const {
    if (depth > 16 || readers_[id].empty()) return false;
    for (int r : readers_[id]) {
      if (r < 0) return false;
      const ir::Layer& l = g_.layers[r];
      if (l.kind == LayerKind::kAttention) {
        if (l.inputs.size() > 3 && l.inputs[3] == id) return false;  // the mask
        continue;
      }
      const bool view = l.kind == LayerKind::kReshape || l.kind == LayerKind::kTranspose ||
                        l.kind == LayerKind::kSlice || l.kind == LayerKind::kSplit;
      if (!view) return false;
      for (int out : l.outputs)
        if (!readers_[out].empty() && !feeds_only_attention(out, depth + 1)) return false;
    }
    return true;
  }

  // The bias add (past an optional reshape keeping the last extent F) reading the matmul's result.
  void match_bias(Block& b, int out) const {
    const Dims& od = g_.tensors[out].dims;
    const int64_t f = od[od.rank() - 1];
    int at = out, reshape = -1;
    int r = reader_[at];
    if (r >= 0 && g_.layers[r].kind == LayerKind::kReshape) {
      const Dims& d = g_.tensors[g_.layers[r].outputs[0]].dims;
      if (d.rank() == 0 || d[d.rank() - 1] != f) return;
      reshape = r;
      at = g_.layers[r].outputs[0];
      r = reader_[at];
    }
    if (r < 0 || g_.layers[r].kind != LayerKind::kElementwise || ir::attr_string(g_.layers[r], "op") != "add") return;
    const ir::Layer& add = g_.layers[r];
    const int other = add.inputs[0] == at ? add.inputs[1] : add.inputs[0];
    if (other == at || !is_constant(g_, other)) return;
    const ir::TensorDesc& c = g_.tensors[other];
    if (c.dims.rank() != 1 || c.dims[0] != f || c.dtype != g_.tensors[out].dtype) return;
    b.bias_reshape = reshape, b.bias_add = r, b.bias = other;
  }

  // transpose -> [per-tensor quantize/dequantize ...] -> [reshape [M, C]] -> matmul ...
  bool sink(int li, Block& b) const {
    const ir::Layer& t = g_.layers[li];
    const Dims& x = g_.tensors[t.inputs[0]].dims;
    int at = t.outputs[0];
    int r = reader_[at];
    while (r >= 0 && per_element(g_, g_.layers[r]) && g_.layers[r].inputs[0] == at) {
      b.chain.push_back(r);
      at = g_.layers[r].outputs[0];
      r = reader_[at];
    }
    if (r >= 0 && g_.layers[r].kind == LayerKind::kReshape) {
      const Dims& rows = g_.tensors[g_.layers[r].outputs[0]].dims;
      if (rows.rank() != 2 || rows[1] != x[x.rank() - 1]) return false;
      b.rows_reshape = r;
      at = g_.layers[r].outputs[0];
      r = reader_[at];
    }
    if (r < 0 || !linear(g_, g_.layers[r], at)) return false;
    b.sink = true, b.transpose = static_cast<int>(li), b.matmul = r;
    match_bias(b, g_.layers[r].outputs[0]);
    b.last = b.bias_add >= 0 ? b.bias_add : r;
    b.result = g_.layers[b.last].outputs[0];
    // Moved after the layer the copy may be larger (an in-projection's 3E columns against E): only
    // where the attention's views take it instead.
    return feeds_only_attention(b.result);
  }

  // Z -> reshape [M, K] -> matmul ... -> reshape [r..., F] -> transpose
  bool hoist(int li, Block& b) const {
    const ir::Layer& t = g_.layers[li];
    const int v = t.inputs[0], rv = g_.tensors[v].producer;
    if (rv < 0 || g_.layers[rv].kind != LayerKind::kReshape || reader_[v] != static_cast<int>(li)) return false;
    int u = g_.layers[rv].inputs[0];
    if (reader_[u] != rv) return false;
    int p = g_.tensors[u].producer;
    Block c;
    if (p >= 0 && g_.layers[p].kind == LayerKind::kElementwise) {  // the bias add: found from the matmul below
      const ir::Layer& add = g_.layers[p];
      for (int in : add.inputs) {
        int q = g_.tensors[in].producer;
        if (q >= 0 && g_.layers[q].kind == LayerKind::kReshape && reader_[in] == p) q = g_.tensors[g_.layers[q].inputs[0]].producer;
        if (q >= 0 && g_.layers[q].kind == LayerKind::kMatMul) p = q;
      }
      if (g_.layers[p].kind != LayerKind::kMatMul) return false;
    }
    if (p < 0 || g_.layers[p].kind != LayerKind::kMatMul) return false;
    const ir::Layer& m = g_.layers[p];
    if (!linear(g_, m, m.inputs[0]) || reader_[m.inputs[0]] != p) return false;
    int rows = m.inputs[0], rz = g_.tensors[rows].producer;
    while (rz >= 0 && per_element(g_, g_.layers[rz])) {  // per-tensor quantize/dequantize, in reverse
      c.chain.insert(c.chain.begin(), rz);
      rows = g_.layers[rz].inputs[0];
      if (reader_[rows] != rz) return false;
      rz = g_.tensors[rows].producer;
    }
    if (rz < 0 || g_.layers[rz].kind != LayerKind::kReshape) return false;
    c.matmul = p;
    match_bias(c, m.outputs[0]);
    const int top = c.bias_add >= 0 ? g_.layers[c.bias_add].outputs[0] : m.outputs[0];
    if (top != u) return false;  // something else stands between the matmul and the reshape
    if (c.bias_add < 0 && reader_[m.outputs[0]] != rv) return false;
    // Z's leading dims are V's: the rows the transpose permutes.
    const int z = g_.layers[rz].inputs[0];
    const Dims &zd = g_.tensors[z].dims, &vd = g_.tensors[v].dims;
    const int k = vd.rank() - 1;
    if (zd.rank() < k + 1) return false;
    for (int i = 0; i < k; ++i)
      if (zd[i] != vd[i]) return false;
    b = c;
    b.transpose = static_cast<int>(li), b.rows_reshape = rz, b.out_reshape = rv, b.z = z;
    const int zp = g_.tensors[z].producer;
    if (zp >= 0 && g_.layers[zp].kind == LayerKind::kTranspose && reader_[z] == rz) b.z_transpose = zp;
    // Moved before the layer the copy may be larger (K > F): only where it joins Z's own transpose
    // (two copies become one) or an attention writes Z (its out_perm takes it).
    if (b.z_transpose < 0 && (zp < 0 || g_.layers[zp].kind != LayerKind::kAttention)) return false;
    b.last = static_cast<int>(li);
    b.result = t.outputs[0];
    return true;
  }

 private:
  const ir::Graph& g_;
  std::vector<int> reader_;
  std::vector<std::vector<int>> readers_;  // every reader of each tensor (-1: a network output)
};

// The layers a block replaces.
std::vector<int> members(const Block& b) {
  std::vector<int> m = {b.transpose, b.matmul};
  for (int l : {b.rows_reshape, b.bias_reshape, b.bias_add, b.out_reshape, b.z_transpose})
    if (l >= 0) m.push_back(l);
  m.insert(m.end(), b.chain.begin(), b.chain.end());
  return m;
}

// The chain's layers again, in order, the first reading new tensor `x`; returns the last's output.
int emit_chain(GraphRebuilder& rb, const ir::Graph& g, const std::vector<int>& chain, int x) {
  for (int li : chain) {
    const ir::Layer& l = g.layers[li];
    std::vector<int> in = rb.map(l.inputs);
    in[0] = x;
    x = rb.add_holding(l.kind, in, l.attrs, l.name, {li});
  }
  return x;
}

}  // namespace

ir::Graph move_row_transposes(const ir::Graph& g) {
  Matcher match(g);
  std::vector<Block> blocks;
  std::vector<int> block_at(g.layers.size(), -1);
  std::vector<bool> taken(g.layers.size(), false);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind != LayerKind::kTranspose || !keeps_last(ir::attr_ints(l, "perm")) || !non_empty(g, l)) continue;
    Block b;
    if (!match.sink(static_cast<int>(li), b) && !match.hoist(static_cast<int>(li), b)) continue;
    bool free = true;
    for (int m : members(b)) free = free && !taken[m];
    if (!free) continue;
    for (int m : members(b)) taken[m] = true;
    block_at[b.last] = static_cast<int>(blocks.size());
    blocks.push_back(b);
  }
  if (blocks.empty()) return g;

  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (block_at[li] < 0) {
      if (!taken[li]) rb.copy(static_cast<int>(li));
      continue;
    }
    const Block& b = blocks[block_at[li]];
    const ir::Layer& t = g.layers[b.transpose];
    const ir::Layer& m = g.layers[b.matmul];
    const std::vector<int64_t> perm = normalized(ir::attr_ints(t, "perm"));
    const Dims& md = g.tensors[m.outputs[0]].dims;
    const int64_t f = md[md.rank() - 1];
    std::vector<int> matmul_in = rb.map(m.inputs);
    std::vector<int> held = {b.matmul};
    if (b.bias_add >= 0) held.push_back(b.bias_add);
    if (b.sink) {
      // X's rows in their own order through the linear layer, then the transpose, then the result's shape.
      const Dims& x = g.tensors[t.inputs[0]].dims;
      matmul_in[0] = rb.add(LayerKind::kReshape, {emit_chain(rb, g, b.chain, rb.map(t.inputs[0]))},
                            {{"shape", std::vector<int64_t>{x.volume() / x[x.rank() - 1], x[x.rank() - 1]}}},
                            b.rows_reshape >= 0 ? g.layers[b.rows_reshape].name : m.name + "_a");
      int y = rb.add_holding(LayerKind::kMatMul, matmul_in, m.attrs, m.name, held);
      std::vector<int64_t> rows = x.vec();
      rows.back() = f;
      y = rb.add(LayerKind::kReshape, {y}, {{"shape", rows}}, m.name + "_rows");
      if (b.bias_add >= 0)
        y = rb.add_holding(LayerKind::kElementwise, {y, rb.map(b.bias)}, {{"op", std::string("add")}},
                           g.layers[b.bias_add].name, {b.bias_add});
      y = rb.add_holding(LayerKind::kTranspose, {y}, {{"perm", perm}}, t.name, {b.transpose});
      y = rb.add(LayerKind::kReshape, {y}, {{"shape", g.tensors[b.result].dims.vec()}}, g.layers[b.last].name + "_view");
      rb.substitute(b.result, y, "_rows");  // the result keeps its name (a network output's binding)
      continue;
    }
    // Hoist: permute Z's leading dims (composed with Z's own transpose), then the linear layer.
    const Dims& zd = g.tensors[b.z].dims;
    std::vector<int64_t> zperm(zd.rank());
    for (int i = 0; i < zd.rank(); ++i) zperm[i] = i < static_cast<int>(perm.size()) - 1 ? perm[i] : i;
    int source = b.z;
    if (b.z_transpose >= 0) {  // Z = transpose(A, q): transpose(Z, p) = transpose(A, q[p])
      const std::vector<int64_t> q = normalized(ir::attr_ints(g.layers[b.z_transpose], "perm"));
      for (int64_t& v : zperm) v = q[v];
      source = g.layers[b.z_transpose].inputs[0];
    }
    std::vector<int> zt_from = {b.transpose};
    if (b.z_transpose >= 0) zt_from.push_back(b.z_transpose);
    int y = rb.add_holding(LayerKind::kTranspose, {rb.map(source)}, {{"perm", zperm}},
                           b.z_transpose >= 0 ? g.layers[b.z_transpose].name : t.name + "_rows", zt_from);
    y = rb.add(LayerKind::kReshape, {y}, {{"shape", g.tensors[g.layers[b.rows_reshape].outputs[0]].dims.vec()}},
               g.layers[b.rows_reshape].name);
    matmul_in[0] = emit_chain(rb, g, b.chain, y);
    y = rb.add_holding(LayerKind::kMatMul, matmul_in, m.attrs, m.name, held);
    if (b.bias_add >= 0)
      y = rb.add_holding(LayerKind::kElementwise, {y, rb.map(b.bias)}, {{"op", std::string("add")}},
                         g.layers[b.bias_add].name, {b.bias_add});
    y = rb.add_holding(LayerKind::kReshape, {y}, {{"shape", g.tensors[b.result].dims.vec()}},
                       g.layers[b.out_reshape].name, {b.out_reshape});
    rb.substitute(b.result, y, "_rows");
  }
  return rb.finish();
}

}  // namespace tensorforge
