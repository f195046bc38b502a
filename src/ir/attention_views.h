// Attention operands read through strides, and an attention output written permuted: the optional
// attributes of the attention layer that let it read the query, key and value where a projection
// left them (the head split of multi-head attention costs no copy) and write its result in the
// order the next layer wants (the head merge costs none either).
//
//   q_view, k_view, v_view = [d0, ..., d(r-1), s0, ..., s(r-1), offset]: the operand is
//     as_strided(input, dims d, strides s, offset) over its input's contiguous elements; the last
//     stride is 1, strides are >= 0, and every element it names lies inside the input. Empty (the
//     default): the operand is the input itself.
//   out_perm = a permutation of the r dims that keeps the last one last: the layer's output is
//     transpose(attention(q, k, v), out_perm), stored contiguously. Empty (the default): no
//     permutation.
//
// opt/fold_attention_views.cc sets them; inference (ops/matmul.cc) and the CPU and CUDA kernels read
// them through the functions here, so every reader agrees on one meaning.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace tensorforge::ir {

/// An operand as the kernels read it: logical dims, element strides and offset into its input.
struct StridedOperand {
  Dims dims;
  std::vector<int64_t> strides;
  int64_t offset = 0;
};

/// The attribute that holds operand `slot`'s view (0 query, 1 key, 2 value).
const char* attention_view_attr(int slot);

/// Operand `slot` of attention layer `l`, whose input tensor has dims `input`: its view when the
/// layer has one, else `input` with contiguous strides. Does not validate (see check_attention_view).
StridedOperand attention_operand(const Layer& l, int slot, const Dims& input);

/// An empty string when the view of operand `slot` is well formed over an input of dims `input`,
/// else what is wrong with it (for inference's error message).
std::string check_attention_view(const Layer& l, int slot, const Dims& input);

/// The layer's out_perm (empty when none).
std::vector<int64_t> attention_out_perm(const Layer& l);

/// Element strides of the logical result [..., L, Ev] (dims `logical`) inside the layer's output
/// tensor: contiguous without out_perm, the transposed placement with it.
std::vector<int64_t> attention_output_strides(const Layer& l, const Dims& logical);

}  // namespace tensorforge::ir
