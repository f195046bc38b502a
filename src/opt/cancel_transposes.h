// Transpose cancellation: a transpose of a transpose becomes one transpose of the first one's input
// (perms composed), and one whose composed perm is the identity is dropped (remove_identities). It
// runs after channels_last, whose conversions at a region's edges meet the model's own permutes:
// ConvNeXt's block permutes its convolution's output to [N, H, W, C] for a layer norm and linear
// layers, then back; in NHWC the convolution's output already is that tensor, so the
// conversion to NCHW and the model's permute cancel, and so do the permute back and the next
// convolution's conversion to NHWC. The first transpose stays for its other readers, if any; the
// layers nothing reads any more are dropped at once.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with transpose chains composed and identities dropped.
ir::Graph cancel_transposes(const ir::Graph& g);

}  // namespace tensorforge
