// Sibling-copy merging: strided copies (as_strided layers) that read one tensor into tensors of one
// shape and dtype become one fused pointwise layer with an output each, reading the tensor through
// each copy's strides (input_views): one kernel instead of several. GPT-2 returns every layer's key
// and value heads, two strided copies of its QKV projection: 24 kernels a call become 12.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each set of two or more sibling copies merged (and, when it merges any, without
/// its dead layers: a dead copy must not become a merged layer's output).
ir::Graph merge_sibling_copies(const ir::Graph& g);

}  // namespace tensorforge
