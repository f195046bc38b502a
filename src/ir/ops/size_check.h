// Output-size check shared by the shape and index op definitions: layers that create extents from
// attributes (expand, reshape) or multiply input extents (gather, concat) must not infer a tensor
// whose byte size overflows, or the memory planner would size its buffer from a wrapped number.
#pragma once

#include "ir/op_registry.h"

namespace tensorforge::ir {

/// Fails unless the product of the non-zero extents of `d`, times the element size, fits in int64.
inline void require_sane_size(InferContext& c, const Dims& d, DataType t) {
  int64_t bytes = static_cast<int64_t>(element_size(t));
  for (int k = 0; k < d.rank(); ++k)
    if (d[k] != 0 && __builtin_mul_overflow(bytes, d[k], &bytes))
      c.fail("the output " + d.str() + " is too large (its byte size overflows int64)");
}

}  // namespace tensorforge::ir
