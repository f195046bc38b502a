// Quantized convolution fusion (docs/quantization.md, docs/optimizer.md): a channels-last 2-D
// convolution (after channels_last) reading `dequantize(q, sa)` of an int8 tensor per tensor with no
// zero point (or zero), with a constant float weight (batch norm folded into it already) and its
// epilogue (an optional constant bias, residual, relu), becomes one quantized_convolution of q: the
// weight is quantized per output channel, w[k] ≈ wq[k] · sw[k] with sw[k] = max |w[k]| / 127 (a
// weight that came from int8 per channel, times a batch norm's per-channel factor, comes back
// exactly), then int32 sums and act(sum · sa · sw[k] + bias[k] + residual) in the output's dtype.
// A residual that is `dequantize(r, sr)` of int8 per tensor (no zero point) is read as r with
// residual_scale sr. An int8 quantize (one scale, no zero point, the whole range) that alone reads
// the result folds in: its 1 / scale joins the layer's scales, bias and residual_scale, and the layer
// writes int8, so chains of convolutions pass int8 from one to the next (a ResNet block's first two;
// all of them where the graph also quantizes the residual adds' inputs, as PT2E's XNNPACK recipe
// does). The dequantize stays while other layers read it. Convolutions with other activations
// (silu, hardswish), grouped ones and those whose channel counts are not multiples of 4 keep their
// float form.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each such convolution made a quantized_convolution.
ir::Graph fuse_quantized_conv(const ir::Graph& g);

}  // namespace tensorforge
