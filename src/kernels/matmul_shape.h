// The matmul layer as its kernels see it (host side, shared by the CPU and CUDA kernels): sizes,
// transposes, output batch extents with each operand's batch strides, and the epilogue (optional
// bias over the last dim and residual of the output's shape, then an activation).
#pragma once

#include <vector>

#include "kernels/kernel.h"

namespace tensorforge {

/// The activation a matmul applies after its bias.
enum class MatMulActivation { kNone, kRelu, kGelu, kGeluTanh };

/// A layer's "activation" attribute ("none", "relu", "gelu", "gelu_tanh"; missing: none): the
/// matmul family's epilogue and quantize's prologue.
MatMulActivation parse_activation(const ir::Layer& l);

/// Shapes and batch strides of one matmul layer; shared by every dtype.
struct MatMulShape {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  std::vector<int64_t> batch, sa, sb;  ///< output batch extents; a/b strides in matrices (0 = broadcast)
  int64_t batches = 1, a_batches = 1;  ///< output and a batch volumes
  bool b_shared = false;               ///< b has a single matrix
  bool has_bias = false;
  bool has_residual = false;  ///< input 3: added before the activation
  MatMulActivation activation = MatMulActivation::kNone;

  explicit MatMulShape(const KernelSpec& s);
};

/// A quantized_matmul layer as its kernels see it: rows of a [m, k] (its leading dims flattened), b
/// [k, n] or [n, k] (tb), and the epilogue's bias, residual (input 4) and activation.
struct QuantizedMatMulShape {
  int64_t k = 0, n = 0, m = 0;
  bool tb = false, has_bias = false, has_residual = false;
  MatMulActivation activation = MatMulActivation::kNone;

  explicit QuantizedMatMulShape(const KernelSpec& s);
};

}  // namespace tensorforge
