// RMS norm recognition: the written-out form models use (Llama, Qwen2, T5, Mistral, ...)
//   xf = x or cast(x, float32)
//   r  = rsqrt(mean(pow(xf, 2) or xf * xf, last axis, keepdim) + eps)
//   y  = [cast to x's dtype](xf * r) [* weight]
// becomes one rms_norm layer over the last axis (one kernel that reads each row once, computing in
// float32), placed where the last matched layer stood. The matched layers stay in the graph for any
// other reader and are otherwise dropped by eliminate_dead_layers. Intermediate results (the
// square, the mean, the sum, the rsqrt) must have no other reader; eps must be a scalar constant
// and the weight a constant [D] of x's dtype.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every written-out RMS norm replaced by an rms_norm layer.
ir::Graph recognize_rms_norm(const ir::Graph& g);

}  // namespace tensorforge
