// Quantized matmul fusion (docs/quantization.md): a matmul whose operands are dequantized tensors,
// `dequantize(q, sa, za)` per tensor of an int8 or uint8 q (or a reshape of it: a linear layer's
// `[B·S, K]` view) and `dequantize(W, sb, 0)` of a constant int8 weight
// per output channel (or per tensor), with its epilogue (an optional constant bias [N], residual and
// activation: none, relu or GELU), becomes one quantized_matmul of q and W: int32 accumulation,
// then acc · (sa · sb[n]) + bias[n] − sa · sb[n] · za · Σk W[k, n] (the zero point folded into the
// bias), W written as [N, K] (transpose_b). The dequantize layers stay while other layers read them.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each such matmul made a quantized_matmul.
ir::Graph fuse_quantized_matmul(const ir::Graph& g);

/// The same for float8_e4m3fn: `dequantize(q, sa)` of float8 rows per tensor times `dequantize(W, sb)`
/// of a constant float8 weight per output channel (or per tensor) becomes a quantized_matmul of float8
/// q and W (float32 sums, scale sa · sb[n]). Its own pass, so that it can be switched off alone.
ir::Graph fuse_float8_matmul(const ir::Graph& g);

}  // namespace tensorforge
