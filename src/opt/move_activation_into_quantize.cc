// Activation into the quantize (see move_activation_into_quantize.h).
#include "opt/move_activation_into_quantize.h"

#include <string>
#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The quantize that takes product `li`'s activation, or -1.
int taker(const ir::Graph& g, const std::vector<int>& reader, int li) {
  const ir::Layer& m = g.layers[li];
  if (m.kind != LayerKind::kQuantizedMatMul || !is_float8(g.tensors[m.inputs[0]].dtype)) return -1;
  const DataType out = g.tensors[m.outputs[0]].dtype;
  if (out != DataType::kFloat16 && out != DataType::kBFloat16) return -1;  // float32: the sums' kernel applies it
  const std::string& act = ir::attr_string(m, "activation");
  const bool residual = m.inputs.size() > 4 && m.inputs[4] >= 0;
  if (act == "none" || (act == "relu" && !residual)) return -1;
  int at = m.outputs[0], q = reader[at];
  while (q >= 0 && g.layers[q].kind == LayerKind::kReshape) {  // views between (exported linear layers')
    at = g.layers[q].outputs[0];
    q = reader[at];
  }
  if (q < 0 || g.layers[q].kind != LayerKind::kQuantize || g.layers[q].inputs[0] != at) return -1;
  return ir::attr_string(g.layers[q], "activation") == "none" ? q : -1;
}

}  // namespace

ir::Graph move_activation_into_quantize(const ir::Graph& g) {
  const std::vector<int> reader = single_readers(g);
  std::vector<int> moved_to(g.layers.size(), -1), moved_from(g.layers.size(), -1);
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const int q = taker(g, reader, static_cast<int>(li));
    if (q < 0) continue;
    moved_to[li] = q;
    moved_from[q] = static_cast<int>(li);
    any = true;
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (moved_to[li] < 0 && moved_from[li] < 0) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    Attributes attrs = l.attrs;
    attrs["activation"] = moved_to[li] >= 0 ? std::string("none") : ir::attr_string(g.layers[moved_from[li]], "activation");
    rb.replace(static_cast<int>(li), l.kind, rb.map(l.inputs), attrs, l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
