// The meaning of a fused pointwise layer: its body (a small network of elementwise, unary,
// activation, cast and select layers, in the printer's text form) compiled to a straight-line
// program over one element. Every value is computed in float32 (bool as 0 or 1); a cast to
// float16 or bfloat16 rounds there, and outputs round to their dtype when stored. The CPU kernel
// interprets the program; the CUDA code generator writes it out as a kernel. Formulas come from
// kernels/common/pointwise_formulas.h, so all three agree.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace tensorforge::ir {

/// What one instruction computes.
enum class PwOp : uint8_t {
  kInput,       ///< loads body input `a` (broadcast to the iteration shape)
  kUnary,       ///< float -> float formula `fn` of TF_FLOAT_UNARY_OPS on register a
  kPredicate,   ///< float -> bool formula `fn` of TF_FLOAT_PREDICATE_OPS on register a
  kActivation,  ///< formula `fn` of TF_FLOAT_ACTIVATIONS on register a, with alpha and beta
  kBinary,      ///< formula `fn` of TF_FLOAT_BINARY_OPS on registers a, b
  kCompare,     ///< formula `fn` of TF_FLOAT_COMPARISON_OPS on registers a, b (bool result)
  kSelect,      ///< a != 0 ? b : c
  kCast,        ///< register a converted to `dtype` (rounded to float16/bfloat16; bool: != 0)
  kConcat,      ///< concatenation `a` of PwProgram::concats, read at the element's coordinates
};

/// A concat of body inputs along `axis`, read in place: the element at coordinate x along the axis
/// comes from the piece whose range [offsets[k], offsets[k] + extent) holds x, at x - offsets[k].
/// The pieces have the iteration shape's rank and extents except along the axis; their own kInput
/// instructions load nothing (PwProgram::piece_of marks them).
struct PwConcat {
  int axis = 0;
  std::vector<int> pieces;        ///< Body input indices, in order.
  std::vector<int64_t> offsets;   ///< Where each piece starts along the axis.
};

/// One instruction; its result is the register with its own index.
struct PwInstr {
  PwOp op = PwOp::kInput;
  int fn = 0;                          ///< Index into the formula table of the op's kind.
  int a = -1, b = -1, c = -1;          ///< Operand registers (earlier instructions), or input index.
  float alpha = 0.0f, beta = 0.0f;     ///< Activation attributes.
  DataType dtype = DataType::kFloat32;  ///< The dtype of the value (how outputs store it).
};

/// A compiled body.
struct PwProgram {
  std::vector<DataType> input_dtypes;  ///< Per body input.
  std::vector<Dims> input_dims;        ///< Per body input; each broadcasts to `shape`.
  Dims shape;                          ///< The iteration shape: every output has it.
  std::vector<PwInstr> code;           ///< kInput instructions first (one per input, in order).
  std::vector<int> outputs;            ///< Registers stored to the layer's outputs, in order.
  std::vector<PwConcat> concats;       ///< Concatenations kConcat instructions read.
  std::vector<int> piece_of;           ///< Per input: the concat it is a piece of, or -1.
  /// Per input: the strided view through which it reads the layer's input tensor (a transpose or
  /// slice read in place): the view's dims (whose row-major order is the input's, possibly finer,
  /// as [2, 2, 7, 2, 7, 96] for a [2, 14, 14, 96] input), element strides and offset; empty dims:
  /// the tensor is the input itself, contiguous. Set by apply_input_views.
  std::vector<Dims> view_dims;
  std::vector<std::vector<int64_t>> view_strides;
  std::vector<int64_t> view_offsets;
};

/// Reads a pointwise layer's "input_views" attribute into `p`: records [input, rank, dims...,
/// strides..., offset]. A view input has the outputs' shape and the view the input's volume, with a
/// common refinement of the two shapes; strides may be negative, but no element lies before the
/// offset's zero (the layer's inference checks none lies past the tensor); the program has no concat. Throws Error(kInvalidNetwork)
/// when a record breaks these rules.
void apply_input_views(PwProgram& p, const std::vector<int64_t>& views);

/// How the kernels walk a program: the iteration shape (the outputs' shape, split into the finer
/// dims of any input view) and, per input, its element strides over it (0 along broadcast dims).
struct PwIteration {
  Dims shape;
  std::vector<std::vector<int64_t>> strides;
};
PwIteration pointwise_iteration(const PwProgram& p);

/// Compiles a body; throws Error(kInvalidNetwork) when it is not a pointwise network: a layer of
/// another kind or op (a concat only of body inputs, with the outputs' shape), a dtype other than float32, float16, bfloat16 and bool, outputs of different
/// shapes, or a value that does not broadcast to the outputs' shape.
PwProgram compile_pointwise_body(const std::string& body);

/// Names of the formulas of one op kind (kUnary, kPredicate, kActivation, kBinary, kCompare), in
/// table order, and their expressions as C source (for the code generator).
const std::vector<std::string>& pw_formula_names(PwOp kind);
const std::vector<std::string>& pw_formula_sources(PwOp kind);

/// True when `d` broadcasts to `shape` (right-aligned, each extent 1 or equal).
bool broadcasts_to(const Dims& d, const Dims& shape);

/// Number of outputs a body declares (its "output" lines), without compiling it.
int pointwise_body_outputs(const std::string& body);

}  // namespace tensorforge::ir
