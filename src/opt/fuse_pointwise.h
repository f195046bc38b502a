// Pointwise fusion: connected chains of elementwise, unary, activation, cast and select layers over
// float and bool tensors of one shape become one fused "pointwise" layer, whose body is the chain
// (docs/layers.md). One kernel then reads each input once and writes each needed output once,
// keeping the intermediate values in registers, in float32.
//
// A layer joins the group of one of its inputs' producers when it has the group's shape and none of
// its other inputs depends on the group through a layer outside it (so the group can run as one
// step). A group's inputs are what its layers read from outside; its outputs are what is read
// outside it or is a network output. Groups of one layer stay as they are.
//
// A group of a smaller shape that broadcasts to another's (squeeze-excite's hardsigmoid or sigmoid
// of the [N, C, 1, 1] channel weights, read by the multiply over [N, C, H, W]) joins that group
// when only that group reads it and nothing of it is a network output: the fused kernel computes
// it again for every element it broadcasts to (a few instructions), and one launch and one small
// tensor's round trip through memory are saved.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every fusible group of two or more layers replaced by one pointwise layer.
ir::Graph fuse_pointwise(const ir::Graph& g);

}  // namespace tensorforge
