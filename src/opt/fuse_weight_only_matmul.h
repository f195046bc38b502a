// Weight-only matmul fusion (docs/quantization.md): a matmul of a float activation of at most
// kWeightOnlyMaxRows rows (batch-1 decoding's matrix-vector products) and `dequantize(W, sb)` of a
// constant int8 weight per output channel, with its epilogue (an optional constant bias [N],
// residual and activation: none, relu or GELU), becomes one quantized_matmul of the float rows and W (written as [N, K]) with scale
// sb: the layer then reads int8 weights, half float16's bytes, where it is bound by reading them.
// Larger products keep float weights (fold_constant_dequantize_after_fusion), which the library's
// float16 products read faster than a kernel converting int8.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Rows of the float activation up to which the fusion takes a matmul.
constexpr int64_t kWeightOnlyMaxRows = 16;

/// Whether matmul `l` reads a float activation of at most kWeightOnlyMaxRows rows and a dequantized
/// second operand (the fusion checks the rest).
bool weight_only_candidate(const ir::Graph& g, const ir::Layer& l);

/// Returns `g` with each such matmul made a weight-only quantized_matmul.
ir::Graph fuse_weight_only_matmul(const ir::Graph& g);

}  // namespace tensorforge
