// share_attention_masks: a bool attention mask that several attention layers read becomes one
// additive mask (select(mask, 0, -inf) in the layers' dtype) that they all read. A bool mask costs
// each CUDA attention layer a conversion per call (cuDNN adds masks of the query's dtype only); an
// encoder's every layer reads the same padding mask, so the conversion now runs once a call. The
// results are the same: a bool false and an additive -inf mask the same scores, and a row with
// nothing to attend gives zeros either way (docs/layers.md).
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// `g` with each bool mask read by two or more attention layers of one float dtype replaced, for
/// those layers, by one select layer's additive mask; `g` itself when there is none.
ir::Graph share_attention_masks(const ir::Graph& g);

}  // namespace tensorforge
