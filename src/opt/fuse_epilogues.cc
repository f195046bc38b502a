// Epilogue fusion (see fuse_epilogues.h). The graph is rebuilt layer by layer through add_layer, so
// each fused layer is checked by inference like any other; a fused layer is placed where the last
// layer of its chain stood, where every input of the chain is defined.
#include "opt/fuse_epilogues.h"

#include <string>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

struct Chain {
  int head = -1;           // the matmul or convolution
  int bias_tensor = -1;    // matmul: the bias constant's tensor (old id)
  int residual = -1;       // the tensor added to the output (old id)
  int reshape = -1;        // matmul: a reshape between the bias and the residual's add (old layer)
  std::string activation;  // "" = none
  int last = -1;           // the last layer folded in
  std::vector<int> folded; // every layer of the chain, head first
};

// add(x, bias) or add(bias, x) with bias a constant [N] of x's dtype, N = x's last extent.
int bias_of_add(const ir::Graph& g, const ir::Layer& add, int x) {
  if (add.kind != LayerKind::kElementwise || ir::attr_string(add, "op") != "add") return -1;
  int other = add.inputs[0] == x ? add.inputs[1] : add.inputs[0];
  if (other == x || !is_constant(g, other)) return -1;
  const ir::TensorDesc &t = g.tensors[x], &b = g.tensors[other];
  if (b.dtype != t.dtype || b.dims.rank() != 1 || b.dims[0] != t.dims[t.dims.rank() - 1]) return -1;
  return other;
}

// add(x, r) or add(r, x) with r of x's dtype and shape (not x itself): a residual.
int residual_of_add(const ir::Graph& g, const ir::Layer& add, int x) {
  if (add.kind != LayerKind::kElementwise || ir::attr_string(add, "op") != "add") return -1;
  int other = add.inputs[0] == x ? add.inputs[1] : add.inputs[0];
  if (other == x) return -1;
  const ir::TensorDesc &t = g.tensors[x], &r = g.tensors[other];
  return r.dtype == t.dtype && r.dims == t.dims ? other : -1;
}

std::string fusable_activation(const ir::Layer& l, bool matmul) {
  if (l.kind != LayerKind::kActivation) return {};
  const std::string& op = ir::attr_string(l, "op");
  if (op == "relu") return "relu";
  if (matmul && op == "gelu_erf") return "gelu";
  if (matmul && op == "gelu_tanh") return "gelu_tanh";
  return {};
}

std::vector<Chain> find_chains(const ir::Graph& g) {
  std::vector<int> reader = single_readers(g);
  std::vector<Chain> chains;
  // A layer joins at most one chain: both operands of ResNet's downsampling add are convolutions,
  // and only the first takes the add.
  std::vector<char> taken(g.layers.size(), 0);
  auto free_reader = [&](int tensor) { return reader[tensor] >= 0 && !taken[reader[tensor]]; };
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    bool matmul = l.kind == LayerKind::kMatMul;
    if (!matmul && l.kind != LayerKind::kConvolution) continue;
    if (!is_floating(g.tensors[l.outputs[0]].dtype)) continue;
    if (l.attrs.count("activation") && ir::attr_string(l, "activation") != "none") continue;
    if (l.inputs.size() > 3 && l.inputs[3] >= 0) continue;  // already has a residual
    const bool has_bias = matmul && l.inputs.size() > 2 && l.inputs[2] >= 0;
    Chain c;
    c.head = c.last = static_cast<int>(li);
    c.folded = {c.head};
    int out = l.outputs[0];
    auto absorb = [&] {  // the reader of `out` joins the chain; its output is the chain's now
      c.last = reader[out];
      c.folded.push_back(c.last);
      out = g.layers[c.last].outputs[0];
    };
    if (matmul && !has_bias && free_reader(out) &&
        (c.bias_tensor = bias_of_add(g, g.layers[reader[out]], out)) >= 0)
      absorb();
    if (!matmul && free_reader(out) && non_empty(g, l) &&
        (c.residual = residual_of_add(g, g.layers[reader[out]], out)) >= 0)
      absorb();
    if (matmul && non_empty(g, l)) {
      // The residual add, also past a reshape (a linear layer's [N * L, E] result viewed as [N, L, E]);
      // then no activation follows: a transformer's residual feeds a norm.
      int at = out, reshape = -1;
      if (free_reader(at) && g.layers[reader[at]].kind == LayerKind::kReshape) {
        reshape = reader[at];
        at = g.layers[reshape].outputs[0];
      }
      if (free_reader(at) && (c.residual = residual_of_add(g, g.layers[reader[at]], at)) >= 0) {
        if (reshape >= 0) {
          c.reshape = reshape;
          c.folded.push_back(reshape);
          out = at;
        }
        absorb();
        if (c.last == c.head) continue;
        for (int f : c.folded) taken[f] = 1;
        chains.push_back(c);
        continue;
      }
    }
    if (free_reader(out) && !(c.activation = fusable_activation(g.layers[reader[out]], matmul)).empty()) absorb();
    if (c.last == c.head) continue;
    for (int f : c.folded) taken[f] = 1;
    chains.push_back(c);
  }
  return chains;
}

}  // namespace

ir::Graph fuse_epilogues(const ir::Graph& g) {
  std::vector<Chain> chains = find_chains(g);
  if (chains.empty()) return g;
  std::vector<int> chain_at_last(g.layers.size(), -1);
  std::vector<char> folded(g.layers.size(), 0);
  for (size_t k = 0; k < chains.size(); ++k) {
    chain_at_last[chains[k].last] = static_cast<int>(k);
    for (int li : chains[k].folded) folded[li] = 1;
  }

  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (chain_at_last[li] >= 0) {
      const Chain& c = chains[chain_at_last[li]];
      const ir::Layer& head = g.layers[c.head];
      std::vector<int> inputs = rb.map(head.inputs);
      Attributes attrs = head.attrs;
      if (c.bias_tensor >= 0) {
        inputs.resize(2);
        inputs.push_back(rb.map(c.bias_tensor));
      }
      if (c.residual >= 0) {
        inputs.resize(3, -1);
        inputs.push_back(rb.map(c.residual));
      }
      if (!c.activation.empty()) attrs["activation"] = c.activation;
      if (c.reshape < 0) {
        rb.replace(static_cast<int>(li), head.kind, inputs, attrs, head.name, c.folded);
        continue;
      }
      // matmul -> reshape -> add(residual): the residual is viewed in the matmul's shape (a reshape
      // costs no copy), the fused matmul stands for the reshape's input and the reshape is redone.
      const ir::Layer& reshape = g.layers[c.reshape];
      const Dims& md = g.tensors[reshape.inputs[0]].dims;
      inputs[3] = rb.add(LayerKind::kReshape, {inputs[3]}, {{"shape", md.vec()}}, head.name + "_residual");
      // The matmul holds itself and the bias add; the reshape and the residual's add go with the new
      // reshape, which now produces the add's result.
      const std::vector<int> before_reshape(c.folded.begin(), c.folded.end() - 2);
      rb.replace_tensors({reshape.inputs[0]}, head.kind, inputs, attrs, head.name, before_reshape);
      rb.replace(static_cast<int>(li), LayerKind::kReshape, {rb.map(reshape.inputs[0])},
                 {{"shape", g.tensors[g.layers[li].outputs[0]].dims.vec()}}, reshape.name, {c.reshape, static_cast<int>(li)});
    } else if (!folded[li]) {
      rb.copy(static_cast<int>(li));
    }
  }
  return rb.finish();
}

}  // namespace tensorforge
