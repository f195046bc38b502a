// Channel-scale folding: a linear layer's result multiplied by a constant per output channel (the
// layer scale of ConvNeXt and CaiT blocks: gamma * (x W + b)) becomes the linear layer with scaled
// weights and bias, x (W * gamma) + b * gamma (float64 arithmetic, rounded once to the weights'
// dtype). The multiply goes, and what followed it (a residual add) can join the matmul's epilogue.
// The chain may pass reshapes that keep the last extent (a [N * H * W, C] result viewed as
// [N, H, W, C]); every tensor in it must have one reader and not be a network output.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each per-channel constant multiply after a constant-weight matmul folded in.
ir::Graph fold_channel_scales(const ir::Graph& g);

}  // namespace tensorforge
