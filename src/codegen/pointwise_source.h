// CUDA C source of a fused pointwise layer's kernel, written from its program
// (ir/pointwise_program.h) with the formulas of kernels/common/pointwise_formulas.h. The shapes are
// fixed when an engine is built, so the iteration shape and every input's broadcast strides are
// compiled in as constants (after merging dims that every operand walks alike): index arithmetic
// divides by constants, and inputs of the full shape are read at the element's own index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/pointwise_program.h"

namespace tensorforge::codegen {

/// The name of the generated kernel: extern "C" __global__ void tf_pointwise(TfParams p), where
/// TfParams holds `const void* in[inputs]; void* out[outputs];`.
constexpr const char* kPointwiseKernelName = "tf_pointwise";

/// How the kernel walks memory: the iteration shape after merging dims, and per input its element
/// strides along them (0 where it broadcasts).
struct PointwiseLayout {
  std::vector<int64_t> shape;
  std::vector<std::vector<int64_t>> strides;
  int64_t elements = 0;
  std::vector<int> concat_dim;  ///< Per concat of the program: the (unmerged) dim of its axis.
};

/// The layout of `p`, with adjacent dims merged wherever every input steps through them alike (a
/// concat's axis is never merged: its pieces are told apart by the coordinate along it; a piece
/// walks with its own contiguous strides).
PointwiseLayout pointwise_layout(const ir::PwProgram& p);

/// The vector entry point: extern "C" __global__ void tf_pointwise_vec(TfParams p), one thread per
/// pointwise_vector_width() consecutive elements, reading the inputs of the full shape and writing
/// the outputs with one 16-byte (at most) access each. Launch it only when every pointer is
/// 16-byte aligned; tf_pointwise serves any pointers.
constexpr const char* kPointwiseVectorKernelName = "tf_pointwise_vec";

/// Elements per thread of tf_pointwise_vec (16 bytes of the widest full-shape operand, at most 8),
/// or 1 when the source has no vector entry point: the innermost merged dim must be a multiple of
/// it, so a thread's elements never cross into the next row of a broadcasting input.
int pointwise_vector_width(const ir::PwProgram& p, const PointwiseLayout& layout);

/// The complete source (no #include; PTX conversions for float16 and bfloat16): tf_pointwise and,
/// when pointwise_vector_width() > 1, tf_pointwise_vec.
std::string pointwise_source(const ir::PwProgram& p, const PointwiseLayout& layout);

}  // namespace tensorforge::codegen
