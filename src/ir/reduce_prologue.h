// A reduce layer's "prologue": a float predicate of the table (TF_FLOAT_PREDICATE_OPS: isnan,
// isinf, not) applied to every element before an any/all reduction, so `isinf(x).any()` reads x
// once in one kernel. Shared by inference (the name's check), the CPU and the CUDA reduce kernels.
#pragma once

#include <string>

#include "kernels/common/pointwise_formulas.h"

#ifdef __CUDACC__
#define TF_PROLOGUE_FN __host__ __device__ __forceinline__
#else
#define TF_PROLOGUE_FN inline
#endif

namespace tensorforge {

/// The predicate's code: 1, 2, ... in table order; 0 for "" (no prologue); -1 for any other name.
inline int reduce_prologue_code(const std::string& name) {
  if (name.empty()) return 0;
  int i = 0;
#define TF_PROLOGUE_CASE(NAME, EXPR) \
  ++i;                               \
  if (name == NAME) return i;
  TF_FLOAT_PREDICATE_OPS(TF_PROLOGUE_CASE)
#undef TF_PROLOGUE_CASE
  return -1;
}

/// The predicates' names, comma-separated, for error messages.
inline std::string reduce_prologue_names() {
  std::string names;
#define TF_PROLOGUE_CASE(NAME, EXPR) names += std::string(names.empty() ? "" : ", ") + NAME;
  TF_FLOAT_PREDICATE_OPS(TF_PROLOGUE_CASE)
#undef TF_PROLOGUE_CASE
  return names;
}

/// Predicate `code` (> 0) of x.
TF_PROLOGUE_FN bool reduce_prologue(int code, float x) {
  int i = 0;
#define TF_PROLOGUE_CASE(NAME, EXPR) \
  if (code == ++i) return (EXPR);
  TF_FLOAT_PREDICATE_OPS(TF_PROLOGUE_CASE)
#undef TF_PROLOGUE_CASE
  return false;
}

}  // namespace tensorforge
