// View composition (see compose_views.h).
#include "opt/compose_views.h"

#include "opt/rebuild.h"
#include "opt/strided_view.h"

namespace tensorforge {

namespace {

// The chain ending at layer l's output as one strided view, when it saves a copy; base -1 if not.
StridedViewOf composed(const ir::Graph& g, const ir::Layer& l) {
  if ((l.kind != LayerKind::kTranspose && l.kind != LayerKind::kSlice) || !non_empty(g, l)) return {};
  StridedViewOf v = strided_view_of(g, l.outputs[0], /*unit_last_stride=*/false);
  // Worth it when it saves a copy, or when the copies undo each other (then a reshape, no copy).
  return v.copies >= 2 || (v.base >= 0 && v.contiguous) ? v : StridedViewOf{};
}

}  // namespace

ir::Graph compose_views(const ir::Graph& g) {
  std::vector<StridedViewOf> views(g.layers.size());
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    views[li] = composed(g, g.layers[li]);
    any = any || views[li].base >= 0;
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const StridedViewOf& v = views[li];
    if (v.base < 0) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    if (v.contiguous)
      rb.replace(static_cast<int>(li), LayerKind::kReshape, {rb.map(v.base)}, {{"shape", v.view.dims.vec()}},
                 g.layers[li].name);
    else
      rb.replace(static_cast<int>(li), LayerKind::kAsStrided, {rb.map(v.base)},
                 {{"shape", v.view.dims.vec()}, {"strides", v.view.strides}, {"offset", v.view.offset}},
                 g.layers[li].name);
  }
  return rb.finish();
}

}  // namespace tensorforge
