// The public Network, Tensor and Weights classes over the internal Graph.
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>

#include "ir/graph.h"
#include "ir/printer.h"
#include "ir/sizes.h"

namespace tensorforge {

struct Weights::Buffer {
  explicit Buffer(size_t n) : size_(n), data_(static_cast<uint8_t*>(::operator new(n ? n : 1, std::align_val_t(64)))) {}
  ~Buffer() { ::operator delete(data_, std::align_val_t(64)); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t size_;
  uint8_t* data_;
};

Weights::Weights(DataType dtype, Dims dims, const void* data) : dtype_(dtype), dims_(dims) {
  for (int i = 0; i < dims.rank(); ++i)
    if (dims[i] < 0) throw Error(ErrorCode::kInvalidArgument, "weights shape " + dims.str() + " has a negative extent");
  size_t n = static_cast<size_t>(dims.volume()) * element_size(dtype);
  auto buf = std::make_shared<Buffer>(n);
  if (n) {
    if (!data) throw Error(ErrorCode::kInvalidArgument, "weights of shape " + dims.str() + " given no data");
    std::memcpy(buf->data_, data, n);
  }
  bytes_ = std::move(buf);
}

const void* Weights::data() const { return bytes_ ? bytes_->data() : nullptr; }
size_t Weights::size_bytes() const { return bytes_ ? bytes_->size() : 0; }

std::string Tensor::name() const { return graph_->tensors.at(id_).name; }
Dims Tensor::dims() const { return graph_->tensors.at(id_).dims; }
DataType Tensor::dtype() const { return graph_->tensors.at(id_).dtype; }

Network::Network() : graph_(std::make_shared<ir::Graph>()) {}
Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

Tensor Network::add_input(const std::string& name, DataType dtype, const Dims& dims) {
  if (name.empty()) throw Error(ErrorCode::kInvalidArgument, "add_input: the input needs a name");
  if (graph_->by_name.count(name))
    throw Error(ErrorCode::kInvalidArgument, "add_input: a tensor named '" + name + "' already exists");
  if (static_cast<int>(dtype) >= kNumDataTypes) throw Error(ErrorCode::kInvalidArgument, "add_input: invalid dtype");
  for (int i = 0; i < dims.rank(); ++i)
    if (dims[i] < 0)
      throw Error(ErrorCode::kInvalidArgument, "add_input '" + name + "': shape " + dims.str() +
                                                   " has a negative extent (dynamic shapes are not supported yet)");
  if (!ir::plausible_size(dims, dtype))
    throw Error(ErrorCode::kInvalidArgument, "add_input '" + name + "': shape " + dims.str() + " is too large");
  int id = graph_->add_tensor(name, dtype, dims, -1, 0);
  graph_->inputs.push_back(id);
  return Tensor(graph_, id);
}

void Network::add_size(const std::string& name, int64_t min, int64_t opt, int64_t max) {
  const std::string where = "add_size '" + name + "'";
  try {
    ir::SymExpr::symbol(name);
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument, where + ": " + e.what());
  }
  if (graph_->sizes.count(name)) throw Error(ErrorCode::kInvalidArgument, where + ": the size already exists");
  if (min < 0 || min > opt || opt > max)
    throw Error(ErrorCode::kInvalidArgument, where + ": needs 0 <= min <= opt <= max, got min " + std::to_string(min) +
                                                 ", opt " + std::to_string(opt) + ", max " + std::to_string(max));
  graph_->sizes[name] = {min, opt, max};
}

Tensor Network::add_dynamic_input(const std::string& name, DataType dtype, const std::vector<std::string>& dims) {
  std::vector<int64_t> extents;
  std::vector<std::string> named;
  bool dynamic = false;
  for (size_t k = 0; k < dims.size(); ++k) {
    const std::string& d = dims[k];
    const auto size = graph_->sizes.find(d);
    if (size != graph_->sizes.end()) {
      extents.push_back(size->second.opt);
      named.push_back(d);
      dynamic = true;
      continue;
    }
    char* end = nullptr;
    const long long v = d.empty() ? -1 : std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || *end != '\0' || v < 0)
      throw Error(ErrorCode::kInvalidArgument, "add_dynamic_input '" + name + "': dim " + std::to_string(k) + " is '" +
                                                   d + "', neither an extent nor a size declared by add_size");
    extents.push_back(v);
    named.push_back("");
  }
  Tensor t = add_input(name, dtype, Dims(extents));
  if (dynamic) graph_->input_sizes[t.name()] = named;
  return t;
}

Network Network::specialize(const std::map<std::string, int64_t>& values) const {
  return Network(std::make_shared<ir::Graph>(ir::specialize(*graph_, values)));
}

void Network::mark_output(Tensor t, const std::string& name) {
  if (!t.valid() || t.graph_ != graph_)
    throw Error(ErrorCode::kInvalidArgument, "mark_output: the tensor does not belong to this network");
  for (int id : graph_->outputs)
    if (id == t.id_)
      throw Error(ErrorCode::kInvalidArgument, "mark_output: '" + t.name() + "' is already an output");
  graph_->rename(t.id_, name);
  graph_->outputs.push_back(t.id_);
}

std::vector<Tensor> Network::add_layer(LayerKind kind, const std::vector<Tensor>& inputs, const Attributes& attrs,
                                       const std::string& name) {
  std::vector<int> ids;
  for (const Tensor& t : inputs) {
    if (t.valid() && t.graph_ != graph_)
      throw Error(ErrorCode::kInvalidArgument, std::string("add_layer(") + to_string(kind) + (name.empty() ? "" : " '" + name + "'") +
                                                   "): an input tensor belongs to another network");
    ids.push_back(t.valid() ? t.id_ : -1);
  }
  int li = graph_->add_layer(kind, ids, attrs, name);
  std::vector<Tensor> outs;
  for (int id : graph_->layers[li].outputs) outs.push_back(Tensor(graph_, id));
  return outs;
}

std::vector<Tensor> Network::add_sized_layer(LayerKind kind, const std::vector<Tensor>& inputs, const Attributes& attrs,
                                             const std::map<std::string, std::vector<std::string>>& sizes,
                                             const std::string& name) {
  ir::SymBindings opt;
  for (const auto& [size, r] : graph_->sizes) opt[size] = r.opt;
  Attributes all = attrs;
  std::map<std::string, std::vector<ir::SymExpr>> exprs;
  for (const auto& [attr, texts] : sizes) {
    const std::string where = std::string("add_sized_layer(") + to_string(kind) +
                              (name.empty() ? "" : " '" + name + "'") + ") attribute " + attr;
    std::vector<int64_t> values;
    for (const std::string& text : texts) {
      try {
        const ir::SymExpr e = ir::SymExpr::parse(text);
        std::set<std::string> used;
        e.symbols(&used);
        for (const std::string& u : used)
          if (!graph_->sizes.count(u)) throw Error(ErrorCode::kInvalidArgument, "no size named " + u);
        values.push_back(e.evaluate(opt));
        exprs[attr].push_back(e);
      } catch (const Error& e) {
        throw Error(ErrorCode::kInvalidArgument, where + ": " + e.what());
      }
    }
    const auto given = attrs.find(attr);
    if (given != attrs.end() && std::holds_alternative<int64_t>(given->second)) {  // a scalar attribute
      if (values.size() != 1) throw Error(ErrorCode::kInvalidArgument, where + ": an integer takes one expression");
      all[attr] = values[0];
    } else {
      all[attr] = values;
    }
  }
  std::vector<Tensor> outs = add_layer(kind, inputs, all, name);
  graph_->layers.back().size_attrs = std::move(exprs);
  return outs;
}

Tensor Network::add_constant(const Weights& w, const std::string& name) {
  return add_layer(LayerKind::kConstant, {}, {{"value", w}}, name)[0];
}

Tensor Network::add_convolution(Tensor x, Tensor weight, Tensor bias, const std::vector<int64_t>& stride,
                                const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
                                int64_t groups, const std::string& name, const std::string& activation) {
  return add_layer(LayerKind::kConvolution, {x, weight, bias},
                   {{"stride", stride},
                    {"padding", padding},
                    {"dilation", dilation},
                    {"groups", groups},
                    {"activation", activation}},
                   name)[0];
}

Tensor Network::add_elementwise(Tensor a, Tensor b, const std::string& op, const std::string& name) {
  return add_layer(LayerKind::kElementwise, {a, b}, {{"op", op}}, name)[0];
}

Tensor Network::add_unary(Tensor x, const std::string& op, const std::string& name) {
  return add_layer(LayerKind::kUnary, {x}, {{"op", op}}, name)[0];
}

Tensor Network::add_activation(Tensor x, const std::string& op, double alpha, double beta, const std::string& name) {
  return add_layer(LayerKind::kActivation, {x}, {{"op", op}, {"alpha", alpha}, {"beta", beta}}, name)[0];
}

Tensor Network::add_matmul(Tensor a, Tensor b, bool transpose_a, bool transpose_b, Tensor bias,
                           const std::string& activation, const std::string& name) {
  return add_layer(LayerKind::kMatMul, {a, b, bias},
                   {{"transpose_a", int64_t(transpose_a)}, {"transpose_b", int64_t(transpose_b)},
                    {"activation", activation}},
                   name)[0];
}

Tensor Network::add_reshape(Tensor x, const std::vector<int64_t>& shape, const std::string& name) {
  return add_layer(LayerKind::kReshape, {x}, {{"shape", shape}}, name)[0];
}

Tensor Network::add_transpose(Tensor x, const std::vector<int64_t>& perm, const std::string& name) {
  return add_layer(LayerKind::kTranspose, {x}, {{"perm", perm}}, name)[0];
}

Tensor Network::add_cast(Tensor x, DataType dtype, const std::string& name) {
  return add_layer(LayerKind::kCast, {x}, {{"dtype", std::string(to_string(dtype))}}, name)[0];
}

namespace {
using Ints = std::vector<int64_t>;
std::string dt(DataType t) { return to_string(t); }
}  // namespace

Tensor Network::add_deconvolution(Tensor x, Tensor weight, Tensor bias, const Ints& stride, const Ints& padding,
                                  const Ints& output_padding, const Ints& dilation, int64_t groups,
                                  const std::string& name) {
  return add_layer(LayerKind::kDeconvolution, {x, weight, bias},
                   {{"stride", stride}, {"padding", padding}, {"output_padding", output_padding},
                    {"dilation", dilation}, {"groups", groups}}, name)[0];
}

Tensor Network::add_pooling(Tensor x, const std::string& mode, const Ints& kernel, const Ints& stride,
                            const Ints& padding, bool ceil_mode, bool count_include_pad, const std::string& name) {
  return add_layer(LayerKind::kPooling, {x},
                   {{"mode", mode}, {"kernel", kernel}, {"stride", stride}, {"padding", padding},
                    {"ceil_mode", int64_t(ceil_mode)}, {"count_include_pad", int64_t(count_include_pad)}}, name)[0];
}

Tensor Network::add_adaptive_pooling(Tensor x, const std::string& mode, const Ints& output_size,
                                     const std::string& name) {
  return add_layer(LayerKind::kAdaptivePooling, {x}, {{"mode", mode}, {"output_size", output_size}}, name)[0];
}

Tensor Network::add_pad(Tensor x, const Ints& pads, const std::string& mode, double value, const std::string& name) {
  return add_layer(LayerKind::kPad, {x}, {{"pads", pads}, {"mode", mode}, {"value", value}}, name)[0];
}

Tensor Network::add_resize(Tensor x, const Ints& sizes, const std::string& mode, bool align_corners,
                           const std::string& name) {
  return add_layer(LayerKind::kResize, {x},
                   {{"sizes", sizes}, {"mode", mode}, {"align_corners", int64_t(align_corners)}}, name)[0];
}

Tensor Network::add_prelu(Tensor x, Tensor slope, const std::string& name) {
  return add_layer(LayerKind::kPRelu, {x, slope}, {}, name)[0];
}

Tensor Network::add_quantize(Tensor x, Tensor scale, Tensor zero_point, DataType dtype, int64_t qmin, int64_t qmax,
                             const std::string& name) {
  return add_layer(LayerKind::kQuantize, {x, scale, zero_point}, {{"dtype", dt(dtype)}, {"qmin", qmin}, {"qmax", qmax}},
                   name)[0];
}

Tensor Network::add_dequantize(Tensor q, Tensor scale, Tensor zero_point, DataType dtype, const std::string& name) {
  return add_layer(LayerKind::kDequantize, {q, scale, zero_point}, {{"dtype", dt(dtype)}}, name)[0];
}

Tensor Network::add_quantized_matmul(Tensor a, Tensor b, Tensor scale, Tensor bias, bool transpose_b,
                                     const std::string& activation, DataType dtype, const std::string& name,
                                     Tensor residual) {
  std::vector<Tensor> inputs = {a, b, scale, bias};
  if (residual.valid()) inputs.push_back(residual);  // absent: four inputs, as before the residual existed
  return add_layer(LayerKind::kQuantizedMatMul, inputs,
                   {{"transpose_b", int64_t(transpose_b)}, {"activation", activation}, {"dtype", dt(dtype)}}, name)[0];
}

Tensor Network::add_quantized_convolution(Tensor x, Tensor weight, Tensor scale, Tensor bias,
                                          const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                          const std::string& activation, const std::string& layout, DataType dtype,
                                          const std::string& name, Tensor residual, Tensor residual_scale) {
  std::vector<Tensor> inputs = {x, weight, scale, bias};
  if (residual.valid() || residual_scale.valid()) inputs.push_back(residual);  // a scale alone: refused by inference
  if (residual_scale.valid()) inputs.push_back(residual_scale);
  return add_layer(LayerKind::kQuantizedConvolution, inputs,
                   {{"stride", stride}, {"padding", padding}, {"activation", activation}, {"layout", layout},
                    {"dtype", dt(dtype)}},
                   name)[0];
}

Tensor Network::add_select(Tensor condition, Tensor a, Tensor b, const std::string& name) {
  return add_layer(LayerKind::kSelect, {condition, a, b}, {}, name)[0];
}

Tensor Network::add_attention(Tensor query, Tensor key, Tensor value, Tensor mask, bool causal, double scale,
                              const std::string& name) {
  return add_layer(LayerKind::kAttention, {query, key, value, mask},
                   {{"causal", int64_t(causal)}, {"scale", scale}}, name)[0];
}

Tensor Network::add_softmax(Tensor x, int64_t axis, bool log, const std::string& name) {
  return add_layer(LayerKind::kSoftmax, {x}, {{"axis", axis}, {"log", int64_t(log)}}, name)[0];
}

Tensor Network::add_batch_norm(Tensor x, Tensor mean, Tensor var, Tensor weight, Tensor bias, double eps,
                               const std::string& name) {
  return add_layer(LayerKind::kBatchNorm, {x, mean, var, weight, bias}, {{"eps", eps}}, name)[0];
}

Tensor Network::add_layer_norm(Tensor x, int64_t normalized_rank, Tensor weight, Tensor bias, double eps,
                               const std::string& name) {
  return add_layer(LayerKind::kLayerNorm, {x, weight, bias}, {{"normalized_rank", normalized_rank}, {"eps", eps}},
                   name)[0];
}

Tensor Network::add_group_norm(Tensor x, int64_t num_groups, Tensor weight, Tensor bias, double eps,
                               const std::string& name) {
  return add_layer(LayerKind::kGroupNorm, {x, weight, bias}, {{"num_groups", num_groups}, {"eps", eps}}, name)[0];
}

Tensor Network::add_rms_norm(Tensor x, int64_t normalized_rank, Tensor weight, double eps, const std::string& name) {
  return add_layer(LayerKind::kRMSNorm, {x, weight}, {{"normalized_rank", normalized_rank}, {"eps", eps}}, name)[0];
}

Tensor Network::add_reduce(Tensor x, const std::string& op, const Ints& axes, bool keepdim, const std::string& name) {
  return add_layer(LayerKind::kReduce, {x}, {{"op", op}, {"axes", axes}, {"keepdim", int64_t(keepdim)}}, name)[0];
}

Tensor Network::add_arg_reduce(Tensor x, const std::string& op, int64_t axis, bool keepdim, const std::string& name) {
  return add_layer(LayerKind::kArgReduce, {x}, {{"op", op}, {"axis", axis}, {"keepdim", int64_t(keepdim)}}, name)[0];
}

Tensor Network::add_cumsum(Tensor x, int64_t axis, const std::string& name) {
  return add_layer(LayerKind::kCumSum, {x}, {{"axis", axis}}, name)[0];
}

std::vector<Tensor> Network::add_topk(Tensor x, int64_t k, int64_t axis, bool largest, bool sorted,
                                      const std::string& name) {
  return add_layer(LayerKind::kTopK, {x},
                   {{"k", k}, {"axis", axis}, {"largest", int64_t(largest)}, {"sorted", int64_t(sorted)}}, name);
}

Tensor Network::add_expand(Tensor x, const Ints& shape, const std::string& name) {
  return add_layer(LayerKind::kExpand, {x}, {{"shape", shape}}, name)[0];
}

Tensor Network::add_concat(const std::vector<Tensor>& inputs, int64_t axis, const std::string& name) {
  return add_layer(LayerKind::kConcat, inputs, {{"axis", axis}}, name)[0];
}

std::vector<Tensor> Network::add_split(Tensor x, int64_t axis, const Ints& sizes, const std::string& name) {
  return add_layer(LayerKind::kSplit, {x}, {{"axis", axis}, {"sizes", sizes}}, name);
}

Tensor Network::add_as_strided(Tensor x, const Ints& shape, const Ints& strides, int64_t offset,
                               const std::string& name) {
  return add_layer(LayerKind::kAsStrided, {x}, {{"shape", shape}, {"strides", strides}, {"offset", offset}}, name)[0];
}

Tensor Network::add_slice(Tensor x, const Ints& axes, const Ints& starts, const Ints& ends, const Ints& steps,
                          const std::string& name) {
  return add_layer(LayerKind::kSlice, {x}, {{"axes", axes}, {"starts", starts}, {"ends", ends}, {"steps", steps}},
                   name)[0];
}

Tensor Network::add_gather(Tensor x, Tensor index, int64_t axis, const std::string& mode, const std::string& name) {
  return add_layer(LayerKind::kGather, {x, index}, {{"axis", axis}, {"mode", mode}}, name)[0];
}

Tensor Network::add_scatter(Tensor x, Tensor index, Tensor src, int64_t axis, const std::string& reduce,
                            const std::string& name) {
  return add_layer(LayerKind::kScatter, {x, index, src}, {{"axis", axis}, {"reduce", reduce}}, name)[0];
}

Tensor Network::add_fill(const Ints& shape, DataType dtype, double value, const std::string& name) {
  return add_layer(LayerKind::kFill, {}, {{"shape", shape}, {"dtype", dt(dtype)}, {"value", value}}, name)[0];
}

Tensor Network::add_arange(int64_t size, double start, double step, DataType dtype, const std::string& name) {
  return add_layer(LayerKind::kArange, {}, {{"size", size}, {"start", start}, {"step", step}, {"dtype", dt(dtype)}},
                   name)[0];
}

std::vector<Tensor> Network::add_pointwise(const std::vector<Tensor>& inputs, const std::string& body,
                                           const std::string& name) {
  return add_layer(LayerKind::kPointwise, inputs, {{"body", body}}, name);
}

int Network::nb_tensors() const { return static_cast<int>(graph_->tensors.size()); }
int Network::nb_layers() const { return static_cast<int>(graph_->layers.size()); }

std::vector<Tensor> Network::inputs() const {
  std::vector<Tensor> r;
  for (int id : graph_->inputs) r.push_back(Tensor(graph_, id));
  return r;
}

std::vector<Tensor> Network::outputs() const {
  std::vector<Tensor> r;
  for (int id : graph_->outputs) r.push_back(Tensor(graph_, id));
  return r;
}

Tensor Network::tensor(const std::string& name) const {
  auto it = graph_->by_name.find(name);
  if (it == graph_->by_name.end()) throw Error(ErrorCode::kInvalidArgument, "no tensor named '" + name + "'");
  return Tensor(graph_, it->second);
}

void Network::validate() const { graph_->validate(); }
std::string Network::to_text() const { return ir::to_text(*graph_); }

}  // namespace tensorforge
