// Constant dequantize folding: a dequantize layer whose inputs are all constants (an int8 weight the
// converters kept quantized, with its scales) becomes a float constant of its result, computed as
// the dequantize kernels compute it. Runs first for every weight but those fuse_quantized_matmul
// may take (so later passes see float weights: a convolution's for batch-norm folding), and again
// after that fusion, for the weights no quantized layer took.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each all-constant dequantize that a layer reads (or the network outputs) replaced
/// by a float constant; one nothing reads is left for eliminate_dead_layers.
ir::Graph fold_constant_dequantize(const ir::Graph& g);

/// The same, except dequantizes some matmul reads as its second operand while its first operand is
/// a dequantized int8 or uint8 tensor (or a reshape of one), or float rows few enough for
/// fuse_weight_only_matmul: what the quantized-matmul fusions take.
ir::Graph fold_constant_dequantize_outside_matmuls(const ir::Graph& g);

}  // namespace tensorforge
