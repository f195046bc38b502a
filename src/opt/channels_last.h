// Channels-last layout assignment: convolutional networks in float16/bfloat16 keep their
// activations NHWC from the first convolution to the last, so that cuDNN's tensor-core kernels read
// and write them in place instead of transposing around every convolution.
//
// Rank-4 tensors are grouped into regions joined by the layers that can run in either layout:
// convolution, pooling and adaptive pooling (input and output), concat (every input and the
// output), and the pointwise kinds (elementwise, unary, activation, cast, select, and quantize and
// dequantize with one scale for the whole tensor: every rank-4 operand and the output). A region holding a float16/bfloat16 convolution turns channels last:
// its tensors' dims become [N, H, W, C], its convolutions and poolings take layout "nhwc" (weights
// permuted to [Cout, kh, kw, Cin / groups]), concat axes and broadcast operands (constants
// permuted at build, other tensors reshaped and transposed) follow, and a transpose converts where
// a tensor crosses the region's edge: into layers that need NCHW, and at network outputs (which
// keep their names and NCHW dims). A conversion that moves only extent-1 dims is a reshape, which
// costs no copy.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with its float16/bfloat16 convolutional regions channels last (or `g` unchanged).
ir::Graph channels_last(const ir::Graph& g);

/// The same for regions holding a float32 convolution by a constant weight: for CPU engines whose
/// convolutions read and write NHWC in place (oneDNN's; the builder disables it without oneDNN).
ir::Graph channels_last_float32(const ir::Graph& g);

}  // namespace tensorforge
