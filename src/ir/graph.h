// The network's internal form: tensors with inferred shapes, layers in topological order.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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
};

/// The whole network. Layers are stored in a valid execution (topological) order.
struct Graph {
  std::vector<TensorDesc> tensors;
  std::vector<Layer> layers;
  std::vector<int> inputs;   ///< Network input tensor ids.
  std::vector<int> outputs;  ///< Network output tensor ids.
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
  /// Renames tensor `id` (checks uniqueness).
  void rename(int id, const std::string& name);
};

}  // namespace tensorforge::ir

namespace tensorforge::ir {

/// Typed attribute lookups for code past inference (kernels, passes); throw kInternal if absent.
int64_t attr_int(const Layer& l, const std::string& name);
double attr_float(const Layer& l, const std::string& name);
const std::string& attr_string(const Layer& l, const std::string& name);
const std::vector<int64_t>& attr_ints(const Layer& l, const std::string& name);
const std::vector<double>& attr_floats(const Layer& l, const std::string& name);
const Weights& attr_weights(const Layer& l, const std::string& name);

}  // namespace tensorforge::ir
