// Rotary embeddings' rotate_half: cat(-x[..., h:], x[..., :h]) over the last axis of x (2h wide),
// as Llama, Qwen2 and GPT-NeoX write it, is two slices, a negation and a concat (four kernels, and
// the concat keeps the negation out of the pointwise fusion around it). It becomes one gather of x
// along the last axis by the constant permutation [h, ..., 2h-1, 0, ..., h-1] and a multiply by
// the constant signs [-1 x h, +1 x h], which fuse_pointwise joins to the cos/sin arithmetic after
// it. The slices and the negation stay for other readers, if any.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each rotate_half concat replaced by a gather and a sign multiply.
ir::Graph recognize_rotate_half(const ir::Graph& g);

}  // namespace tensorforge
