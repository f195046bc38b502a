// Patch embeddings as matrix products: a convolution whose window is its stride (no padding, no
// dilation, one group) over an image of few channels, as a vision transformer's first layer (16x16
// windows of 3 channels at stride 16), computes one dot product per output channel and
// non-overlapping patch. Its input regrouped patch by patch ([N, C, H, W] -> [N*OH*OW, C*KH*KW],
// one transpose copy of the image) makes it one matrix product by the weight read as
// [Cout, C*KH*KW] (its bytes as they are), bias in the product's epilogue, and the result, laid
// out [N, OH, OW, Cout], is handed on through a transpose that the views after it (the
// transformer's flatten and transpose back to [N, OH*OW, Cout]) compose with. cuDNN's convolution
// takes such a layer at a fraction of the rate a product of its size runs (ViT-B/16 at batch 32 on
// an H100, run AN of benchmarks/RESULTS.md: about 0.25 ms as a convolution, 24 µs as the transpose
// and the product).
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each patch-embedding convolution (see above: NCHW, 2 spatial dims, window =
/// stride dividing the image, no padding or dilation, groups 1, at most 4 input channels and at
/// least 64 values a window, no residual, activation none or relu) as transpose -> matmul.
ir::Graph patchify_convolutions(const ir::Graph& g);

}  // namespace tensorforge
