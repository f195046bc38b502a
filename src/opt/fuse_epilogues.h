// Epilogue fusion: folds what follows a matrix multiply or a convolution into that layer, so its
// kernel applies it while the result is still in registers (cuBLASLt and cuDNN epilogues).
//   matmul -> add(bias [N]) -> relu | gelu_erf | gelu_tanh   becomes  matmul(a, b, bias, activation)
//   matmul -> add(bias) -> [reshape] -> add(residual)          becomes  matmul(a, b, bias, residual) [-> reshape]
//   convolution -> add(residual) -> relu | silu | hardswish | clip(0, 6)
//                                           becomes  convolution(x, w, b, residual, act)
// (the residual any tensor of the convolution's output shape, as ResNet's shortcut; the add and the
// activation each optional; clip(0, 6) is ReLU6, the convolution's "relu6"; silu, hardswish and
// relu6, which cuDNN's graph does not take, run in our bias/activation pass after a plain
// convolution).
// An intermediate result is folded only when nothing else reads it and it is not a network output.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every foldable chain replaced by one layer; the outputs keep their names and
/// the graph computes the same function (up to the rounding of the fused kernels).
ir::Graph fuse_epilogues(const ir::Graph& g);

}  // namespace tensorforge
