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
#include <utility>
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
  kPointwise,  ///< A fused chain of pointwise layers (made by the optimizer; docs/layers.md).
  kAsStrided,  ///< A strided view of the input, copied (made by the optimizer from chains of views).
  kQuantize,    ///< Float to int8/uint8 with a scale and zero point (docs/layers.md, docs/quantization.md).
  kDequantize,  ///< int8/uint8 back to float with a scale and zero point.
  kQuantizedMatMul,  ///< int8 x int8 matrix product, int32 accumulation, float epilogue (made by the optimizer).
  kQuantizedConvolution,  ///< int8 x int8 2-D convolution, int32 accumulation, float epilogue (made by the optimizer).
};

/// Number of LayerKind values.
constexpr int kNumLayerKinds = static_cast<int>(LayerKind::kQuantizedConvolution) + 1;

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

/// A handle to a tensor of a Network. It shares ownership of the network's graph, so it stays
/// valid (its name, shape and dtype readable) even after the Network object is gone.
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
  Tensor(std::shared_ptr<ir::Graph> g, int32_t id) : graph_(std::move(g)), id_(id) {}
  std::shared_ptr<ir::Graph> graph_;
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
  /// Declares a named size for dynamic input dims (docs/dynamic_shapes.md): values min..max, the
  /// network's shapes inferred at `opt`. Throws Error(kInvalidArgument) unless the name is a new
  /// identifier (not max/min) and 0 <= min <= opt <= max.
  void add_size(const std::string& name, int64_t min, int64_t opt, int64_t max);
  /// An input whose dims are extents ("3") or names of sizes declared by add_size ("batch"); its
  /// shape is the sizes' opt until the network is specialized.
  Tensor add_dynamic_input(const std::string& name, DataType dtype, const std::vector<std::string>& dims);
  /// This network with its sizes at `values` (each within its range): a static network that builds
  /// like any other, every layer inferred again. Throws Error(kInvalidArgument) for a missing or
  /// out-of-range value, Error(kInvalidNetwork) naming the values when a layer rejects their shapes.
  /// Builder::build refuses a network with sizes; Builder::build_dynamic builds one, a plan per shape.
  Network specialize(const std::map<std::string, int64_t>& values) const;
  /// Marks `t` as an output; `name` renames it (default: keep its name).
  void mark_output(Tensor t, const std::string& name = "");

  /// Adds a layer of any kind; absent optional inputs are invalid Tensors. Returns its outputs.
  std::vector<Tensor> add_layer(LayerKind kind, const std::vector<Tensor>& inputs, const Attributes& attrs = {},
                                const std::string& name = "");

  /// add_layer with integer or integer-list attributes written with named sizes
  /// (docs/dynamic_shapes.md): each entry of `sizes` an attribute, each string an integer or an
  /// expression over the sizes ("batch*2", "(seq - 1)//2 + 1"; one string for an attribute that
  /// `attrs` gives as an integer); the layer is inferred with their values at the sizes' opt and
  /// evaluated again for each binding. Throws Error(kInvalidArgument) naming the layer and the
  /// attribute for a bad expression or an undeclared size.
  std::vector<Tensor> add_sized_layer(LayerKind kind, const std::vector<Tensor>& inputs, const Attributes& attrs,
                                      const std::map<std::string, std::vector<std::string>>& sizes,
                                      const std::string& name = "");

  /// A constant tensor holding `w`.
  Tensor add_constant(const Weights& w, const std::string& name = "");
  /// N-d convolution (1 to 3 spatial dims); weight [Cout, Cin/groups, *kernel]; bias optional;
  /// activation "none" or "relu" (applied after the bias).
  Tensor add_convolution(Tensor x, Tensor weight, Tensor bias, const std::vector<int64_t>& stride = {},
                         const std::vector<int64_t>& padding = {}, const std::vector<int64_t>& dilation = {},
                         int64_t groups = 1, const std::string& name = "", const std::string& activation = "none");
  /// Elementwise binary op with numpy broadcasting: "add", "sub", "mul", "div", "pow", "lt", "logical_and", ...
  Tensor add_elementwise(Tensor a, Tensor b, const std::string& op, const std::string& name = "");
  /// Unary op: "abs", "neg", "exp", "log", "sqrt", "erf", "floor", "not", "isnan", ...
  Tensor add_unary(Tensor x, const std::string& op, const std::string& name = "");
  /// Activation: "relu", "sigmoid", "gelu_erf", "silu", "leaky_relu" (alpha), "clip" (alpha=min, beta=max), ...
  Tensor add_activation(Tensor x, const std::string& op, double alpha = 0.0, double beta = 0.0,
                        const std::string& name = "");
  /// Matrix product over the last two dims, batch dims broadcast; either operand optionally transposed;
  /// then bias ([N], optional) added to every row and `activation` ("none", "relu", "gelu", "gelu_tanh").
  Tensor add_matmul(Tensor a, Tensor b, bool transpose_a = false, bool transpose_b = false, Tensor bias = Tensor(),
                    const std::string& activation = "none", const std::string& name = "");
  /// Reshape to `shape`; one extent may be -1.
  Tensor add_reshape(Tensor x, const std::vector<int64_t>& shape, const std::string& name = "");
  /// Permutes the dimensions: output dim i is input dim perm[i].
  Tensor add_transpose(Tensor x, const std::vector<int64_t>& perm, const std::string& name = "");
  /// Converts to `dtype`.
  Tensor add_cast(Tensor x, DataType dtype, const std::string& name = "");
  /// Transposed convolution; weight [Cin, Cout/groups, *kernel].
  Tensor add_deconvolution(Tensor x, Tensor weight, Tensor bias, const std::vector<int64_t>& stride = {},
                           const std::vector<int64_t>& padding = {}, const std::vector<int64_t>& output_padding = {},
                           const std::vector<int64_t>& dilation = {}, int64_t groups = 1, const std::string& name = "");
  /// Max ("max") or average ("avg") pooling; stride defaults to the kernel.
  Tensor add_pooling(Tensor x, const std::string& mode, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& stride = {}, const std::vector<int64_t>& padding = {},
                     bool ceil_mode = false, bool count_include_pad = true, const std::string& name = "");
  /// Adaptive average ("avg") or max ("max") pooling to `output_size`.
  Tensor add_adaptive_pooling(Tensor x, const std::string& mode, const std::vector<int64_t>& output_size,
                              const std::string& name = "");
  /// Pads every dim (`pads`: all begins, then all ends); mode "constant", "reflect" or "replicate".
  Tensor add_pad(Tensor x, const std::vector<int64_t>& pads, const std::string& mode = "constant", double value = 0.0,
                 const std::string& name = "");
  /// Resizes the spatial dims to `sizes`; mode "nearest" or "linear".
  Tensor add_resize(Tensor x, const std::vector<int64_t>& sizes, const std::string& mode = "nearest",
                    bool align_corners = false, const std::string& name = "");
  /// Quantizes float x to `dtype` (kInt8 or kUInt8): clamp(round_half_even(x / scale) + zero_point,
  /// qmin, qmax); scale (float32) and zero_point (int32, optional: 0) broadcast to x (a per-channel
  /// scale has the channel's extent at its axis and 1 elsewhere); qmin/qmax default to the dtype's
  /// range.
  Tensor add_quantize(Tensor x, Tensor scale, Tensor zero_point, DataType dtype, int64_t qmin = INT64_MIN,
                      int64_t qmax = INT64_MAX, const std::string& name = "");
  /// Dequantizes int8/uint8 q to float `dtype`: (q - zero_point) * scale, scale and zero_point as
  /// for add_quantize.
  Tensor add_dequantize(Tensor q, Tensor scale, Tensor zero_point, DataType dtype = DataType::kFloat32,
                        const std::string& name = "");
  /// int8 or uint8 a [..., M, K] (a float a: weight only) times int8 b [K, N] ([N, K] with
  /// transpose_b), accumulated in int32 (float32 for a float a), then act(acc * scale[n] + bias[n] +
  /// residual) in float32 rounded to `dtype`; scale and bias float32 [N] (bias optional), residual
  /// (optional) of the output's dtype and shape; activation "none", "relu", "gelu" or "gelu_tanh".
  Tensor add_quantized_matmul(Tensor a, Tensor b, Tensor scale, Tensor bias = Tensor(), bool transpose_b = false,
                              const std::string& activation = "none", DataType dtype = DataType::kFloat32,
                              const std::string& name = "", Tensor residual = Tensor());
  /// 2-D convolution of int8 x [N, C, H, W] ([N, H, W, C] with layout "nhwc") by an int8 weight
  /// [Cout, C / groups, KH, KW] ([Cout, KH, KW, C / groups]), accumulated in int32, then
  /// act(acc * scale[k] + bias[k] + residual * residual_scale) in float32 rounded to `dtype` (int8:
  /// half to even, saturated); scale and bias float32 [Cout] (bias optional); the residual
  /// (optional) has the output's shape and is int8 with residual_scale (one float32 value) or of the
  /// output's dtype; activation "none" or "relu" (docs/layers.md).
  Tensor add_quantized_convolution(Tensor x, Tensor weight, Tensor scale, Tensor bias = Tensor(),
                                   const std::vector<int64_t>& stride = {}, const std::vector<int64_t>& padding = {},
                                   const std::string& activation = "none", const std::string& layout = "nchw",
                                   DataType dtype = DataType::kFloat32, const std::string& name = "",
                                   Tensor residual = Tensor(), Tensor residual_scale = Tensor());
  /// PReLU: x where positive, x * slope elsewhere; slope broadcasts to x.
  Tensor add_prelu(Tensor x, Tensor slope, const std::string& name = "");
  /// where(condition, a, b) with broadcasting.
  Tensor add_select(Tensor condition, Tensor a, Tensor b, const std::string& name = "");
  /// Scaled dot-product attention; mask optional (invalid Tensor), scale 0 means 1/sqrt(head dim).
  Tensor add_attention(Tensor query, Tensor key, Tensor value, Tensor mask = Tensor(), bool causal = false,
                       double scale = 0.0, const std::string& name = "");
  /// Softmax (or log-softmax) along `axis`.
  Tensor add_softmax(Tensor x, int64_t axis = -1, bool log = false, const std::string& name = "");
  /// Inference batch norm over channel dim 1; weight and bias optional.
  Tensor add_batch_norm(Tensor x, Tensor mean, Tensor var, Tensor weight, Tensor bias, double eps = 1e-5,
                        const std::string& name = "");
  /// Layer norm over the last `normalized_rank` dims; weight and bias optional.
  Tensor add_layer_norm(Tensor x, int64_t normalized_rank, Tensor weight, Tensor bias, double eps = 1e-5,
                        const std::string& name = "");
  /// Group norm with `num_groups` groups; weight and bias optional.
  Tensor add_group_norm(Tensor x, int64_t num_groups, Tensor weight, Tensor bias, double eps = 1e-5,
                        const std::string& name = "");
  /// RMS norm over the last `normalized_rank` dims; eps -1 means the dtype's machine epsilon.
  Tensor add_rms_norm(Tensor x, int64_t normalized_rank, Tensor weight, double eps = -1.0,
                      const std::string& name = "");
  /// Reduction "sum", "mean", "max", "min", "prod", "any" or "all" over `axes` (empty: all).
  Tensor add_reduce(Tensor x, const std::string& op, const std::vector<int64_t>& axes = {}, bool keepdim = false,
                    const std::string& name = "");
  /// "argmax" or "argmin" along `axis` (int64 result).
  Tensor add_arg_reduce(Tensor x, const std::string& op, int64_t axis, bool keepdim = false,
                        const std::string& name = "");
  /// Cumulative sum along `axis`.
  Tensor add_cumsum(Tensor x, int64_t axis, const std::string& name = "");
  /// Top-k along `axis`: returns {values, int64 indices}.
  std::vector<Tensor> add_topk(Tensor x, int64_t k, int64_t axis = -1, bool largest = true, bool sorted = true,
                               const std::string& name = "");
  /// Broadcasts x to `shape` (-1 keeps a dim).
  Tensor add_expand(Tensor x, const std::vector<int64_t>& shape, const std::string& name = "");
  /// Concatenates along `axis`.
  Tensor add_concat(const std::vector<Tensor>& inputs, int64_t axis, const std::string& name = "");
  /// Splits along `axis` into pieces of `sizes`.
  std::vector<Tensor> add_split(Tensor x, int64_t axis, const std::vector<int64_t>& sizes,
                                const std::string& name = "");
  /// Python-style slicing of `axes` (steps default to 1).
  Tensor add_slice(Tensor x, const std::vector<int64_t>& axes, const std::vector<int64_t>& starts,
                   const std::vector<int64_t>& ends, const std::vector<int64_t>& steps = {},
                   const std::string& name = "");
  /// The view of x's contiguous elements with this shape, element strides (>= 0) and offset, copied
  /// (PyTorch's as_strided): out[i] = x[offset + sum_k i_k * strides[k]].
  Tensor add_as_strided(Tensor x, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                        int64_t offset = 0, const std::string& name = "");
  /// Gather along `axis`: mode "take" (index_select, embedding) or "elements" (torch.gather).
  Tensor add_gather(Tensor x, Tensor index, int64_t axis = 0, const std::string& mode = "take",
                    const std::string& name = "");
  /// Scatter src into x at index along `axis`; reduce "none", "add", "mul", "max" or "min".
  Tensor add_scatter(Tensor x, Tensor index, Tensor src, int64_t axis = 0, const std::string& reduce = "none",
                     const std::string& name = "");
  /// A tensor of `shape` and `dtype` filled with `value`.
  Tensor add_fill(const std::vector<int64_t>& shape, DataType dtype, double value, const std::string& name = "");
  /// [start, start + step, ...] with `size` elements of `dtype`.
  Tensor add_arange(int64_t size, double start, double step, DataType dtype, const std::string& name = "");

  /// A fused pointwise layer: `body` is a network in text form (docs/printer.md) of elementwise,
  /// unary, activation, cast and select layers over float and bool tensors, whose inputs are
  /// `inputs` in order; returns its outputs. The optimizer makes these; docs/layers.md has the rules.
  std::vector<Tensor> add_pointwise(const std::vector<Tensor>& inputs, const std::string& body,
                                    const std::string& name = "");

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
  explicit Network(std::shared_ptr<ir::Graph> graph) : graph_(std::move(graph)) {}
  std::shared_ptr<ir::Graph> graph_;  // shared with the Tensor handles
};

}  // namespace tensorforge
