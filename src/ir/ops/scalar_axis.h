// Axis checking that also accepts a rank-0 tensor's axis 0 or -1, as PyTorch does for dim arguments
// of scalars (softmax, cumsum, argmax, reductions). InferContext::axis rejects every axis of rank 0.
#pragma once

#include "ir/op_registry.h"

namespace tensorforge::ir {

/// c.axis(a, rank), except that a rank-0 tensor takes axis 0 or -1 (returned as 0).
inline int scalar_or_axis(const InferContext& c, int64_t a, int rank) {
  if (rank == 0 && (a == 0 || a == -1)) return 0;
  return c.axis(a, rank);
}

}  // namespace tensorforge::ir
