// Attention recognition: attention written out as two matrix multiplies around a softmax (Swin's
// window attention, hand-written and older models)
//   s = matmul(reshape(q), reshape(transpose(k)))  or  matmul(reshape(q), reshape(k), transpose_b=1)
//   s = s [* c | / c] [+ m] ...    scalar constants first, then added tensors (a position bias, a
//                                  mask), with reshapes between them that only regroup batch dims
//   p = softmax(s, last axis)
//   o = matmul(reshape(p), reshape(v))
// becomes one attention layer: scale = the product of the constant factors (a scalar multiply of q
// folds in too), mask = the sum of the added tensors (computed once, at build time). The attention runs over the batch dims of
// the finest regrouping the chain uses (Swin's shifted windows add their mask over [B, windows,
// heads]; the bias over [B * windows, heads]), q, k, v and each mask reshaped to it. Every
// intermediate (the scores, the probabilities and the views between) must have no other reader;
// the added tensors must be finite constants (a -inf mask could mask a whole row, which softmax
// turns into NaN and the attention layer into 0) of the scores' dtype that broadcast to them. CUDA only: the CPU kernels
// keep computing the written-out form, the reference for the fused one.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every written-out attention replaced by an attention layer.
ir::Graph recognize_attention(const ir::Graph& g);

}  // namespace tensorforge
