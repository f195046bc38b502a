// Composing a chain of view layers (reshape, transpose, slice, a split's outputs) into one strided
// view of the tensor the chain starts from, the way PyTorch's views share storage: what a layer
// that reads through strides (attention's operands, ir/attention_views.h) needs so that the chain
// costs no copies.
#pragma once

#include "ir/attention_views.h"
#include "ir/graph.h"

namespace tensorforge {

/// Tensor `id` as a strided view of tensor `base`.
struct StridedViewOf {
  int base = -1;            ///< -1: none found.
  ir::StridedOperand view;  ///< As ir::attention_operand's: dims, element strides and offset over base.
  int copies = 0;           ///< The view layers composed that are not reshapes (each a copy when run).
  bool contiguous = false;  ///< The view is base's elements in order: a reshape of it (offset 0).
};

/// Tensor `id` as a strided view of the furthest tensor up its chain of view layers from which the
/// composition is one (with a unit last stride when `unit_last_stride`); base -1 when no tensor
/// above `id` gives one.
///
/// `for_pointwise`: for a fused pointwise kernel's input (ir::apply_input_views), which walks any
/// refinement of its shape with signed strides, so the chain may also hold an as_strided of a
/// contiguous tensor and a rotate-halves gather (a take along a dim of extent 2h with the constant
/// index h..2h-1, 0..h-1: that dim becomes [2, h] with strides -h*s and s, offset +h*s), and the
/// view's dims may be finer than id's (a dim of several atoms stays split).
StridedViewOf strided_view_of(const ir::Graph& g, int id, bool unit_last_stride = true, bool for_pointwise = false);

/// Whether `l` is a rotate-halves gather (see strided_view_of's `for_pointwise`).
bool rotate_halves_gather(const ir::Graph& g, const ir::Layer& l);

}  // namespace tensorforge
