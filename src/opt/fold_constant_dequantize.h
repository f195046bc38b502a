// Constant dequantize folding: a dequantize layer whose inputs are all constants (an int8 weight the
// converters kept quantized, with its scales) becomes a float constant of its result, computed as
// the dequantize kernels compute it. Runs first on devices without quantized kernels (so every
// later pass sees float weights, as before quantized weights reached the engine), and on the CPU
// after fuse_quantized_matmul, for the weights no quantized layer took.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each all-constant dequantize replaced by a float constant.
ir::Graph fold_constant_dequantize(const ir::Graph& g);

}  // namespace tensorforge
