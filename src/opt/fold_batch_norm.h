// Batch-norm folding: an inference batch norm right after a convolution with constant weights is
// folded into that convolution's weights and bias, so it costs nothing at run time:
//   s = weight / sqrt(var + eps);  W'[o] = W[o] * s[o];  b'[o] = (b[o] - mean[o]) * s[o] + bias[o]
// (computed in float64, stored in the convolution's dtype). Applies when every batch-norm operand
// and the convolution's weight and bias (if any) are constants and nothing else reads the
// convolution's output.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every foldable convolution -> batch_norm pair replaced by one convolution.
ir::Graph fold_batch_norm(const ir::Graph& g);

}  // namespace tensorforge
