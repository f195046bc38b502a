// Attention view folding: the head split and merge of multi-head attention become the attention
// layer's strided reads and permuted write instead of copies (ir/attention_views.h).
//
// - Each query, key and value that a chain of reshape, transpose, slice and split layers derives
//   from a tensor T is read as a strided view of T (q_view, k_view, v_view), when the chain composes
//   into one with a unit last stride (opt/strided_view.h). ViT's in-projection output [L, N, 3E]
//   split into three [N, H, L, E/H] heads, GPT-2's split of [N, L, 3E], BERT's view + permute.
// - When the attention's only reader is a transpose that keeps the last dim last, the attention
//   writes that transpose's output directly (out_perm): the [N, H, L, E/H] -> [N, L, H, E/H] merge
//   before the output projection, after which the reshape to [N, L, E] is free. Reshapes that only
//   regroup the batch dims may stand between (Swin's attention over [B, windows, heads] merged as
//   [B * windows, heads, L, E]): the permutation moves each regrouped dim as its group, and one free
//   reshape gives the transpose's shape.
// The chain layers stay for their other readers; eliminate_dead_layers drops the rest.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with attention operands read through views and head merges written in place.
ir::Graph fold_attention_views(const ir::Graph& g);

}  // namespace tensorforge
