// Quantize before max pooling (see move_quantize_before_max_pool.h).
#include "opt/move_quantize_before_max_pool.h"

#include <cmath>
#include <vector>

#include "opt/quantized_weights.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The max pooling whose result quantize `qi` alone reads and may move before, or -1.
int pooling_before(const ir::Graph& g, const std::vector<int>& reader, int qi) {
  const ir::Layer& q = g.layers[qi];
  if (q.kind != LayerKind::kQuantize || g.tensors[q.outputs[0]].dtype != DataType::kInt8) return -1;
  if (ir::attr_string_or(q, "activation", "none") != "none") return -1;
  const int p = g.tensors[q.inputs[0]].producer;
  if (p < 0 || reader[q.inputs[0]] != qi) return -1;
  const ir::Layer& pool = g.layers[p];
  if (pool.kind != LayerKind::kPooling || ir::attr_string(pool, "mode") != "max") return -1;
  // One positive scale over the whole tensor (a per-channel scale would need the channel axis).
  if (g.tensors[q.inputs[1]].dims.volume() != 1 || !is_constant(g, q.inputs[1])) return -1;
  const std::vector<double> s = float_values(constant_value(g, q.inputs[1]));
  if (s.size() != 1 || !(s[0] > 0) || !std::isfinite(s[0])) return -1;
  if (q.inputs.size() > 2 && q.inputs[2] >= 0 && g.tensors[q.inputs[2]].dims.volume() != 1) return -1;
  return p;
}

}  // namespace

ir::Graph move_quantize_before_max_pool(const ir::Graph& g) {
  const std::vector<int> reader = single_readers(g);
  std::vector<int> pool_of(g.layers.size(), -1);
  std::vector<char> moved_pool(g.layers.size(), 0);
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const int p = pooling_before(g, reader, static_cast<int>(li));
    if (p < 0) continue;
    pool_of[li] = p;
    moved_pool[p] = 1;
    any = true;
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (moved_pool[li]) continue;  // rebuilt at its quantize, which alone reads it
    const int p = pool_of[li];
    if (p < 0) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    // At the quantize (its scale and zero point are defined by now): the quantize of the pooling's
    // input, then the pooling of that, in the quantize's place.
    const ir::Layer& q = g.layers[li];
    const ir::Layer& pool = g.layers[p];
    std::vector<int> q_inputs = rb.map(q.inputs);
    q_inputs[0] = rb.map(pool.inputs[0]);
    const int xq = rb.add_holding(LayerKind::kQuantize, q_inputs, q.attrs, pool.name + ".quantize",
                                  {static_cast<int>(li)});
    rb.replace_tensors({q.outputs[0]}, LayerKind::kPooling, {xq}, pool.attrs, pool.name, {p});
  }
  return rb.finish();
}

}  // namespace tensorforge
