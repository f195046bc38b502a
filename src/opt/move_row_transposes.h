// Row-transpose motion: a transpose that only reorders the rows of a linear layer (it permutes the
// leading dims and keeps the last) moves to the other side of the layer, where the attention's
// views absorb it. nn.MultiheadAttention with batch_first=True (ViT) transposes its input [N, L, E]
// to [L, N, E] before the in-projection and its output back after the out-projection: two copies a
// layer, and the second keeps the residual add out of the out-projection's epilogue.
//   transpose(X, P) -> reshape [M, C] -> matmul(W) [-> reshape] [-> add(bias[F])]
//     becomes  matmul(X's rows, W) [+ bias] -> transpose(P) -> reshape   (the copy moves after:
//     fold_attention_views reads it through strides when the attention is the reader)
//   Z -> reshape [M, K] -> matmul(W) [-> reshape] [-> add(bias[F])] -> reshape [r..., F] -> transpose(P)
//     becomes  transpose(Z, P) -> reshape -> matmul(W) [+ bias] -> reshape   (a transpose of Z's
//     leading dims; composed with Z's own transpose when Z is one: the attention's head merge)
// W is any 2-D operand, the matmul has no transpose of its input and no residual; every
// intermediate result has one reader. Per-tensor quantize/dequantize layers (one scale for every
// element: they commute with any reordering) may stand between the rows and the matmul and move
// with the transpose (tensorforge.quantize's exported models); the first form's reshape to rows may
// be missing (a 3-D matmul of the transposed rows). A move happens only where the copy it moves is absorbed: the
// first form when only attention operands (through views) read the result, the second when Z is a
// transpose's or an attention's output — elsewhere the copy could grow (3E columns against E).
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each such transpose on the other side of its linear layer.
ir::Graph move_row_transposes(const ir::Graph& g);

}  // namespace tensorforge
