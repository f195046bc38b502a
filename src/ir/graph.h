// The network's internal form: tensors with inferred shapes, layers in topological order.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/sym_expr.h"
#include "tensorforge/network.h"
#include "tensorforge/types.h"

namespace tensorforge::ir {

/// Largest tensor a network may hold, in bytes (64 TiB): larger sizes are errors, never wrapped numbers.
constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 46;

/// True when the non-zero extents of `d` times the element size of `t` make at most kMaxTensorBytes.
bool plausible_size(const Dims& d, DataType t);

/// One tensor: its name, inferred dtype and shape, and who produces it.
struct TensorDesc {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;
  int producer = -1;     ///< Index of the producing layer; -1 for a network input.
  int producer_out = 0;  ///< Which output of the producer.
};

/// One layer: kind, name, input tensor ids (-1 = absent optional input), output ids, attributes,
/// and the names of the network's layers it computes (itself when added by a user; the layers a
/// pass folded into it; none when the optimizer inserted it, as a layout conversion).
struct Layer {
  LayerKind kind;
  std::string name;
  std::vector<int> inputs;
  std::vector<int> outputs;
  Attributes attrs;
  std::vector<std::string> origins;
  /// Integer-list attributes written with named sizes (docs/dynamic_shapes.md), by name: one
  /// expression an entry; attrs holds their values at the sizes' opt.
  std::map<std::string, std::vector<SymExpr>> size_attrs;
};

/// A named size of a network with dynamic input dims (docs/dynamic_shapes.md): the values it may
/// take, min..max, and the one the network's shapes are inferred (and its tactics tuned) at.
struct SizeRange {
  int64_t min = 1, opt = 1, max = 1;
};

/// The whole network. Layers are stored in a valid execution (topological) order.
struct Graph {
  std::vector<TensorDesc> tensors;
  std::vector<Layer> layers;
  std::vector<int> inputs;   ///< Network input tensor ids.
  std::vector<int> outputs;  ///< Network output tensor ids.
  /// Named sizes, by name (none for a static network). Tensors hold their shapes at the sizes' opt.
  std::map<std::string, SizeRange> sizes;
  /// The inputs with dynamic dims, by input name: each dim's size name, "" where the dim is static.
  std::map<std::string, std::vector<std::string>> input_sizes;
  std::unordered_map<std::string, int> by_name;
  /// Cache of unique_layer_name: the names of layers[0, named_layers) (layers are only appended;
  /// a graph whose layer list shrank is re-read).
  std::unordered_set<std::string> layer_names;
  size_t named_layers = 0;

  /// Adds a tensor with a unique name (a suffix is appended to a taken one); returns its id.
  int add_tensor(const std::string& name, DataType dtype, const Dims& dims, int producer, int producer_out);
  /// A layer name not yet used, built from `base` (amortized O(1): see layer_names).
  std::string unique_layer_name(const std::string& base);
  /// Appends a layer: checks inputs exist, fills attribute defaults, infers outputs. Returns its index.
  int add_layer(LayerKind kind, const std::vector<int>& inputs, Attributes attrs, const std::string& name);
  /// Re-runs inference and structural checks over every layer (for a deserialized graph).
  void validate() const;
  /// Infers every layer's outputs again, in order, recording the shapes it gives (after inputs were
  /// resized: specialize in sizes.h). Throws what inference throws; dtypes must not change.
  void reinfer();
  /// Renames tensor `id` (checks uniqueness).
  void rename(int id, const std::string& name);
};

}  // namespace tensorforge::ir

namespace tensorforge::ir {

/// Typed attribute lookups for code past inference (kernels, passes); throw kInternal if absent.
int64_t attr_int(const Layer& l, const std::string& name);
double attr_float(const Layer& l, const std::string& name);
const std::string& attr_string(const Layer& l, const std::string& name);
/// The string attribute `name`, or `fallback` where the layer has none (a graph parsed from text
/// that omits an optional attribute, an engine file written before it existed).
std::string attr_string_or(const Layer& l, const std::string& name, const std::string& fallback);
const std::vector<int64_t>& attr_ints(const Layer& l, const std::string& name);
const std::vector<double>& attr_floats(const Layer& l, const std::string& name);
const Weights& attr_weights(const Layer& l, const std::string& name);

}  // namespace tensorforge::ir
