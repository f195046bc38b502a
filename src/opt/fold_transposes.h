// Transpose folding: a transpose that swaps only the last two dims and feeds a matrix multiply
// becomes that multiply's transpose_a / transpose_b flag, so the multiply reads the untransposed
// tensor and no copy is made (attention written out as q @ k.transpose(-2, -1), linear layers whose
// weight arrives transposed). The transpose itself stays for its other readers; when the multiply
// was its only one, eliminate_dead_layers drops it.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every foldable transpose -> matmul edge replaced by a transpose flag.
ir::Graph fold_transposes(const ir::Graph& g);

}  // namespace tensorforge
