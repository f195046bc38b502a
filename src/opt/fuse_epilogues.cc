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
  std::string activation;  // "" = none
  int last = -1;           // the last layer folded in
  std::vector<int> folded; // every layer of the chain, head first
  bool reshaped = false;   // matmul: the chain passes reshapes (its result is viewed in another shape)
};

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
  if (!matmul && (op == "silu" || op == "hardswish")) return op;  // our pass after the convolution
  // ReLU6 (MobileNetV2's): clip to [0, 6]
  if (!matmul && op == "clip" && ir::attr_float(l, "alpha") == 0.0 && ir::attr_float(l, "beta") == 6.0) return "relu6";
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
    if (!is_floating(g.tensors[l.outputs[0]].dtype) || !non_empty(g, l)) continue;
    if (l.attrs.count("activation") && ir::attr_string(l, "activation") != "none") continue;
    if (l.inputs.size() > 3 && l.inputs[3] >= 0) continue;  // already has a residual
    const bool has_bias = matmul && l.inputs.size() > 2 && l.inputs[2] >= 0;
    const int64_t n = g.tensors[l.outputs[0]].dims[g.tensors[l.outputs[0]].dims.rank() - 1];
    Chain c;
    c.head = c.last = static_cast<int>(li);
    c.folded = {c.head};
    int out = l.outputs[0];
    // The layer reading the chain's result, past a reshape for a matmul (a linear layer's [N * L, E]
    // result viewed as [N, L, E]); `keep_last`: the reshape must keep the last extent (a bias).
    auto next = [&](bool keep_last, int& reshape) -> int {
      reshape = -1;
      if (!free_reader(out)) return -1;
      const int r = reader[out];
      if (!matmul || g.layers[r].kind != LayerKind::kReshape) return r;
      const int t = g.layers[r].outputs[0];
      const Dims& d = g.tensors[t].dims;
      if (!free_reader(t) || (keep_last && (d.rank() == 0 || d[d.rank() - 1] != n))) return -1;
      reshape = r;
      return reader[t];
    };
    auto absorb = [&](int reshape) {  // the next reader joins the chain; its output is the chain's now
      if (reshape >= 0) {
        c.folded.push_back(reshape);
        c.reshaped = true;
        out = g.layers[reshape].outputs[0];
      }
      c.last = reader[out];
      c.folded.push_back(c.last);
      out = g.layers[c.last].outputs[0];
    };
    int reshape = -1, r = -1;
    // The tensor the next reader reads: the chain's result, or its reshape.
    auto read = [&](int reshape) { return reshape >= 0 ? g.layers[reshape].outputs[0] : out; };
    if (matmul && !has_bias && (r = next(true, reshape)) >= 0 &&
        (c.bias_tensor = bias_of_add(g, g.layers[r], read(reshape))) >= 0)
      absorb(reshape);
    if ((r = next(false, reshape)) >= 0 &&
        (c.residual = residual_of_add(g, g.layers[r], read(reshape))) >= 0)
      absorb(reshape);
    // With a matmul's residual no activation follows: a transformer's residual feeds a norm.
    if (!(matmul && c.residual >= 0) && (r = next(false, reshape)) >= 0 &&
        !(c.activation = fusable_activation(g.layers[r], matmul)).empty())
      absorb(reshape);
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
      if (!c.reshaped) {
        rb.replace(static_cast<int>(li), head.kind, inputs, attrs, head.name, c.folded);
        continue;
      }
      // Reshapes in the chain: the fused matmul computes in its own shape (the residual viewed in it,
      // which costs no copy), and one reshape at the chain's end gives the last layer's result.
      const Dims& md = g.tensors[head.outputs[0]].dims;
      if (c.residual >= 0)
        inputs[3] = rb.add(LayerKind::kReshape, {inputs[3]}, {{"shape", md.vec()}}, head.name + "_residual");
      const std::vector<int> held(c.folded.begin(), c.folded.end() - 1);
      rb.replace_tensors({head.outputs[0]}, head.kind, inputs, attrs, head.name, held);
      rb.replace(static_cast<int>(li), LayerKind::kReshape, {rb.map(head.outputs[0])},
                 {{"shape", g.tensors[g.layers[li].outputs[0]].dims.vec()}}, g.layers[li].name);
    } else if (!folded[li]) {
      rb.copy(static_cast<int>(li));
    }
  }
  return rb.finish();
}

}  // namespace tensorforge
