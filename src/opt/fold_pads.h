// Pad folding: a zero "constant" pad of only the spatial dims, the same before and after each,
// feeding a convolution becomes part of the convolution's own padding, which reads the zeros
// without writing them (TensorFlow-style "same" padding, as HF's MobileNetV2 and EfficientNet
// write it before each stride-1 convolution). Uneven pads (stride 2's (0, 1)) stay; so does the
// pad itself while another layer reads it.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each foldable pad -> convolution edge folded into the convolution's padding.
ir::Graph fold_pads(const ir::Graph& g);

}  // namespace tensorforge
