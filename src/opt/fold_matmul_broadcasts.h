// Matmul broadcasts: a matmul operand that is an expand adding or growing only batch dims (the matrix
// dims untouched) reads the expand's input instead, since matmul broadcasts batch dims itself. An
// exported graph's linear layer on a 3-D input that is not contiguous (torchvision's ViT projects
// its [L, B, E] attention input so) is a batched product of the weight expanded to every batch entry:
// the expand copied the weight L times and the product ran as L small matrix products. Read as one
// 2-D weight, it is one product, and a quantized weight's dequantize pair can fuse.
// Skipped where the other operand's batch dims would not give the output's by themselves.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with matmul operands read past the expands that only broadcast their batch dims.
ir::Graph fold_matmul_broadcasts(const ir::Graph& g);

}  // namespace tensorforge
