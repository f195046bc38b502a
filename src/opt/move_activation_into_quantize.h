// Activation into the quantize: a float8 product's GELU (or an activation after its residual),
// which cuBLASLt's epilogue does not apply, is a pass of its own over the product's float16 result
// (read and written once more) before the quantize that feeds the next float8 product reads it. When
// that quantize is the result's only reader (past reshapes), the activation moves into it (quantize's "activation",
// applied as it reads, its result rounded to the data's dtype as the product rounded it), so the
// result is read once:
//   y = quantized_matmul(a8, w8, ...){activation=gelu}; q = quantize(y, s)
//     becomes  y = quantized_matmul(a8, w8, ...){activation=none}; q = quantize(y, s){activation=gelu}
// The product's result is rounded to its dtype before the activation instead of after, as the CUDA
// kernel applied it before the move; relu without a residual stays (cuBLASLt applies it).
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with such activations moved into the quantize that reads the product.
ir::Graph move_activation_into_quantize(const ir::Graph& g);

}  // namespace tensorforge
