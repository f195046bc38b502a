// Spatial layers over [N, C, *spatial] (1 to 3 spatial dims): convolution, deconvolution, pooling,
// adaptive_pooling, resize; and pad over any rank. Convolution and (adaptive) pooling also take
// layout "nhwc" (channels last, for any spatial rank): the input and output are [N, *spatial, C] and
// a convolution's weight is [Cout, *kernel, Cin / groups]; inference then works on the
// channels-first view of each tensor and returns the output channels last. Output sizes follow PyTorch's rules; every
// attribute value a CPU kernel relies on (list lengths, ranges, divisibility) is validated here.
#include <cmath>

#include "common/conv_activation.h"
#include "ir/layout.h"
#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

// Bound on stride, padding, dilation, kernel and size attributes, so that size arithmetic cannot overflow.
constexpr int64_t kMaxSpatialAttr = int64_t(1) << 30;

// Number of spatial dims of input 0, which must be [N, C, *spatial] with 1 to 3 spatial dims.
int spatial_dims(InferContext& c) {
  int r = c.dims(0).rank();
  if (r < 3 || r > 5) c.fail("input must be [N, C, *spatial] with 1 to 3 spatial dims, got rank " + std::to_string(r));
  return r - 2;
}

// Whether the layer's "layout" attribute says channels last (and that it is one of the two names).
bool channels_last(InferContext& c) {
  const std::string& l = c.get_string("layout");
  if (l != "nchw" && l != "nhwc") c.fail("layout must be 'nchw' or 'nhwc', got '" + l + "'");
  return l == "nhwc";
}

void require_float(InferContext& c, const char* what) {
  if (!is_floating(c.dtype(0))) c.fail(std::string(what) + " needs a floating-point input");
}

// A per-spatial-dim list attribute: empty means `def` for every dim; otherwise one value per spatial dim,
// each in [lo, kMaxSpatialAttr].
std::vector<int64_t> spatial_list(InferContext& c, const std::string& name, int nsp, int64_t def, int64_t lo) {
  std::vector<int64_t> v = c.get_ints(name);
  if (v.empty()) return std::vector<int64_t>(nsp, def);
  if (static_cast<int>(v.size()) != nsp)
    c.fail(name + " must have one value per spatial dim (" + std::to_string(nsp) + "), got " +
           std::to_string(v.size()));
  for (int64_t x : v)
    if (x < lo || x > kMaxSpatialAttr)
      c.fail(name + " values must be in [" + std::to_string(lo) + ", 2^30], got " + std::to_string(x));
  return v;
}

// Checks the weight (and bias) of a (de)convolution: dtype, rank, kernel extents >= 1.
void check_conv_params(InferContext& c, const char* what, const Dims& w) {
  require_float(c, what);
  if (c.dtype(1) != c.dtype(0)) c.fail("weight must have the input's dtype");
  if (w.rank() != c.dims(0).rank())
    c.fail("weight must have the input's rank (" + std::to_string(c.dims(0).rank()) + "), got " + w.str());
  for (int i = 2; i < w.rank(); ++i)
    if (w[i] < 1 || w[i] > kMaxSpatialAttr) c.fail("weight kernel extents must be >= 1, got " + w.str());
  if (c.get_int("groups") < 1) c.fail("groups must be >= 1, got " + std::to_string(c.get_int("groups")));
}

void check_bias(InferContext& c, int64_t cout) {
  if (!c.has_input(2)) return;
  if (c.dtype(2) != c.dtype(0)) c.fail("bias must have the input's dtype");
  if (c.dims(2) != Dims{cout}) c.fail("bias must be [" + std::to_string(cout) + "], got " + c.dims(2).str());
}

// The output [N, Cout, *spatial] (channels first) of a convolution of channels-first x by w, from
// the layer's stride, padding, dilation and groups; checks the channel counts against groups.
Dims conv_output(InferContext& c, int nsp, const Dims& x, const Dims& w) {
  int64_t g = c.get_int("groups");
  auto stride = spatial_list(c, "stride", nsp, 1, 1);
  auto pad = spatial_list(c, "padding", nsp, 0, 0);
  auto dil = spatial_list(c, "dilation", nsp, 1, 1);
  if (x[1] % g != 0) c.fail("input channels (" + std::to_string(x[1]) + ") not divisible by groups " + std::to_string(g));
  if (w[0] % g != 0) c.fail("output channels (" + std::to_string(w[0]) + ") not divisible by groups " + std::to_string(g));
  if (w[1] != x[1] / g)
    c.fail("weight dim 1 must be input channels / groups = " + std::to_string(x[1] / g) + ", got " + w.str());
  Dims out = x;
  out[1] = w[0];
  for (int i = 0; i < nsp; ++i) {
    int64_t span = c.value(CheckedInt(x[2 + i]) + 2 * pad[i] - dil[i] * (CheckedInt(w[2 + i]) - 1) - 1,
                           "the output size in spatial dim " + std::to_string(i));
    if (span < 0) c.fail("the (dilated) kernel is larger than the padded input in spatial dim " + std::to_string(i));
    out[2 + i] = span / stride[i] + 1;
  }
  return out;
}

void infer_convolution(InferContext& c) {
  int nsp = spatial_dims(c);
  const bool last = channels_last(c);
  const Dims x = channels_first_view(c.dims(0), last);
  const Dims w = channels_first_view(c.dims(1), last);
  check_conv_params(c, "convolution", w);
  const Dims out = conv_output(c, nsp, x, w);
  check_bias(c, w[0]);
  const std::string& act = c.get_string("activation");
  ConvActivation parsed;
  if (!parse_conv_activation(act, parsed))
    c.fail("activation must be 'none', 'relu', 'silu', 'hardswish' or 'relu6', got '" + act + "'");
  const bool residual = c.has_input(3);
  if (residual && c.dtype(3) != c.dtype(0)) c.fail("residual must have the input's dtype");
  const Dims y = channels_last_view(out, last);
  if (residual && c.dims(3) != y) c.fail("residual must have the output's shape " + y.str() + ", got " + c.dims(3).str());
  c.set_output(0, c.dtype(0), y);
}

// quantized_convolution (docs/layers.md): int8 x [N, C, H, W] (or NHWC) by an int8 weight, int32
// sums, then act(sum * scale[k] + bias[k] + residual * residual_scale) in float32, rounded to `dtype`
// (int8: rounded half to even and saturated, the next layer's quantize folded into the scales).
void infer_quantized_convolution(InferContext& c) {
  c.require(c.dims(0).rank() == 4, "quantized_convolution is 2-D: x must be rank 4, got " + c.dims(0).str());
  const bool last = channels_last(c);
  const Dims x = channels_first_view(c.dims(0), last);
  const Dims w = channels_first_view(c.dims(1), last);
  c.require(c.dtype(0) == DataType::kInt8 && c.dtype(1) == DataType::kInt8, "x and the weight must be int8");
  c.require(w.rank() == 4, "the weight must be rank 4, got " + w.str());
  for (int i = 2; i < 4; ++i)
    if (w[i] < 1 || w[i] > kMaxSpatialAttr) c.fail("weight kernel extents must be >= 1, got " + w.str());
  if (c.get_int("groups") < 1) c.fail("groups must be >= 1, got " + std::to_string(c.get_int("groups")));
  const Dims out = conv_output(c, 2, x, w);
  for (int i = 2; i < 4; ++i) {
    if (!c.has_input(i)) continue;
    c.require(c.dtype(i) == DataType::kFloat32 && c.dims(i) == Dims{w[0]},
              std::string(i == 2 ? "scale" : "bias") + " must be float32 [Cout] = [" + std::to_string(w[0]) + "]");
  }
  const std::string& act = c.get_string("activation");
  c.require(act == "none" || act == "relu", "activation must be \"none\" or \"relu\", not \"" + act + "\"");
  check_scale_source(c);
  DataType to = DataType::kFloat32;
  try {
    to = parse_data_type(c.get_string("dtype"));
  } catch (const Error& e) {
    c.fail(e.what());
  }
  c.require((is_floating(to) && !is_float8(to)) || to == DataType::kInt8,
            "the output dtype must be float32, float16, bfloat16 or int8");
  const Dims y = channels_last_view(out, last);
  const bool rs = c.has_input(5);
  if (rs) {
    c.require(c.has_input(4), "a residual_scale needs a residual");
    c.require(c.dtype(5) == DataType::kFloat32 && c.dims(5).volume() == 1, "residual_scale must be one float32 value");
  }
  if (c.has_input(4)) {
    const DataType r = c.dtype(4);
    c.require(c.dims(4) == y, "the residual must have the output's shape " + y.str() + ", got " + c.dims(4).str());
    c.require(r == DataType::kInt8 ? rs : (r == to || (to == DataType::kInt8 && rs && is_floating(r) && !is_float8(r))),
              std::string("the residual must be int8 with a residual_scale, or of the output's dtype ") +
                  to_string(to) + " (of a float dtype with a residual_scale when the output is int8), not " +
                  to_string(r));
  }
  c.set_output(0, to, y);
}

void infer_deconvolution(InferContext& c) {
  int nsp = spatial_dims(c);
  check_conv_params(c, "deconvolution", c.dims(1));
  const Dims& x = c.dims(0);
  const Dims& w = c.dims(1);
  int64_t g = c.get_int("groups");
  auto stride = spatial_list(c, "stride", nsp, 1, 1);
  auto pad = spatial_list(c, "padding", nsp, 0, 0);
  auto opad = spatial_list(c, "output_padding", nsp, 0, 0);
  auto dil = spatial_list(c, "dilation", nsp, 1, 1);
  if (w[0] != x[1]) c.fail("weight dim 0 must be the input channels (" + std::to_string(x[1]) + "), got " + w.str());
  if (x[1] % g != 0) c.fail("input channels (" + std::to_string(x[1]) + ") not divisible by groups " + std::to_string(g));
  Dims out = x;
  out[1] = w[1] * g;
  check_bias(c, out[1]);
  for (int i = 0; i < nsp; ++i) {
    if (opad[i] >= stride[i] && opad[i] >= dil[i])
      c.fail("output_padding must be smaller than stride or dilation in spatial dim " + std::to_string(i));
    int64_t o = c.value((CheckedInt(x[2 + i]) - 1) * stride[i] - 2 * pad[i] + dil[i] * (CheckedInt(w[2 + i]) - 1) +
                            opad[i] + 1,
                        "the output size in spatial dim " + std::to_string(i));
    if (o < 1) c.fail("output size " + std::to_string(o) + " is not positive in spatial dim " + std::to_string(i));
    out[2 + i] = o;
  }
  c.set_output(0, c.dtype(0), out);
}

void infer_pooling(InferContext& c) {
  int nsp = spatial_dims(c);
  const bool last = channels_last(c);
  const std::string& mode = c.get_string("mode");
  if (mode != "max" && mode != "avg") c.fail("mode must be 'max' or 'avg', got '" + mode + "'");
  // Max pooling of int8 (a quantized network's, which commutes with a monotone quantize) compares the
  // integers; averages need a float input.
  if (!(mode == "max" && c.dtype(0) == DataType::kInt8)) require_float(c, "pooling");
  if (c.get_ints("kernel").empty()) c.fail("kernel must have one value per spatial dim");
  auto k = spatial_list(c, "kernel", nsp, 1, 1);
  auto stride = c.get_ints("stride").empty() ? k : spatial_list(c, "stride", nsp, 1, 1);
  auto pad = spatial_list(c, "padding", nsp, 0, 0);
  auto dil = spatial_list(c, "dilation", nsp, 1, 1);
  if (mode == "avg")
    for (int64_t d : dil)
      if (d != 1) c.fail("dilation is only supported by max pooling");
  if (c.get_int("divisor_override") < 0) c.fail("divisor_override must be >= 0 (0 = none)");
  bool ceil_mode = c.get_int("ceil_mode") != 0;
  const Dims x = channels_first_view(c.dims(0), last);
  Dims out = x;
  for (int i = 0; i < nsp; ++i) {
    if (pad[i] > k[i] / 2) c.fail("padding must be at most half the kernel size in spatial dim " + std::to_string(i));
    int64_t in = x[2 + i];
    int64_t span = c.value(CheckedInt(in) + 2 * pad[i] - dil[i] * (CheckedInt(k[i]) - 1) - 1,
                           "the output size in spatial dim " + std::to_string(i));
    if (span < 0) c.fail("the (dilated) kernel is larger than the padded input in spatial dim " + std::to_string(i));
    int64_t o = (ceil_mode ? c.value(CheckedInt(span) + stride[i] - 1, "the output size") / stride[i] : span / stride[i]) + 1;
    if (ceil_mode && (o - 1) * stride[i] >= in + pad[i]) --o;  // the last window must start inside
    out[2 + i] = o;
  }
  c.set_output(0, c.dtype(0), channels_last_view(out, last));
}

void infer_adaptive_pooling(InferContext& c) {
  int nsp = spatial_dims(c);
  require_float(c, "adaptive_pooling");
  const std::string& mode = c.get_string("mode");
  if (mode != "max" && mode != "avg") c.fail("mode must be 'max' or 'avg', got '" + mode + "'");
  if (c.get_ints("output_size").empty()) c.fail("output_size must have one value per spatial dim");
  auto os = spatial_list(c, "output_size", nsp, 1, 1);
  const bool last = channels_last(c);
  Dims out = channels_first_view(c.dims(0), last);
  for (int i = 0; i < nsp; ++i) {
    if (out[2 + i] < 1) c.fail("input spatial extents must be >= 1, got " + c.dims(0).str());
    out[2 + i] = os[i];
  }
  c.set_output(0, c.dtype(0), channels_last_view(out, last));
}

void infer_pad(InferContext& c) {
  const Dims& x = c.dims(0);
  int r = x.rank();
  const auto& pads = c.get_ints("pads");
  if (static_cast<int>(pads.size()) != 2 * r)
    c.fail("pads must have 2 * rank = " + std::to_string(2 * r) + " values (begins then ends), got " +
           std::to_string(pads.size()));
  const std::string& mode = c.get_string("mode");
  if (mode != "constant" && mode != "reflect" && mode != "replicate")
    c.fail("mode must be 'constant', 'reflect' or 'replicate', got '" + mode + "'");
  if (mode != "constant" && !is_floating(c.dtype(0)) && !is_integer(c.dtype(0)))
    c.fail(mode + " padding needs a floating-point or integer input");
  if (is_integer(c.dtype(0))) {
    double v = c.get_float("value"), lo = 0, hi = 255;
    if (c.dtype(0) == DataType::kInt8) lo = -128, hi = 127;
    if (c.dtype(0) == DataType::kInt32) lo = -2147483648.0, hi = 2147483647.0;
    if (c.dtype(0) == DataType::kInt64) lo = -9.2233720368547748e18, hi = 9.2233720368547748e18;
    if (!(v >= lo && v < hi + 1)) c.fail("value " + std::to_string(v) + " does not fit the input's integer dtype");
  }
  Dims out = x;
  for (int i = 0; i < r; ++i) {
    int64_t b = pads[i], e = pads[r + i];
    auto within = [](int64_t v) { return v >= -kMaxSpatialAttr && v <= kMaxSpatialAttr; };  // no abs(): INT64_MIN
    if (!within(b) || !within(e)) c.fail("pads values must be within +-2^30");
    if (mode != "constant" && (b < 0 || e < 0)) c.fail("negative pads are only allowed in constant mode");
    if (mode == "reflect" && (b >= x[i] || e >= x[i]) && (b > 0 || e > 0))
      c.fail("reflect pads must be smaller than the extent in dim " + std::to_string(i) + " (" + std::to_string(x[i]) +
             ")");
    if (mode == "replicate" && x[i] == 0 && (b > 0 || e > 0))
      c.fail("replicate padding cannot grow the empty dim " + std::to_string(i));
    out[i] = c.value(CheckedInt(x[i]) + b + e, "the padded extent of dim " + std::to_string(i));
    if (out[i] < 0) c.fail("pads crop dim " + std::to_string(i) + " below zero");
  }
  c.set_output(0, c.dtype(0), out);
}

void infer_resize(InferContext& c) {
  int nsp = spatial_dims(c);
  require_float(c, "resize");
  const std::string& mode = c.get_string("mode");
  if (mode != "nearest" && mode != "linear") c.fail("mode must be 'nearest' or 'linear', got '" + mode + "'");
  if (mode == "nearest" && c.get_int("align_corners") != 0) c.fail("align_corners is only valid with mode 'linear'");
  if (c.get_ints("sizes").empty()) c.fail("sizes must have one value per spatial dim");
  auto sizes = spatial_list(c, "sizes", nsp, 1, 1);
  const auto& scales = c.get_floats("scales");
  if (!scales.empty() && static_cast<int>(scales.size()) != nsp)
    c.fail("scales must be empty or have one value per spatial dim (" + std::to_string(nsp) + ")");
  // A scale is an input/output extent ratio; sizes are at most 2^30, so a useful ratio lies within
  // [2^-30, 2^30], and the kernels' index arithmetic stays exact there.
  for (double s : scales)
    if (!(s >= 0x1p-30 && s <= 0x1p30))
      c.fail("scales must be input/output ratios in [2^-30, 2^30], got " + std::to_string(s));
  Dims out = c.dims(0);
  for (int i = 0; i < nsp; ++i) {
    if (out[2 + i] < 1) c.fail("input spatial extents must be >= 1, got " + c.dims(0).str());
    out[2 + i] = sizes[i];
  }
  c.set_output(0, c.dtype(0), out);
}

AttrValue no_ints() { return std::vector<int64_t>{}; }

// A convolution's attributes (quantized_convolution's first ones).
std::vector<AttrSpec> convolution_attrs() {
  return {{"stride", AttrType::kInts, false, no_ints()},
          {"padding", AttrType::kInts, false, no_ints()},
          {"dilation", AttrType::kInts, false, no_ints()},
          {"groups", AttrType::kInt, false, int64_t(1)},
          {"activation", AttrType::kString, false, std::string("none")},
          {"layout", AttrType::kString, false, std::string("nchw")}};
}

std::vector<AttrSpec> quantized_convolution_attrs() {
  std::vector<AttrSpec> a = convolution_attrs();
  a.push_back({"dtype", AttrType::kString, false, std::string("float32")});
  a.push_back({"scale_source", AttrType::kString, false, std::string()});
  return a;
}

}  // namespace

void add_spatial_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kConvolution, {"x", "weight", "bias", "residual"}, 2, false, convolution_attrs(), nullptr,
                  infer_convolution});
  defs.push_back({LayerKind::kQuantizedConvolution, {"x", "weight", "scale", "bias", "residual", "residual_scale"}, 3, false,
                  quantized_convolution_attrs(), nullptr, infer_quantized_convolution});
  defs.push_back({LayerKind::kDeconvolution,
                  {"x", "weight", "bias"},
                  2,
                  false,
                  {{"stride", AttrType::kInts, false, no_ints()},
                   {"padding", AttrType::kInts, false, no_ints()},
                   {"output_padding", AttrType::kInts, false, no_ints()},
                   {"dilation", AttrType::kInts, false, no_ints()},
                   {"groups", AttrType::kInt, false, int64_t(1)}},
                  nullptr,
                  infer_deconvolution});
  defs.push_back({LayerKind::kPooling,
                  {"x"},
                  1,
                  false,
                  {{"mode", AttrType::kString, true, {}},
                   {"kernel", AttrType::kInts, true, {}},
                   {"stride", AttrType::kInts, false, no_ints()},
                   {"padding", AttrType::kInts, false, no_ints()},
                   {"dilation", AttrType::kInts, false, no_ints()},
                   {"ceil_mode", AttrType::kInt, false, int64_t(0)},
                   {"count_include_pad", AttrType::kInt, false, int64_t(1)},
                   {"divisor_override", AttrType::kInt, false, int64_t(0)},
                   {"layout", AttrType::kString, false, std::string("nchw")}},
                  nullptr,
                  infer_pooling});
  defs.push_back({LayerKind::kAdaptivePooling,
                  {"x"},
                  1,
                  false,
                  {{"mode", AttrType::kString, true, {}},
                   {"output_size", AttrType::kInts, true, {}},
                   {"layout", AttrType::kString, false, std::string("nchw")}},
                  nullptr,
                  infer_adaptive_pooling});
  defs.push_back({LayerKind::kPad,
                  {"x"},
                  1,
                  false,
                  {{"pads", AttrType::kInts, true, {}},
                   {"mode", AttrType::kString, false, std::string("constant")},
                   {"value", AttrType::kFloat, false, 0.0}},
                  nullptr,
                  infer_pad});
  defs.push_back({LayerKind::kResize,
                  {"x"},
                  1,
                  false,
                  {{"mode", AttrType::kString, true, {}},
                   {"sizes", AttrType::kInts, true, {}},
                   {"align_corners", AttrType::kInt, false, int64_t(0)},
                   {"scales", AttrType::kFloats, false, AttrValue(std::vector<double>{})}},
                  nullptr,
                  infer_resize});
}

}  // namespace tensorforge::ir
