// Batch norm as a per-channel affine map: an inference batch norm that no convolution absorbed
// (fold_batch_norm) becomes
//   y = x * scale + shift,  scale[c] = weight[c] / sqrt(var[c] + eps),  shift[c] = bias[c] - mean[c] * scale[c]
// as two elementwise layers whose constants have dims [1, C, 1, ...] (computed in float64, stored in
// x's dtype). Elementwise layers take any layout and fuse with their neighbours, so a batch norm on
// a concatenation (DenseNet's pre-activation: concat, batch norm, ReLU, convolution) neither breaks
// a channels-last region (two transposes of the whole concatenation) nor costs a kernel of its own
// (fuse_pointwise makes scale, shift and the ReLU one generated kernel). Applies when every operand
// but x is a constant and x is a floating tensor of rank 2 or more.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every such batch_norm replaced by a multiply and an add.
ir::Graph batch_norm_to_affine(const ir::Graph& g);

}  // namespace tensorforge
