// Horizontal matmul fusion: matrix multiplies that read the same activation with constant weights
// of one dtype and orientation (a transformer's separate query, key and value projections; any
// linear layers side by side over one input) become one multiply by the weights concatenated
// along N, with their constant bias adds concatenated too, and one split of the result gives each
// original output. One launch replaces several, and the wider product fills the card better at
// small batches. The split costs nothing where attention reads the pieces through strides
// (fold_attention_views runs after this pass, as for GPT-2's packed projection); elsewhere it is a
// copy, so groups are merged only when every piece reaches an attention through views, or when the
// merged result is small (at most 8 MB, where launches, not bytes, cost the time).
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with each group of parallel matmuls merged into one matmul and a split.
ir::Graph merge_parallel_matmuls(const ir::Graph& g);

/// The same for quantized_matmul layers (after fuse_quantized_matmul and fuse_weight_only_matmul):
/// those reading one activation with constant int8 [N, K] weights, constant scales, the same
/// epilogue and output dtype, and no residual become one over the weights, scales and biases
/// concatenated along N, and a split (batch-1 decoding's query/key/value and gate/up projections:
/// one launch for each set).
ir::Graph merge_parallel_quantized_matmuls(const ir::Graph& g);

}  // namespace tensorforge
