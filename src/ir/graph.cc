// Graph construction and whole-graph validation.
#include "ir/graph.h"

#include <unordered_set>

#include "ir/op_registry.h"
#include "ir/sizes.h"

namespace tensorforge::ir {

bool plausible_size(const Dims& d, DataType t) {
  // Zero extents are skipped: an empty tensor with a huge extent would still make kernels loop over it.
  uint64_t bytes = element_size(t);
  for (int i = 0; i < d.rank(); ++i) {
    if (d[i] < 0) return false;
    if (d[i] == 0) continue;
    if (static_cast<uint64_t>(d[i]) > kMaxTensorBytes / bytes) return false;
    bytes *= static_cast<uint64_t>(d[i]);
  }
  return true;
}

namespace {
std::string with_suffix(const std::string& base, int n) { return base + "_" + std::to_string(n); }
}  // namespace

int Graph::add_tensor(const std::string& name, DataType dtype, const Dims& dims, int producer, int producer_out) {
  std::string n = name;
  for (int k = 1; by_name.count(n); ++k) n = with_suffix(name, k);
  TensorDesc t{n, dtype, dims, producer, producer_out};
  tensors.push_back(t);
  int id = static_cast<int>(tensors.size()) - 1;
  by_name[n] = id;
  return id;
}

std::string Graph::unique_layer_name(const std::string& base) {
  if (named_layers > layers.size()) {
    layer_names.clear();
    named_layers = 0;
  }
  for (; named_layers < layers.size(); ++named_layers) layer_names.insert(layers[named_layers].name);
  if (!base.empty() && !layer_names.count(base)) return base;
  std::string stem = base.empty() ? "layer" : base;
  for (int k = static_cast<int>(layers.size());; ++k)
    if (!layer_names.count(with_suffix(stem, k))) return with_suffix(stem, k);
}

namespace {

// Checks the inputs' count and ids, normalizes attributes and runs inference; returns the outputs.
// float8_e4m3fn is a storage type (include/tensorforge/types.h): only these kinds read or write it;
// any other layer meeting it is refused here, before a kernel could read its bytes as another type.
bool takes_float8(LayerKind k) {
  return k == LayerKind::kConstant || k == LayerKind::kCast || k == LayerKind::kQuantize ||
         k == LayerKind::kDequantize || k == LayerKind::kReshape || k == LayerKind::kQuantizedMatMul;
}

void check_float8(const Graph& g, const Layer& layer, const std::vector<std::pair<DataType, Dims>>& outputs,
                  const std::string& where) {
  if (takes_float8(layer.kind)) return;
  bool meets = false;
  for (int id : layer.inputs) meets = meets || (id >= 0 && is_float8(g.tensors[id].dtype));
  for (const auto& out : outputs) meets = meets || is_float8(out.first);
  if (meets)
    throw Error(ErrorCode::kInvalidNetwork, where + ": float8_e4m3fn tensors are storage only; cast, quantize, "
                                                    "dequantize, reshape and quantized_matmul take them, " +
                                                    std::string(to_string(layer.kind)) + " does not");
}

std::vector<std::pair<DataType, Dims>> check_and_infer(const Graph& g, Layer& layer) {
  const OpDef& def = op_def(layer.kind);
  const std::string where = "layer '" + layer.name + "' (" + to_string(layer.kind) + ")";
  int n = static_cast<int>(layer.inputs.size());
  int max_inputs = def.variadic ? 1 << 20 : static_cast<int>(def.input_names.size());
  if (n < def.min_inputs || n > max_inputs) {
    std::string expect = def.variadic ? "at least " + std::to_string(def.min_inputs)
                         : def.min_inputs == max_inputs
                             ? std::to_string(max_inputs)
                             : std::to_string(def.min_inputs) + " to " + std::to_string(max_inputs);
    throw Error(ErrorCode::kInvalidNetwork, where + ": takes " + expect + " inputs, got " + std::to_string(n));
  }
  for (int i = 0; i < n; ++i) {
    int id = layer.inputs[i];
    std::string slot = i < static_cast<int>(def.input_names.size()) ? def.input_names[i] : std::to_string(i);
    if (id < 0) {
      if (i < def.min_inputs) throw Error(ErrorCode::kInvalidNetwork, where + ": input '" + slot + "' is required");
      continue;
    }
    if (id >= static_cast<int>(g.tensors.size()))
      throw Error(ErrorCode::kInvalidNetwork, where + ": input '" + slot + "' refers to unknown tensor " + std::to_string(id));
  }
  layer.attrs = normalize_attributes(def, layer.attrs, layer.name);
  InferContext ctx(g, layer);
  int nb_out = def.nb_outputs ? def.nb_outputs(layer.attrs) : 1;
  ctx.outputs.resize(nb_out);
  def.infer(ctx);
  check_float8(g, layer, ctx.outputs, where);
  for (auto& [dt, d] : ctx.outputs) {
    for (int k = 0; k < d.rank(); ++k)
      if (d[k] < 0) throw Error(ErrorCode::kInternal, where + ": inferred a negative extent " + d.str());
    if (!plausible_size(d, dt))
      throw Error(ErrorCode::kInvalidNetwork, where + ": its output " + std::string(to_string(dt)) + d.str() +
                                                  " is too large (over the 64 TiB a tensor may hold, counting only non-zero extents)");
  }
  return ctx.outputs;
}

}  // namespace

int Graph::add_layer(LayerKind kind, const std::vector<int>& in, Attributes attrs, const std::string& name) {
  Layer layer{kind, unique_layer_name(name.empty() ? to_string(kind) : name), in, {}, std::move(attrs), {}};
  layer.origins = {layer.name};
  auto outs = check_and_infer(*this, layer);
  int index = static_cast<int>(layers.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    std::string tname = outs.size() == 1 ? layer.name : layer.name + ":" + std::to_string(i);
    layer.outputs.push_back(add_tensor(tname, outs[i].first, outs[i].second, index, static_cast<int>(i)));
  }
  layers.push_back(std::move(layer));
  return index;
}

void Graph::reinfer() {
  for (Layer& layer : layers) {
    const auto outs = check_and_infer(*this, layer);
    if (outs.size() != layer.outputs.size())
      throw Error(ErrorCode::kInternal, "layer '" + layer.name + "' changed its number of outputs");
    for (size_t o = 0; o < outs.size(); ++o) {
      TensorDesc& t = tensors[layer.outputs[o]];
      if (t.dtype != outs[o].first)
        throw Error(ErrorCode::kInternal, "layer '" + layer.name + "' changed the dtype of '" + t.name + "'");
      t.dims = outs[o].second;
    }
  }
}

void Graph::rename(int id, const std::string& name) {
  if (name.empty() || tensors[id].name == name) return;
  if (by_name.count(name))
    throw Error(ErrorCode::kInvalidArgument, "cannot rename tensor '" + tensors[id].name + "' to '" + name +
                                                 "': another tensor already has that name");
  by_name.erase(tensors[id].name);
  tensors[id].name = name;
  by_name[name] = id;
}

void Graph::validate() const {
  auto bad = [](const std::string& m) { throw Error(ErrorCode::kInvalidNetwork, m); };
  int nt = static_cast<int>(tensors.size());
  std::vector<char> defined(nt, 0);
  std::unordered_set<std::string> names, layer_names;
  for (const TensorDesc& t : tensors)
    if (!names.insert(t.name).second) bad("two tensors are named '" + t.name + "'");
  for (int id : inputs) {
    if (id < 0 || id >= nt) bad("network input refers to unknown tensor " + std::to_string(id));
    if (tensors[id].producer != -1) bad("network input '" + tensors[id].name + "' has a producing layer");
    if (defined[id]) bad("tensor '" + tensors[id].name + "' is declared as an input twice");
    defined[id] = 1;
  }
  for (size_t li = 0; li < layers.size(); ++li) {
    Layer copy = layers[li];
    if (!layer_names.insert(copy.name).second) bad("two layers are named '" + copy.name + "'");
    for (int id : copy.inputs)
      if (id >= nt || (id >= 0 && !defined[id]))
        bad("layer '" + copy.name + "' reads a tensor that no earlier layer or input defines");
    auto outs = check_and_infer(*this, copy);
    if (outs.size() != copy.outputs.size())
      bad("layer '" + copy.name + "' has " + std::to_string(copy.outputs.size()) + " outputs, its kind gives " +
          std::to_string(outs.size()));
    for (size_t o = 0; o < outs.size(); ++o) {
      int id = copy.outputs[o];
      if (id < 0 || id >= nt || defined[id]) bad("layer '" + copy.name + "' has an invalid or reused output tensor");
      const TensorDesc& t = tensors[id];
      if (t.producer != static_cast<int>(li) || t.producer_out != static_cast<int>(o))
        bad("tensor '" + t.name + "' does not name layer '" + copy.name + "' as its producer");
      if (t.dtype != outs[o].first || t.dims != outs[o].second)
        bad("tensor '" + t.name + "' is recorded as " + to_string(t.dtype) + t.dims.str() + " but layer '" +
            copy.name + "' gives " + to_string(outs[o].first) + outs[o].second.str());
      defined[id] = 1;
    }
  }
  check_sizes(*this);
  if (outputs.empty()) bad("the network has no outputs (call mark_output)");
  for (int id : outputs)
    if (id < 0 || id >= nt || !defined[id]) bad("a network output refers to an undefined tensor");
}

}  // namespace tensorforge::ir
