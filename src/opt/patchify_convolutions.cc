// Patch embeddings as matrix products (see patchify_convolutions.h).
#include "opt/patchify_convolutions.h"

#include <vector>

#include "opt/rebuild.h"

namespace tensorforge {

namespace {

constexpr int64_t kMaxChannels = 4;     // image inputs; wider inputs keep their convolution
constexpr int64_t kMinWindowValues = 64;  // a product's reduction worth the regrouping

// A list attribute's value for spatial dim i (an empty list means `fallback`).
int64_t spatial(const std::vector<int64_t>& v, size_t i, int64_t fallback) { return v.empty() ? fallback : v[i]; }

bool patch_embedding(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kConvolution || ir::attr_string(l, "layout") != "nchw" || ir::attr_int(l, "groups") != 1)
    return false;
  if (l.inputs.size() > 3 && l.inputs[3] >= 0) return false;  // a residual
  const std::string& act = ir::attr_string(l, "activation");
  if (act != "none" && act != "relu") return false;
  if (!is_constant(g, l.inputs[1]) || !non_empty(g, l)) return false;
  const ir::TensorDesc &x = g.tensors[l.inputs[0]], &w = g.tensors[l.inputs[1]];
  if (x.dims.rank() != 4 || w.dims.rank() != 4 || x.dims[1] > kMaxChannels) return false;
  if (x.dtype != DataType::kFloat32 && x.dtype != DataType::kFloat16 && x.dtype != DataType::kBFloat16) return false;
  if (w.dims[1] * w.dims[2] * w.dims[3] < kMinWindowValues) return false;
  const std::vector<int64_t>& stride = ir::attr_ints(l, "stride");
  const std::vector<int64_t>& padding = ir::attr_ints(l, "padding");
  const std::vector<int64_t>& dilation = ir::attr_ints(l, "dilation");
  for (size_t i = 0; i < 2; ++i) {
    const int64_t k = w.dims[2 + i];
    if (spatial(stride, i, 1) != k || spatial(padding, i, 0) != 0 || spatial(dilation, i, 1) != 1) return false;
    if (x.dims[2 + i] % k != 0) return false;
  }
  return true;
}

}  // namespace

ir::Graph patchify_convolutions(const ir::Graph& g) {
  bool any = false;
  for (const ir::Layer& l : g.layers) any = any || patch_embedding(g, l);
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!patch_embedding(g, l)) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const int self = static_cast<int>(li);
    const ir::TensorDesc& x = g.tensors[l.inputs[0]];
    const Weights& w = constant_value(g, l.inputs[1]);
    const int64_t n = x.dims[0], c = x.dims[1], kh = w.dims()[2], kw = w.dims()[3], k = w.dims()[0];
    const int64_t oh = x.dims[2] / kh, ow = x.dims[3] / kw, window = c * kh * kw;
    // [N, C, OH, KH, OW, KW] -> [N, OH, OW, C, KH, KW]: each patch's values in the weight's order.
    const int split = rb.add_holding(LayerKind::kReshape, {rb.map(l.inputs[0])},
                                     {{"shape", std::vector<int64_t>{n, c, oh, kh, ow, kw}}}, l.name + "_split", {self});
    const int grouped = rb.add_holding(LayerKind::kTranspose, {split},
                                       {{"perm", std::vector<int64_t>{0, 2, 4, 1, 3, 5}}}, l.name + "_patches", {self});
    const int rows = rb.add_holding(LayerKind::kReshape, {grouped}, {{"shape", std::vector<int64_t>{n * oh * ow, window}}},
                                    l.name + "_rows", {self});
    const int weight = rb.constant(Weights(w.dtype(), Dims{k, window}, w.data()), l.name + "_weight");
    std::vector<int> inputs = {rows, weight};
    if (l.inputs.size() > 2 && l.inputs[2] >= 0) inputs.push_back(rb.map(l.inputs[2]));
    const int product = rb.add_holding(LayerKind::kMatMul, inputs,
                                       {{"transpose_b", int64_t(1)}, {"activation", ir::attr_string(l, "activation")}},
                                       l.name + "_product", {self});
    const int nhwc = rb.add_holding(LayerKind::kReshape, {product}, {{"shape", std::vector<int64_t>{n, oh, ow, k}}},
                                    l.name + "_nhwc", {self});
    rb.replace(self, LayerKind::kTranspose, {nhwc}, {{"perm", std::vector<int64_t>{0, 3, 1, 2}}}, l.name + "_nchw");
  }
  return rb.finish();
}

}  // namespace tensorforge
