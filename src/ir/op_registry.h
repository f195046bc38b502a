// Op definitions: for each layer kind, its inputs, its attribute schema and its inference rule.
//
// Each family file under src/ir/ops/ contributes OpDefs through one function; registry.cc calls
// them all, in one list. Graph::add_layer checks attributes against the schema (types, required
// names, unknown names), fills defaults, and calls infer() to get the output dtypes and shapes.
#pragma once

#include <string>
#include <vector>

#include "common/checked_int.h"
#include "ir/graph.h"
#include "tensorforge/network.h"

namespace tensorforge::ir {

/// The type an attribute must have.
enum class AttrType { kInt, kFloat, kString, kInts, kFloats, kWeights };

/// One attribute of a kind: name, type, and default (used when `required` is false).
struct AttrSpec {
  std::string name;
  AttrType type;
  bool required;
  AttrValue default_value;
};

/// What an inference rule sees: the layer, its inputs' shapes and dtypes; it sets the outputs.
class InferContext {
 public:
  InferContext(const Graph& g, const Layer& layer);
  /// Number of input slots (absent optional ones included).
  int nb_inputs() const { return static_cast<int>(layer_.inputs.size()); }
  /// True if input slot i holds a tensor.
  bool has_input(int i) const { return i < nb_inputs() && layer_.inputs[i] >= 0; }
  /// Shape of input i (must be present).
  const Dims& dims(int i) const;
  /// Dtype of input i (must be present).
  DataType dtype(int i) const;
  /// Attribute accessors (the schema guarantees presence and type).
  int64_t get_int(const std::string& n) const;
  double get_float(const std::string& n) const;
  const std::string& get_string(const std::string& n) const;
  const std::vector<int64_t>& get_ints(const std::string& n) const;
  const std::vector<double>& get_floats(const std::string& n) const;
  const Weights& get_weights(const std::string& n) const;
  /// Sets output i's dtype and shape.
  void set_output(int i, DataType dtype, const Dims& dims);
  /// Throws Error(kInvalidNetwork) naming the layer, its kind and its inputs' shapes and dtypes.
  [[noreturn]] void fail(const std::string& why) const;
  /// fail(why) unless `cond`.
  void require(bool cond, const std::string& why) const {
    if (!cond) fail(why);
  }
  /// The value of checked size arithmetic; fail("<what> overflows ...") if a step overflowed.
  int64_t value(CheckedInt v, const std::string& what) const {
    if (!v.ok()) fail(what + " overflows 64-bit integer arithmetic");
    return v.value();
  }
  /// Normalizes axis `a` (may be negative) for a tensor of `rank`; fails if out of range.
  int axis(int64_t a, int rank, const char* what = "axis") const;
  /// The layer being inferred.
  const Layer& layer() const { return layer_; }

  std::vector<std::pair<DataType, Dims>> outputs;

 private:
  const Graph& g_;
  const Layer& layer_;
};

/// Everything the engine knows about one layer kind.
struct OpDef {
  LayerKind kind;
  std::vector<std::string> input_names;  ///< Names of the input slots (for errors and docs).
  int min_inputs;                        ///< Slots from min_inputs on are optional.
  bool variadic = false;                 ///< Takes any number >= min_inputs of inputs (concat).
  std::vector<AttrSpec> attrs;
  /// Number of outputs, from the (defaulted) attributes; nullptr means one.
  int (*nb_outputs)(const Attributes&) = nullptr;
  void (*infer)(InferContext&) = nullptr;
};

/// The definition of `kind`.
const OpDef& op_def(LayerKind kind);

/// Checks attribute names and types, coerces ints to floats where a float is expected, fills defaults.
Attributes normalize_attributes(const OpDef& def, const Attributes& given, const std::string& layer_name);

/// Checks a quantized layer's "scale_source" attribute: where its scales came from, for the inspector
/// (docs/quantization.md): "" (not said), "given" (the graph's own, as PT2E writes them),
/// "calibrated" (tensorforge.quantize with calibrated activations) or "weight-only"
/// (tensorforge.quantize(weight_only=True)). Shared by quantize.cc and spatial.cc.
void check_scale_source(InferContext& c);

/// Each op family registers its definitions here (see registry.cc).
void add_spatial_ops(std::vector<OpDef>& defs);    // convolution, deconvolution, pooling, adaptive_pooling, pad, resize
void add_pointwise_ops(std::vector<OpDef>& defs);  // elementwise, unary, activation, prelu, select, cast
void add_matmul_ops(std::vector<OpDef>& defs);     // matmul, attention
void add_norm_ops(std::vector<OpDef>& defs);       // softmax, batch_norm, layer_norm, group_norm, rms_norm
void add_reduce_ops(std::vector<OpDef>& defs);     // reduce, arg_reduce, cumsum, topk
void add_shape_ops(std::vector<OpDef>& defs);      // reshape, transpose, expand, concat, split, slice
void add_index_ops(std::vector<OpDef>& defs);      // gather, scatter
void add_generator_ops(std::vector<OpDef>& defs);  // constant, fill, arange
void add_fused_ops(std::vector<OpDef>& defs);      // pointwise
void add_quantize_ops(std::vector<OpDef>& defs);   // quantize, dequantize

}  // namespace tensorforge::ir
