// Engine accessors and the inspector.
#include <cstdio>
#include <sstream>

#include "common/utf8.h"
#include "ir/layout.h"
#include "ir/printer.h"
#include "runtime/engine_impl.h"

namespace tensorforge {

const std::vector<IOTensorInfo>& Engine::io_tensors() const { return impl_->io; }
int Engine::nb_inputs() const { return static_cast<int>(impl_->graph.inputs.size()); }
int Engine::nb_outputs() const { return static_cast<int>(impl_->graph.outputs.size()); }
DeviceKind Engine::device() const { return impl_->config.device; }
int Engine::optimization_level() const { return impl_->config.optimization_level; }
size_t Engine::arena_size() const { return impl_->arena_size; }
size_t Engine::weights_size() const { return impl_->weights_size; }
int Engine::compute_capability() const { return impl_->compute_capability; }
const std::vector<std::pair<std::string, std::string>>& Engine::library_versions() const { return impl_->libraries; }
int Engine::nb_layers() const { return static_cast<int>(impl_->graph.layers.size()); }
const std::vector<std::pair<std::string, double>>& Engine::build_times() const { return impl_->build_ms; }
std::string Engine::network_text() const { return ir::to_text(impl_->graph); }

namespace {

// A JSON string literal of `s`: quotes, backslashes and control bytes escaped; a name that is not
// valid UTF-8 (possible through the C++ API) has each byte >= 0x80 written as \u00XX.
std::string json_string(const std::string& s) {
  const bool utf8 = is_valid_utf8(s);
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || (!utf8 && c >= 0x80)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Per layer, what its kernel chose among candidates of its own (Kernel::choice(); "" for none).
std::vector<std::string> kernel_choices(const EngineImpl& impl) {
  std::vector<std::string> out(impl.graph.layers.size());
  for (const Step& s : impl.steps) out[s.layer] = s.kernel->choice();
  return out;
}

// "nhwc" / "nchw" for layers with a layout attribute, "" otherwise.
std::string layout_of(const ir::Layer& l) {
  if (!l.attrs.count("layout")) return "";
  return ir::is_channels_last(l) ? "nhwc" : "nchw";
}

// How a quantized layer computes, for the inspector: a quantized_matmul's or quantized_convolution's
// arithmetic ("int8": int8
// or uint8 activations times int8 weights with exact int32 sums; "int8 weights": float activations
// times int8 weights, the weight-only mode; empty for the others, whose precision is their output's
// dtype) and how the scales of it, a quantize or a dequantize apply (per tensor or per channel, from
// the scale tensor's size). Both empty for other layers.
struct Quantization {
  std::string precision, scales, source;  // source: the layer's scale_source ("" when not said)
};

bool is_int8(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

std::string granularity(const ir::Graph& g, int scale) {
  return g.tensors[scale].dims.volume() == 1 ? "per-tensor" : "per-channel";
}

Quantization quantization_of(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind == LayerKind::kQuantizedMatMul && l.inputs.size() >= 3) {
    const DataType rows = g.tensors[l.inputs[0]].dtype;
    const bool quantized_rows = is_int8(rows) || rows == DataType::kFloat8E4M3;
    // The activations' scale is folded into each column's (the weight's scale times the activation's).
    return {rows == DataType::kFloat8E4M3 ? "float8_e4m3fn" : quantized_rows ? "int8" : "int8 weights",
            quantized_rows ? "weights per-channel, activations per-tensor (folded into the column scales)"
                           : "weights per-channel (weight only: activations in float)",
            ir::attr_string_or(l, "scale_source", "")};
  }
  if (l.kind == LayerKind::kQuantizedConvolution)
    return {"int8", "weights per-channel, activations per-tensor (folded into the channel scales)",
            ir::attr_string_or(l, "scale_source", "")};
  if ((l.kind == LayerKind::kQuantize || l.kind == LayerKind::kDequantize) && l.inputs.size() >= 2) {
    // Computes in float32; its output's dtype says the rest. A quantize may apply an activation first.
    const std::string act = l.kind == LayerKind::kQuantize ? ir::attr_string_or(l, "activation", "none") : "none";
    return {"", granularity(g, l.inputs[1]) + (act != "none" ? " (" + act + " applied first)" : ""),
            ir::attr_string_or(l, "scale_source", "")};
  }
  return {};
}

}  // namespace

std::string Engine::inspect() const {
  const ir::Graph& g = impl_->graph;
  const std::vector<std::string> choices = kernel_choices(*impl_);
  std::ostringstream os;
  os << "engine: device=" << to_string(device()) << " optimization_level=" << optimization_level()
     << " layers=" << g.layers.size() << " run_per_call=" << impl_->steps.size() << " arena=" << arena_size()
     << "B weights=" << weights_size() << "B";
  if (impl_->compute_capability)
    os << " compute_capability=" << impl_->compute_capability / 10 << '.' << impl_->compute_capability % 10;
  for (const auto& [name, version] : impl_->libraries) os << ' ' << name << '=' << version;
  os << '\n';
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    os << "  " << l.name << " [" << to_string(l.kind) << "] tactic=" << impl_->tactics[li] << " ->";
    for (int id : l.outputs) os << ' ' << to_string(g.tensors[id].dtype) << g.tensors[id].dims.str();
    const std::string layout = layout_of(l);
    if (!layout.empty()) os << " layout=" << layout;
    const Quantization q = quantization_of(g, l);
    if (!q.scales.empty()) os << " scales=" << (q.precision.empty() ? "" : q.precision + ", ") << q.scales;
    if (!q.source.empty()) os << " scale_source=" << q.source;
    if (!choices[li].empty()) os << " choice=" << choices[li];
    if (l.origins.empty()) {
      os << " (inserted by the optimizer)";
    } else if (l.origins.size() > 1 || l.origins[0] != l.name) {
      os << " holds:";
      for (const std::string& o : l.origins) os << ' ' << o;
    }
    os << '\n';
  }
  return os.str();
}

std::string Engine::inspect_json() const {
  const ir::Graph& g = impl_->graph;
  std::vector<char> runs(g.layers.size(), 0);
  for (const Step& s : impl_->steps) runs[s.layer] = 1;
  const std::vector<std::string> choices = kernel_choices(*impl_);
  std::ostringstream os;
  os << "{\"device\": " << json_string(to_string(device())) << ", \"optimization_level\": " << optimization_level()
     << ", \"arena_bytes\": " << arena_size() << ", \"weights_bytes\": " << weights_size()
     << ", \"compute_capability\": " << impl_->compute_capability << ", \"libraries\": {";
  for (size_t i = 0; i < impl_->libraries.size(); ++i)
    os << (i ? ", " : "") << json_string(impl_->libraries[i].first) << ": " << json_string(impl_->libraries[i].second);
  os << "}, \"layers_run_per_call\": " << impl_->steps.size() << ", \"layers\": [";
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    os << (li ? ", " : "") << "{\"name\": " << json_string(l.name) << ", \"kind\": " << json_string(to_string(l.kind))
       << ", \"tactic\": " << json_string(impl_->tactics[li]) << ", \"outputs\": [";
    for (size_t k = 0; k < l.outputs.size(); ++k) {
      const ir::TensorDesc& t = g.tensors[l.outputs[k]];
      os << (k ? ", " : "") << "{\"name\": " << json_string(t.name) << ", \"dtype\": " << json_string(to_string(t.dtype))
         << ", \"dims\": [";
      for (int d = 0; d < t.dims.rank(); ++d) os << (d ? ", " : "") << t.dims[d];
      os << "]}";
    }
    const std::string layout = layout_of(l);
    const Quantization q = quantization_of(g, l);
    os << "], \"precision\": "
       << (!q.precision.empty() ? json_string(q.precision)
           : l.outputs.empty()  ? "null"
                                : json_string(to_string(g.tensors[l.outputs[0]].dtype)))
       << ", \"scales\": " << (q.scales.empty() ? "null" : json_string(q.scales))
       << ", \"scale_source\": " << (q.source.empty() ? "null" : json_string(q.source))
       << ", \"layout\": " << (layout.empty() ? "null" : json_string(layout)) << ", \"origins\": [";
    for (size_t k = 0; k < l.origins.size(); ++k) os << (k ? ", " : "") << json_string(l.origins[k]);
    os << "], \"runs\": " << (runs[li] ? "true" : "false")
       << ", \"choice\": " << (choices[li].empty() ? "null" : json_string(choices[li])) << "}";
  }
  os << "]}";
  return os.str();
}

}  // namespace tensorforge
