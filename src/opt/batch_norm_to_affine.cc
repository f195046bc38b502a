// Batch norm as a per-channel affine map (see batch_norm_to_affine.h).
#include "opt/batch_norm_to_affine.h"

#include <cmath>
#include <string>
#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

bool convertible(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kBatchNorm || l.outputs.size() != 1) return false;
  const ir::TensorDesc& x = g.tensors[l.inputs[0]];
  if (!is_floating(x.dtype) || x.dims.rank() < 2) return false;
  for (size_t i = 1; i < l.inputs.size(); ++i)
    if (l.inputs[i] >= 0 && !is_constant(g, l.inputs[i])) return false;
  return true;
}

}  // namespace

ir::Graph batch_norm_to_affine(const ir::Graph& g) {
  bool any = false;
  for (const ir::Layer& l : g.layers) any = any || convertible(g, l);
  if (!any) return g;

  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!convertible(g, l)) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const ir::TensorDesc& x = g.tensors[l.inputs[0]];
    const int64_t channels = x.dims[1];
    auto param = [&](size_t i, double dflt) {
      return i < l.inputs.size() && l.inputs[i] >= 0 ? float_values(constant_value(g, l.inputs[i]))
                                                     : std::vector<double>(channels, dflt);
    };
    const std::vector<double> mean = param(1, 0), var = param(2, 1), gamma = param(3, 1), beta = param(4, 0);
    const double eps = ir::attr_float(l, "eps");
    std::vector<double> scale(channels), shift(channels);
    for (int64_t c = 0; c < channels; ++c) {
      scale[c] = gamma[c] / std::sqrt(var[c] + eps);
      shift[c] = beta[c] - mean[c] * scale[c];
    }
    std::vector<int64_t> cdims(x.dims.rank(), 1);
    cdims[1] = channels;
    const int s = rb.constant(float_weights(x.dtype, Dims(cdims), scale), l.name + ".scale");
    const int b = rb.constant(float_weights(x.dtype, Dims(cdims), shift), l.name + ".shift");
    const int scaled = rb.add_holding(LayerKind::kElementwise, {rb.map(l.inputs[0]), s},
                                      {{"op", std::string("mul")}}, l.name + ".mul", {static_cast<int>(li)});
    rb.replace(static_cast<int>(li), LayerKind::kElementwise, {scaled, b}, {{"op", std::string("add")}}, l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
