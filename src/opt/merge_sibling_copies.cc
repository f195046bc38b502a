// Sibling-copy merging (see merge_sibling_copies.h).
#include "opt/merge_sibling_copies.h"

#include <map>
#include <tuple>

#include "ir/printer.h"
#include "opt/eliminate_dead_layers.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The fused layer's body: each input cast to its own dtype (a copy), one output per input.
std::string copies_body(DataType t, const Dims& dims, size_t n) {
  ir::Graph b;
  std::vector<int> ins;
  for (size_t k = 0; k < n; ++k) {
    ins.push_back(b.add_tensor("in" + std::to_string(k), t, dims, -1, 0));
    b.inputs.push_back(ins.back());
  }
  for (size_t k = 0; k < n; ++k) {
    const int li = b.add_layer(LayerKind::kCast, {ins[k]}, {{"dtype", std::string(to_string(t))}},
                               "copy" + std::to_string(k));
    b.outputs.push_back(b.layers[li].outputs[0]);
  }
  return ir::to_text(b);
}

}  // namespace

ir::Graph merge_sibling_copies(const ir::Graph& input) {
  // Only live copies merge: a dead one (one an attention now reads through strides, or one only a
  // gather that fuse_pointwise read in place still reads) would be computed again as an output.
  const ir::Graph g = eliminate_dead_layers(input);
  // Sets of as_strided layers keyed by what they read and make.
  std::map<std::tuple<int, int, std::vector<int64_t>>, std::vector<int>> sets;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind != LayerKind::kAsStrided || !non_empty(g, l)) continue;
    const ir::TensorDesc& out = g.tensors[l.outputs[0]];
    if (out.dims.rank() == 0) continue;
    sets[{l.inputs[0], static_cast<int>(out.dtype), out.dims.vec()}].push_back(static_cast<int>(li));
  }
  std::vector<int> first_of(g.layers.size(), -1), merged(g.layers.size(), 0);
  std::vector<const std::vector<int>*> groups;
  for (const auto& [key, layers] : sets) {
    if (layers.size() < 2) continue;
    first_of[layers[0]] = static_cast<int>(groups.size());
    for (int li : layers) merged[li] = 1;
    groups.push_back(&layers);
  }
  if (groups.empty()) return input;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (!merged[li]) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    if (first_of[li] < 0) continue;  // made with the first of its set
    const std::vector<int>& set = *groups[first_of[li]];
    const ir::TensorDesc& out = g.tensors[g.layers[set[0]].outputs[0]];
    std::vector<int64_t> views;
    std::vector<int> outputs, inputs;
    for (size_t k = 0; k < set.size(); ++k) {
      const ir::Layer& c = g.layers[set[k]];
      const std::vector<int64_t>& shape = ir::attr_ints(c, "shape");
      const std::vector<int64_t>& strides = ir::attr_ints(c, "strides");
      views.push_back(static_cast<int64_t>(k));
      views.push_back(static_cast<int64_t>(shape.size()));
      views.insert(views.end(), shape.begin(), shape.end());
      views.insert(views.end(), strides.begin(), strides.end());
      views.push_back(ir::attr_int(c, "offset"));
      outputs.push_back(c.outputs[0]);
      inputs.push_back(rb.map(c.inputs[0]));
    }
    rb.replace_tensors(outputs, LayerKind::kPointwise, inputs,
                       {{"body", copies_body(out.dtype, out.dims, set.size())}, {"input_views", views}},
                       g.layers[set[0]].name + ".copies", set);
  }
  return rb.finish();
}

}  // namespace tensorforge
