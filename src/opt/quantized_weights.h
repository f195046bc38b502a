// What the quantized passes (fuse_quantized_matmul, fuse_weight_only_matmul, fuse_quantized_conv)
// read from a graph: dequantize layers, a matmul's int8 weight with its per-output-channel scales, and that
// weight written as [N, K], the layout every quantized_matmul kernel reads fastest.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "opt/rebuild.h"

namespace tensorforge {

/// The dequantize layer producing tensor `id`, or nullptr.
const ir::Layer* dequantize_of(const ir::Graph& g, int id);

/// True when the zero point input `id` is absent or a constant of zeros.
bool zero_point_zero(const ir::Graph& g, int id);

/// A float32 constant's values when it has one element (repeated n times) or exactly the extents
/// `per_channel_a` or `per_channel_b` (one value per channel); empty otherwise.
std::vector<double> channel_values(const ir::Graph& g, int id, int64_t n, const Dims& per_channel_a,
                                   const Dims& per_channel_b);

/// A matmul's second operand `dequantize(W, sb)` of a constant int8 weight W, rank 2, its scale per
/// output channel (or per tensor) and zero points absent or 0.
struct QuantizedWeight {
  int weight = -1;           ///< W: [K, N], or [N, K] when `transposed`
  bool transposed = false;   ///< the matmul's transpose_b
  int64_t n = 0, k = 0;
  std::vector<double> scale;  ///< sb[n]
  std::string source;         ///< the dequantize's scale_source ("" when not said)
  DataType dtype = DataType::kInt8;  ///< int8, or float8_e4m3fn (taken only with float8 activations)
};

/// `attrs` with "scale_source" set to `source` unless that is empty (a quantized_matmul's attributes).
Attributes with_scale_source(Attributes attrs, const std::string& source);

/// Matmul `l`'s second operand as a QuantizedWeight, if it is one.
std::optional<QuantizedWeight> quantized_weight(const ir::Graph& g, const ir::Layer& l);

/// Whether matmul `l`'s activation is one quantized_matmul applies (none, relu, gelu, gelu_tanh).
bool quantized_matmul_activation(const ir::Layer& l);

/// quantized_matmul's inputs: a, the weight [N, K], scale, bias (-1: none) and, when matmul `l` has
/// one, its residual, each already mapped into the graph being built.
std::vector<int> quantized_matmul_inputs(const ir::Layer& l, GraphRebuilder& rb, int a, int weight, int scale,
                                         int bias);

/// The id of `w`'s int8 weight as [N, K] in the graph `rb` builds: the mapped weight when it is
/// already, else a new constant holding its transpose (named `name`).
int weight_rows(const ir::Graph& g, const QuantizedWeight& w, GraphRebuilder& rb, const std::string& name);

}  // namespace tensorforge
