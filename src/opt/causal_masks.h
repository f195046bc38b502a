// Causal masks: an attention layer whose mask is a constant that masks exactly the keys after each
// query (bool: true where key j <= query i; additive: 0 there and -inf elsewhere), in every slice
// it has over the batch dims, becomes causal=1 without the mask. Models build that mask from shapes
// alone (GPT-2 with some transformers versions passes SDPA a bool causal mask), the lowering folds
// it into a constant, and the causal flag then saves reading it (cuDNN: the bool-to-additive
// conversion per layer and call) and lets the kernels skip the masked key tiles. A mask whose rows
// are not the query length (broadcast over queries) never matches; other masks stay as they are.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every causal constant mask replaced by the causal flag.
ir::Graph causal_masks(const ir::Graph& g);

}  // namespace tensorforge
