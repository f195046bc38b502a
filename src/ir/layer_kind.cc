// Names of the layer kinds, used by the printer, the file format and the Python API.
#include "tensorforge/network.h"

namespace tensorforge {

namespace {
constexpr const char* kNames[kNumLayerKinds] = {
    "convolution", "deconvolution", "pooling", "adaptive_pooling", "matmul",   "elementwise", "unary",
    "activation",  "prelu",         "softmax", "batch_norm",       "layer_norm", "group_norm", "rms_norm",
    "reduce",      "arg_reduce",    "reshape", "transpose",        "expand",   "concat",      "split",
    "slice",       "gather",        "scatter", "select",           "cast",     "constant",    "fill",
    "arange",      "pad",           "resize",  "topk",             "cumsum",   "attention",   "pointwise",
    "as_strided",  "quantize",      "dequantize", "quantized_matmul", "quantized_convolution",
};
}  // namespace

const char* to_string(LayerKind k) {
  int i = static_cast<int>(k);
  return (i >= 0 && i < kNumLayerKinds) ? kNames[i] : "invalid";
}

LayerKind parse_layer_kind(const std::string& name) {
  for (int i = 0; i < kNumLayerKinds; ++i)
    if (name == kNames[i]) return static_cast<LayerKind>(i);
  throw Error(ErrorCode::kInvalidArgument, "unknown layer kind '" + name + "'");
}

}  // namespace tensorforge
