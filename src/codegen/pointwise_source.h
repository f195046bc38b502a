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
};

/// The layout of `p`, with adjacent dims merged wherever every input steps through them alike.
PointwiseLayout pointwise_layout(const ir::PwProgram& p);

/// The complete source (no #include; PTX conversions for float16 and bfloat16).
std::string pointwise_source(const ir::PwProgram& p, const PointwiseLayout& layout);

}  // namespace tensorforge::codegen
