// Network: the graph of coarse layers a user builds and the builder compiles into an engine.
//
// Shapes and dtypes are inferred as each layer is added, so a layer that does not fit its inputs
// is reported at once, by name, with the shapes and dtypes it was given. docs/layers.md describes
// every layer kind: its inputs, attributes, output shapes and accepted dtypes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tensorforge/types.h"

namespace tensorforge {

namespace ir {
struct Graph;
}

/// The coarse layer kinds the engine knows.
enum class LayerKind : uint8_t {
  kConvolution, kDeconvolution, kPooling, kAdaptivePooling, kMatMul, kElementwise, kUnary,
  kActivation, kPRelu, kSoftmax, kBatchNorm, kLayerNorm, kGroupNorm, kRMSNorm, kReduce, kArgReduce,
  kReshape, kTranspose, kExpand, kConcat, kSplit, kSlice, kGather, kScatter, kSelect, kCast,
  kConstant, kFill, kArange, kPad, kResize, kTopK, kCumSum, kAttention,
};

/// Number of LayerKind values.
constexpr int kNumLayerKinds = static_cast<int>(LayerKind::kAttention) + 1;

/// Snake-case name of a layer kind ("convolution", "batch_norm", ...).
const char* to_string(LayerKind k);

/// Parses a name produced by to_string(LayerKind); throws Error for an unknown name.
LayerKind parse_layer_kind(const std::string& name);

/// Immutable, shared bytes of a constant tensor (weights), with their dtype and shape.
class Weights {
 public:
  /// Empty weights (rank 0, no data).
  Weights() = default;
  /// Copies `dims.volume() * element_size(dtype)` bytes from `data`.
  Weights(DataType dtype, Dims dims, const void* data);
  /// Element type.
  DataType dtype() const { return dtype_; }
  /// Shape.
  const Dims& dims() const { return dims_; }
  /// The bytes (16-byte aligned); nullptr for empty weights.
  const void* data() const;
  /// Number of bytes.
  size_t size_bytes() const;

 private:
  struct Buffer;
  DataType dtype_ = DataType::kFloat32;
  Dims dims_;
  std::shared_ptr<const Buffer> bytes_;
};

/// One attribute value: an integer, a float, a string, lists of those, or weights.
using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>, Weights>;

/// The named parameters of a layer; which names a kind takes is in docs/layers.md.
using Attributes = std::map<std::string, AttrValue>;

/// A handle to a tensor of a Network; valid while the network lives.
class Tensor {
 public:
  /// An invalid handle, used for an absent optional input.
  Tensor() = default;
  /// False for the absent-input handle.
  bool valid() const { return graph_ != nullptr; }
  /// Name (unique in the network).
  std::string name() const;
  /// Inferred shape.
  Dims dims() const;
  /// Inferred element type.
  DataType dtype() const;
  /// Index of the tensor in its network.
  int32_t id() const { return id_; }

 private:
  Tensor(ir::Graph* g, int32_t id) : graph_(g), id_(id) {}
  ir::Graph* graph_ = nullptr;
  int32_t id_ = -1;
  friend class Network;
};

/// A graph of layers over tensors, built by the add_* calls in topological order.
class Network {
 public:
  /// An empty network.
  Network();
  ~Network();
  /// Networks are moved, not copied.
  Network(Network&&) noexcept;
  /// Move assignment.
  Network& operator=(Network&&) noexcept;

  /// Declares an input tensor the caller will provide at execution time.
  Tensor add_input(const std::string& name, DataType dtype, const Dims& dims);
  /// Marks `t` as an output; `name` renames it (default: keep its name).
  void mark_output(Tensor t, const std::string& name = "");

  /// Adds a layer of any kind; absent optional inputs are invalid Tensors. Returns its outputs.
  std::vector<Tensor> add_layer(LayerKind kind, const std::vector<Tensor>& inputs, const Attributes& attrs = {},
                                const std::string& name = "");

  /// A constant tensor holding `w`.
  Tensor add_constant(const Weights& w, const std::string& name = "");
  /// N-d convolution (1 to 3 spatial dims); weight [Cout, Cin/groups, *kernel]; bias optional.
  Tensor add_convolution(Tensor x, Tensor weight, Tensor bias, const std::vector<int64_t>& stride = {},
                         const std::vector<int64_t>& padding = {}, const std::vector<int64_t>& dilation = {},
                         int64_t groups = 1, const std::string& name = "");
  /// Elementwise binary op with numpy broadcasting: "add", "sub", "mul", "div", "pow", "lt", "logical_and", ...
  Tensor add_elementwise(Tensor a, Tensor b, const std::string& op, const std::string& name = "");
  /// Unary op: "abs", "neg", "exp", "log", "sqrt", "erf", "floor", "not", "isnan", ...
  Tensor add_unary(Tensor x, const std::string& op, const std::string& name = "");
  /// Activation: "relu", "sigmoid", "gelu_erf", "silu", "leaky_relu" (alpha), "clip" (alpha=min, beta=max), ...
  Tensor add_activation(Tensor x, const std::string& op, double alpha = 0.0, double beta = 0.0,
                        const std::string& name = "");
  /// Matrix product over the last two dims, batch dims broadcast; either operand optionally transposed.
  Tensor add_matmul(Tensor a, Tensor b, bool transpose_a = false, bool transpose_b = false,
                    const std::string& name = "");
  /// Reshape to `shape`; one extent may be -1.
  Tensor add_reshape(Tensor x, const std::vector<int64_t>& shape, const std::string& name = "");
  /// Permutes the dimensions: output dim i is input dim perm[i].
  Tensor add_transpose(Tensor x, const std::vector<int64_t>& perm, const std::string& name = "");
  /// Converts to `dtype`.
  Tensor add_cast(Tensor x, DataType dtype, const std::string& name = "");

  /// Number of tensors.
  int nb_tensors() const;
  /// Number of layers.
  int nb_layers() const;
  /// The network inputs, in declaration order.
  std::vector<Tensor> inputs() const;
  /// The network outputs, in marking order.
  std::vector<Tensor> outputs() const;
  /// Tensor by name; throws Error if absent.
  Tensor tensor(const std::string& name) const;
  /// Re-runs shape/dtype inference and structural checks over the whole network; throws on the first problem.
  void validate() const;
  /// Text form, one layer per line (see docs/printer.md).
  std::string to_text() const;

  /// The internal graph (for the builder; not part of the stable API).
  const ir::Graph& graph() const { return *graph_; }

 private:
  std::unique_ptr<ir::Graph> graph_;
};

}  // namespace tensorforge
