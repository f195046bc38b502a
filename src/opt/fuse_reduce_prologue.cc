// Reduce prologues (see fuse_reduce_prologue.h).
#include "opt/fuse_reduce_prologue.h"

#include <string>
#include <vector>

#include "ir/reduce_prologue.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The predicate layer whose output only reduce layer `l` reads, when `l` can take it as its
// prologue; else -1.
int absorbable_predicate(const ir::Graph& g, const std::vector<int>& readers, int li) {
  const ir::Layer& l = g.layers[li];
  if (l.kind != LayerKind::kReduce || !ir::attr_string(l, "prologue").empty()) return -1;
  const std::string& op = ir::attr_string(l, "op");
  if (op != "any" && op != "all") return -1;
  const int in = l.inputs[0], p = g.tensors[in].producer;
  if (p < 0 || readers[in] != li || g.layers[p].kind != LayerKind::kUnary) return -1;
  const ir::Layer& pred = g.layers[p];
  if (reduce_prologue_code(ir::attr_string(pred, "op")) <= 0) return -1;
  const DataType t = g.tensors[pred.inputs[0]].dtype;
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ? p : -1;
}

}  // namespace

ir::Graph fuse_reduce_prologue(const ir::Graph& g) {
  const std::vector<int> readers = single_readers(g);
  std::vector<int> predicate_of(g.layers.size(), -1);
  std::vector<char> absorbed(g.layers.size(), 0);
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const int p = absorbable_predicate(g, readers, static_cast<int>(li));
    if (p < 0) continue;
    predicate_of[li] = p;
    absorbed[p] = 1;
    any = true;
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (absorbed[li]) continue;  // its only reader, a reduce below, takes it
    const int p = predicate_of[li];
    if (p < 0) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const ir::Layer& pred = g.layers[p];
    Attributes attrs = l.attrs;
    attrs["prologue"] = ir::attr_string(pred, "op");
    rb.replace(static_cast<int>(li), l.kind, {rb.map(pred.inputs[0])}, attrs, l.name, {p});
  }
  return rb.finish();
}

}  // namespace tensorforge
