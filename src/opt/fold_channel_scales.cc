// Channel-scale folding (see fold_channel_scales.h).
#include "opt/fold_channel_scales.h"

#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

struct Fold {
  int matmul = -1;
  int bias_add = -1;  // -1 for none
  int bias = -1;      // the bias constant's tensor (an add's operand, or the matmul's own bias input)
  int mul = -1;
  int scale = -1;     // the scale constant's tensor
};

// The other operand of two-input layer `l` reading `x`.
int other_operand(const ir::Layer& l, int x) { return l.inputs[0] == x ? l.inputs[1] : l.inputs[0]; }

// A constant of `t`'s dtype whose only non-unit extent is its last, equal to `n`, and whose rank
// does not exceed `rank`: one value per output channel.
bool per_channel(const ir::Graph& g, int id, DataType t, int64_t n, int rank) {
  if (id < 0 || !is_constant(g, id)) return false;
  const ir::TensorDesc& c = g.tensors[id];
  if (c.dtype != t || c.dims.rank() == 0 || c.dims.rank() > rank || c.dims[c.dims.rank() - 1] != n) return false;
  for (int i = 0; i + 1 < c.dims.rank(); ++i)
    if (c.dims[i] != 1) return false;
  return true;
}

std::vector<Fold> find_folds(const ir::Graph& g) {
  const std::vector<int> reader = single_readers(g);
  std::vector<Fold> folds;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind != LayerKind::kMatMul || l.inputs.size() < 2 || !is_constant(g, l.inputs[1]) ||
        is_constant(g, l.inputs[0]) || g.tensors[l.inputs[1]].dims.rank() != 2 || !non_empty(g, l))
      continue;
    // No activation and no residual; a bias the matmul already takes (after fuse_epilogues) scales too.
    bool plain = ir::attr_string(l, "activation") == "none";
    for (size_t k = 3; k < l.inputs.size(); ++k) plain = plain && l.inputs[k] < 0;
    const DataType t = g.tensors[l.outputs[0]].dtype;
    if (!plain || !is_floating(t)) continue;
    const int64_t n = g.tensors[l.outputs[0]].dims[g.tensors[l.outputs[0]].dims.rank() - 1];
    Fold f;
    f.matmul = static_cast<int>(li);
    if (l.inputs.size() > 2 && l.inputs[2] >= 0) {
      if (!per_channel(g, l.inputs[2], t, n, 1)) continue;
      f.bias = l.inputs[2];
    }
    int out = l.outputs[0];
    int r = reader[out];
    if (f.bias < 0 && r >= 0 && g.layers[r].kind == LayerKind::kElementwise &&
        ir::attr_string(g.layers[r], "op") == "add") {
      const int b = other_operand(g.layers[r], out);
      if (b != out && per_channel(g, b, t, n, 1)) {
        f.bias_add = r;
        f.bias = b;
        out = g.layers[r].outputs[0];
        r = reader[out];
      }
    }
    while (r >= 0 && g.layers[r].kind == LayerKind::kReshape) {
      const Dims& d = g.tensors[g.layers[r].outputs[0]].dims;
      if (d.rank() == 0 || d[d.rank() - 1] != n) break;
      out = g.layers[r].outputs[0];
      r = reader[out];
    }
    if (r < 0 || g.layers[r].kind != LayerKind::kElementwise || ir::attr_string(g.layers[r], "op") != "mul") continue;
    const int s = other_operand(g.layers[r], out);
    if (s == out || !per_channel(g, s, t, n, g.tensors[out].dims.rank())) continue;
    if (g.tensors[g.layers[r].outputs[0]].dims != g.tensors[out].dims) continue;
    f.mul = r;
    f.scale = s;
    folds.push_back(f);
  }
  return folds;
}

// `w` (rank 2) with each output channel k multiplied by scale[k]: columns of [K, N], rows of [N, K].
Weights scaled_matrix(const Weights& w, const std::vector<double>& scale, bool transposed) {
  return scaled_weights(w, scale, transposed ? w.dims()[1] : 1);
}

}  // namespace

ir::Graph fold_channel_scales(const ir::Graph& g) {
  const std::vector<Fold> folds = find_folds(g);
  if (folds.empty()) return g;
  std::vector<int> fold_at(g.layers.size(), -1), mul_of(g.layers.size(), -1);
  for (size_t k = 0; k < folds.size(); ++k) {
    fold_at[folds[k].matmul] = static_cast<int>(k);
    if (folds[k].bias_add >= 0) fold_at[folds[k].bias_add] = static_cast<int>(k);
    mul_of[folds[k].mul] = static_cast<int>(k);
  }
  std::vector<char> network_output(g.tensors.size(), 0);
  for (int id : g.outputs) network_output[id] = 1;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (mul_of[li] >= 0) {  // the mul's result is what came before it, now scaled
      const int before = rb.map(other_operand(l, folds[mul_of[li]].scale));
      if (network_output[l.outputs[0]])
        rb.substitute(l.outputs[0], before, "_unscaled");
      else
        rb.alias(l.outputs[0], before);
      continue;
    }
    if (fold_at[li] < 0) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const Fold& f = folds[fold_at[li]];
    const std::vector<double> scale = float_values(constant_value(g, f.scale));
    std::vector<int> inputs = rb.map(l.inputs);
    // The bias scaled per channel, as a new constant that replaces it among `inputs`.
    auto scale_bias = [&] {
      std::vector<double> bias = float_values(constant_value(g, f.bias));
      for (size_t k = 0; k < bias.size(); ++k) bias[k] *= scale[k];
      const int b = rb.constant(float_weights(g.tensors[f.bias].dtype, g.tensors[f.bias].dims, bias),
                                l.name + ".scaled_bias");
      for (int& id : inputs)
        if (id == rb.map(f.bias)) id = b;
    };
    if (static_cast<int>(li) == f.matmul) {
      const bool transposed = ir::attr_int(l, "transpose_b") != 0;
      inputs[1] = rb.constant(scaled_matrix(constant_value(g, l.inputs[1]), scale, transposed),
                              l.name + ".scaled_weight");
      if (f.bias >= 0 && f.bias_add < 0) scale_bias();  // the matmul's own bias
      rb.replace(static_cast<int>(li), l.kind, inputs, l.attrs, l.name, {static_cast<int>(li), f.mul});
    } else {  // the bias add
      scale_bias();
      rb.replace(static_cast<int>(li), l.kind, inputs, l.attrs, l.name);
    }
  }
  return rb.finish();
}

}  // namespace tensorforge
