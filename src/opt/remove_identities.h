// Identity removal: a layer whose output equals its input — a concat of one tensor, a transpose by
// the identity permutation, a cast to the same dtype, an expand or slice that keeps the shape, a pad
// by zero everywhere (Swin pads its windows by nothing when the size divides) —
// is dropped and its readers read the input (which takes the output's name when that is a network
// output: GPT-2's key and value heads reach its cache outputs through a one-tensor concat, a copy).
// The input must come from a layer that is not a constant, and not be a network output itself.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` without its identity layers.
ir::Graph remove_identities(const ir::Graph& g);

}  // namespace tensorforge
