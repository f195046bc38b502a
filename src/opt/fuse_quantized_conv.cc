// Quantized convolution fusion (see fuse_quantized_conv.h).
#include "opt/fuse_quantized_conv.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "ir/layout.h"
#include "opt/quantized_weights.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

struct Fusion {
  int q = -1;                  // the int8 activation tensor
  int requantize = -1;         // the quantize layer folded in (the output is int8), or -1
  std::vector<int8_t> weight;  // the weight quantized per output channel, in the convolution's layout
  std::vector<double> scale;   // sa · sw[k]
  std::vector<double> bias;    // empty: none
  int residual = -1;           // the residual tensor (an int8 one when a dequantize gave it), or -1
  double residual_scale = 1;   // what the residual is multiplied by (1: no residual_scale input)
};

// Int8 tensor-core convolutions: cuDNN's read channels in groups of four bytes. Other layers keep
// their float form rather than run a slow int8 kernel; stems of 1-3 channels too: on an H200 (run AG
// of benchmarks/RESULTS.md) the int8 small-channel kernel took 2.33 ms for ResNet-50's stem at batch
// 256, cuDNN's float16 plans of its space-to-depth form 1.2 ms.
constexpr int64_t kChannelMultiple = 4;

bool int8_kernel_takes(const Dims& w) {  // w: [Cout, kh, kw, Cin]
  return w[0] % kChannelMultiple == 0 && w[3] % kChannelMultiple == 0;
}

// The int8 quantize, one scale and no zero point over the whole range, that alone reads tensor
// `id`; its index, with its scale in `scale`, or -1.
int sole_int8_quantize(const ir::Graph& g, const std::vector<int>& readers, int id, double& scale) {
  const int r = readers[id];
  if (r < 0) return -1;
  const ir::Layer& q = g.layers[r];
  if (q.kind != LayerKind::kQuantize || g.tensors[q.outputs[0]].dtype != DataType::kInt8) return -1;
  if (ir::attr_string_or(q, "activation", "none") != "none") return -1;
  if (ir::attr_int(q, "qmin") > -128 || ir::attr_int(q, "qmax") < 127) return -1;
  if (q.inputs.size() > 2 && !zero_point_zero(g, q.inputs[2])) return -1;
  const std::vector<double> s = channel_values(g, q.inputs[1], 1, Dims{1}, Dims{1});
  if (s.size() != 1 || !(s[0] > 0) || !std::isfinite(1.0 / s[0])) return -1;
  scale = s[0];
  return r;
}

std::optional<Fusion> match(const ir::Graph& g, const std::vector<int>& readers, const ir::Layer& l) {
  if (l.kind != LayerKind::kConvolution || !ir::is_channels_last(l) || !non_empty(g, l)) return {};
  if (g.tensors[l.inputs[0]].dims.rank() != 4 || ir::attr_int(l, "groups") != 1) return {};
  const std::string& act = ir::attr_string(l, "activation");
  if (act != "none" && act != "relu") return {};
  const DataType out = g.tensors[l.outputs[0]].dtype;
  if (!is_floating(out)) return {};
  const ir::Layer* dq = dequantize_of(g, l.inputs[0]);
  if (!dq || g.tensors[dq->inputs[0]].dtype != DataType::kInt8) return {};
  if (dq->inputs.size() > 2 && !zero_point_zero(g, dq->inputs[2])) return {};
  const std::vector<double> sa = channel_values(g, dq->inputs[1], 1, Dims{1}, Dims{1});
  if (sa.size() != 1 || !(sa[0] > 0)) return {};
  if (!is_constant(g, l.inputs[1])) return {};
  const Weights& w = constant_value(g, l.inputs[1]);  // [Cout, kh, kw, Cin]
  if (!is_floating(w.dtype()) || is_float8(w.dtype())) return {};
  const int64_t cout = w.dims()[0], per = w.dims().volume() / std::max<int64_t>(cout, 1);
  if (!int8_kernel_takes(w.dims())) return {};
  const int bias = l.inputs.size() > 2 ? l.inputs[2] : -1;
  if (bias >= 0 && !is_constant(g, bias)) return {};
  Fusion f;
  f.q = dq->inputs[0];
  const std::vector<double> v = float_values(w);
  f.weight.resize(v.size());
  for (int64_t k = 0; k < cout; ++k) {
    const double* row = v.data() + k * per;
    double m = 0;
    for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(row[i]));
    if (!std::isfinite(m)) return {};
    const double sw = m > 0 ? m / 127.0 : 1.0;
    for (int64_t i = 0; i < per; ++i)
      f.weight[static_cast<size_t>(k * per + i)] =
          static_cast<int8_t>(std::clamp(std::nearbyint(row[i] / sw), -127.0, 127.0));
    f.scale.push_back(sa[0] * sw);
  }
  if (bias >= 0) f.bias = float_values(constant_value(g, bias));
  // A residual that is dequantize(q) of int8 per tensor with no zero point is read as q, its scale
  // the residual_scale.
  if (l.inputs.size() > 3 && l.inputs[3] >= 0) {
    f.residual = l.inputs[3];
    const ir::Layer* dr = dequantize_of(g, f.residual);
    const std::vector<double> sr =
        dr ? channel_values(g, dr->inputs[1], 1, Dims{1}, Dims{1}) : std::vector<double>{};
    if (dr && g.tensors[dr->inputs[0]].dtype == DataType::kInt8 && sr.size() == 1 &&
        (dr->inputs.size() < 3 || zero_point_zero(g, dr->inputs[2]))) {
      f.residual = dr->inputs[0];
      f.residual_scale = sr[0];
    }
  }
  // The quantize that alone reads the result folds in: 1 / its scale joins the layer's scales, bias
  // and residual_scale (relu commutes with the positive factor), and the layer writes int8.
  double out_scale = 0;
  f.requantize = sole_int8_quantize(g, readers, l.outputs[0], out_scale);
  if (f.requantize >= 0) {
    for (double& v : f.scale) v /= out_scale;
    for (double& v : f.bias) v /= out_scale;
    f.residual_scale /= out_scale;
  }
  return f;
}

}  // namespace

ir::Graph fuse_quantized_conv(const ir::Graph& g) {
  const std::vector<int> readers = single_readers(g);
  std::vector<std::optional<Fusion>> fusions;
  std::vector<bool> folded(g.layers.size(), false);
  bool any = false;
  for (const ir::Layer& l : g.layers) {
    fusions.push_back(match(g, readers, l));
    any = any || fusions.back().has_value();
    if (fusions.back() && fusions.back()->requantize >= 0) folded[fusions.back()->requantize] = true;
  }
  if (!any) return g;
  GraphRebuilder rb(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (folded[li]) continue;  // its quantized_convolution writes its output
    if (!fusions[li]) {
      rb.copy(static_cast<int>(li));
      continue;
    }
    const Fusion& f = *fusions[li];
    const ir::Layer& l = g.layers[li];
    const Dims n{static_cast<int64_t>(f.scale.size())};
    const int weight =
        rb.constant(Weights(DataType::kInt8, g.tensors[l.inputs[1]].dims, f.weight.data()), l.name + ".qweight");
    const int scale = rb.constant(float_weights(DataType::kFloat32, n, f.scale), l.name + ".scale");
    const int bias = f.bias.empty() ? -1 : rb.constant(float_weights(DataType::kFloat32, n, f.bias), l.name + ".bias");
    std::vector<int> ins = {rb.map(f.q), weight, scale, bias};
    if (f.residual >= 0) {
      ins.push_back(rb.map(f.residual));
      if (f.residual_scale != 1 || g.tensors[f.residual].dtype == DataType::kInt8)
        ins.push_back(rb.constant(float_weights(DataType::kFloat32, Dims{}, {f.residual_scale}), l.name + ".residual_scale"));
    }
    Attributes attrs = l.attrs;
    const int out = f.requantize >= 0 ? g.layers[f.requantize].outputs[0] : l.outputs[0];
    attrs["dtype"] = std::string(to_string(g.tensors[out].dtype));
    const std::string source = ir::attr_string_or(*dequantize_of(g, l.inputs[0]), "scale_source", "");
    attrs = with_scale_source(attrs, source);
    if (f.requantize >= 0)
      rb.replace_tensors({out}, LayerKind::kQuantizedConvolution, ins, attrs, l.name,
                         {static_cast<int>(li), f.requantize});
    else
      rb.replace(static_cast<int>(li), LayerKind::kQuantizedConvolution, ins, attrs, l.name);
  }
  return rb.finish();
}

}  // namespace tensorforge
