// Batch-norm folding (see fold_batch_norm.h).
#include "opt/fold_batch_norm.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "opt/constant_memo.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// The batch norm folding into convolution `li`, or -1.
int foldable_norm(const ir::Graph& g, const std::vector<int>& reader, int li) {
  const ir::Layer& conv = g.layers[li];
  if (conv.kind != LayerKind::kConvolution || !is_floating(g.tensors[conv.outputs[0]].dtype)) return -1;
  if (conv.attrs.count("activation") && ir::attr_string(conv, "activation") != "none") return -1;
  if (!is_constant(g, conv.inputs[1])) return -1;
  bool has_bias = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
  if (has_bias && !is_constant(g, conv.inputs[2])) return -1;
  int bn = reader[conv.outputs[0]];
  if (bn < 0 || g.layers[bn].kind != LayerKind::kBatchNorm || g.layers[bn].inputs[0] != conv.outputs[0]) return -1;
  const ir::Layer& norm = g.layers[bn];
  for (size_t i = 1; i < norm.inputs.size(); ++i)
    if (norm.inputs[i] >= 0 && !is_constant(g, norm.inputs[i])) return -1;
  return bn;
}

}  // namespace

ir::Graph fold_batch_norm(const ir::Graph& g) {
  std::vector<int> reader = single_readers(g);
  std::vector<int> norm_of(g.layers.size(), -1), conv_of(g.layers.size(), -1);
  bool any = false;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    int bn = foldable_norm(g, reader, static_cast<int>(li));
    if (bn < 0) continue;
    norm_of[li] = bn;
    conv_of[bn] = static_cast<int>(li);
    any = true;
  }
  if (!any) return g;

  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (norm_of[li] >= 0) continue;  // emitted where its batch norm stands
    if (conv_of[li] < 0) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const ir::Layer& conv = g.layers[conv_of[li]];
    const ir::Layer& norm = g.layers[li];
    const Weights& w = constant_value(g, conv.inputs[1]);
    DataType t = g.tensors[conv.outputs[0]].dtype;
    int64_t cout = w.dims()[0], per = w.dims().volume() / (cout ? cout : 1);
    auto param = [&](size_t i, double dflt) {
      return i < norm.inputs.size() && norm.inputs[i] >= 0 ? float_values(constant_value(g, norm.inputs[i]))
                                                         : std::vector<double>(cout, dflt);
    };
    std::vector<double> mean = param(1, 0), var = param(2, 1), gamma = param(3, 1), beta = param(4, 0);
    std::vector<double> bias = conv.inputs.size() > 2 && conv.inputs[2] >= 0 ? float_values(constant_value(g, conv.inputs[2]))
                                                                             : std::vector<double>(cout, 0.0);
    std::vector<double> scale(cout), nb(cout);
    double eps = ir::attr_float(norm, "eps");
    for (int64_t o = 0; o < cout; ++o) {
      scale[o] = gamma[o] / std::sqrt(var[o] + eps);
      nb[o] = (bias[o] - mean[o]) * scale[o] + beta[o];
    }
    // The scaled weight depends on the weight, var, gamma and eps (a dynamic engine's plans derive it
    // once: opt/constant_memo.h); the bias is a vector, computed every time.
    std::vector<Weights> sources{w};
    char eps_text[32];
    std::snprintf(eps_text, sizeof eps_text, "%.17g", eps);
    std::string kind = std::string("fold_batch_norm eps ") + eps_text;
    for (size_t i : {size_t(2), size_t(3)}) {
      const bool given = i < norm.inputs.size() && norm.inputs[i] >= 0;
      kind += given ? " +" : " -";
      if (given) sources.push_back(constant_value(g, norm.inputs[i]));
    }
    int nw = rb.constant(opt::derived_constant(kind, sources, [&] { return scaled_weights(w, scale, per); }),
                         conv.name + ".folded_weight");
    int nbias = rb.constant(float_weights(t, Dims{cout}, nb), conv.name + ".folded_bias");
    rb.replace(static_cast<int>(li), LayerKind::kConvolution, {rb.map(conv.inputs[0]), nw, nbias}, conv.attrs,
               conv.name, {conv_of[li]});
  }
  return rb.finish();
}

}  // namespace tensorforge
