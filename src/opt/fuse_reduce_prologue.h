// Reduce prologues: an any/all reduction of a float predicate (isnan, isinf, not) becomes one reduce
// layer that applies the predicate to each element as it reads it ("prologue" attribute,
// ir/reduce_prologue.h), so `isinf(x).any()` (T5's float16 clamp check, in every layer)
// reads x once in one kernel instead of writing a bool tensor that a second kernel reduces. The
// predicate layer goes when the reduction was its only reader.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every predicate -> any/all edge whose predicate has no other reader fused.
ir::Graph fuse_reduce_prologue(const ir::Graph& g);

}  // namespace tensorforge
