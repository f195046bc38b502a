// rotate_half recognition (see recognize_rotate_half.h).
#include "opt/recognize_rotate_half.h"

#include <algorithm>
#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// [begin, end) of the unit-step slice over the last axis that produces `id`, and its input; false
// when `id` is no such slice.
bool last_axis_slice(const ir::Graph& g, int id, int& source, int64_t& begin, int64_t& end) {
  const int p = g.tensors[id].producer;
  if (p < 0 || g.layers[p].kind != LayerKind::kSlice) return false;
  const ir::Layer& l = g.layers[p];
  const std::vector<int64_t>& axes = ir::attr_ints(l, "axes");
  if (axes.size() != 1) return false;
  const std::vector<int64_t>& steps = ir::attr_ints(l, "steps");
  if (!steps.empty() && steps[0] != 1) return false;
  source = l.inputs[0];
  const Dims& d = g.tensors[source].dims;
  const int64_t axis = axes[0] < 0 ? axes[0] + d.rank() : axes[0];
  if (axis != d.rank() - 1) return false;
  const int64_t extent = d[d.rank() - 1];
  auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + extent : v, 0, extent); };
  begin = clamp(ir::attr_ints(l, "starts")[0]);
  end = clamp(ir::attr_ints(l, "ends")[0]);
  return true;
}

// The x of concat layer `l` when it is cat(-x[..., h:], x[..., :h]) over x's last axis; else -1.
int rotated_source(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kConcat || l.inputs.size() != 2 || l.outputs.size() != 1) return -1;
  const Dims& out = g.tensors[l.outputs[0]].dims;
  const int64_t axis = ir::attr_int(l, "axis");
  if (out.rank() == 0 || (axis != out.rank() - 1 && axis != -1) || !is_floating(g.tensors[l.outputs[0]].dtype))
    return -1;
  const int np = g.tensors[l.inputs[0]].producer;
  if (np < 0 || g.layers[np].kind != LayerKind::kUnary || ir::attr_string(g.layers[np], "op") != "neg") return -1;
  int hi_src = -1, lo_src = -1;
  int64_t hb = 0, he = 0, lb = 0, le = 0;
  if (!last_axis_slice(g, g.layers[np].inputs[0], hi_src, hb, he) ||
      !last_axis_slice(g, l.inputs[1], lo_src, lb, le) || hi_src != lo_src)
    return -1;
  const int64_t extent = g.tensors[hi_src].dims[g.tensors[hi_src].dims.rank() - 1];
  const int64_t h = extent / 2;
  const bool halves = extent % 2 == 0 && lb == 0 && le == h && hb == h && he == extent;
  return halves && g.tensors[hi_src].dims == out ? hi_src : -1;
}

}  // namespace

ir::Graph recognize_rotate_half(const ir::Graph& g) {
  bool any = false;
  for (const ir::Layer& l : g.layers) any = any || rotated_source(g, l) >= 0;
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    const int x = rotated_source(g, l);
    if (x < 0) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const ir::TensorDesc& t = g.tensors[x];
    const int64_t extent = t.dims[t.dims.rank() - 1], h = extent / 2;
    std::vector<int64_t> index(extent);
    std::vector<double> sign(extent);
    for (int64_t i = 0; i < extent; ++i) {
      index[i] = i < h ? i + h : i - h;
      sign[i] = i < h ? -1.0 : 1.0;
    }
    const int idx = rb.constant(Weights(DataType::kInt64, Dims{extent}, index.data()), l.name + ".index");
    const int s = rb.constant(float_weights(t.dtype, Dims{extent}, sign), l.name + ".sign");
    const int gathered = rb.add_holding(LayerKind::kGather, {rb.map(x), idx},
                                        {{"axis", int64_t(t.dims.rank() - 1)}, {"mode", std::string("take")}},
                                        l.name + ".rotate", {static_cast<int>(li)});
    rb.replace(static_cast<int>(li), LayerKind::kElementwise, {gathered, s}, {{"op", std::string("mul")}}, l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
