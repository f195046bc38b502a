// Identity removal (see remove_identities.h).
#include "opt/remove_identities.h"

#include <algorithm>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

bool is_identity(const ir::Graph& g, const ir::Layer& l) {
  if (l.inputs.empty() || l.inputs[0] < 0 || l.outputs.size() != 1) return false;
  const ir::TensorDesc &in = g.tensors[l.inputs[0]], &out = g.tensors[l.outputs[0]];
  if (in.dtype != out.dtype || in.dims != out.dims) return false;
  switch (l.kind) {
    case LayerKind::kConcat: return l.inputs.size() == 1;
    case LayerKind::kCast:
    case LayerKind::kExpand:
    case LayerKind::kSlice: return true;  // same shape: every element kept in place
    case LayerKind::kPad: {  // Swin pads its windows by (0, 0) whenever the size divides evenly
      for (int64_t p : ir::attr_ints(l, "pads"))
        if (p != 0) return false;
      return true;
    }
    case LayerKind::kTranspose: {
      const std::vector<int64_t>& perm = ir::attr_ints(l, "perm");
      for (size_t i = 0; i < perm.size(); ++i)
        if (perm[i] != static_cast<int64_t>(i) && perm[i] != static_cast<int64_t>(i) - static_cast<int64_t>(perm.size()))
          return false;
      return true;
    }
    default: return false;
  }
}

}  // namespace

ir::Graph remove_identities(const ir::Graph& g) {
  std::vector<bool> is_output(g.tensors.size(), false);
  for (int id : g.outputs) is_output[id] = true;
  const std::vector<bool> network_output = is_output;
  std::vector<bool> drop(g.layers.size(), false);
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!is_identity(g, l)) continue;
    const int in = l.inputs[0], p = g.tensors[in].producer;
    if (p < 0 || g.layers[p].kind == LayerKind::kConstant || is_output[in]) continue;
    // An output standing for two tensors at once (this one and another output) is left alone.
    if (is_output[l.outputs[0]] && std::count(g.outputs.begin(), g.outputs.end(), l.outputs[0]) > 1) continue;
    drop[li] = any = true;
    is_output[in] = is_output[l.outputs[0]];  // a second identity of the same input keeps its copy
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const int out = g.layers[li].outputs[0];
    if (drop[li] && network_output[out])  // the input takes the output's name (bindings are by name)
      rb.substitute(out, rb.map(g.layers[li].inputs[0]), "_in");
    else if (drop[li])
      rb.alias(out, rb.map(g.layers[li].inputs[0]));
    else
      rb.copy(static_cast<int>(li));
  }
  return rb.finish();
}

}  // namespace tensorforge
