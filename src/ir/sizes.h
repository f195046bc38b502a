// Named sizes of a network with dynamic input dims (docs/dynamic_shapes.md): their checks, the
// binding a set of input shapes implies, and the network specialized to a binding.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "ir/sym_expr.h"

namespace tensorforge::ir {

/// Checks g.sizes and g.input_sizes: names are symbols, 0 <= min <= opt <= max, every dynamic
/// input exists with one entry a dim, names a declared size, and holds that size's opt there.
/// Throws Error(kInvalidNetwork) saying which.
void check_sizes(const Graph& g);

/// The values of g's sizes implied by the network inputs' shapes `dims` (in g.inputs order): each
/// size from the first dim it sizes, every other dim it sizes equal to it, each within its range,
/// static dims as declared. Throws Error(kInvalidArgument) naming the input, the dim, the size and
/// its range.
SymBindings bind_sizes(const Graph& g, const std::vector<Dims>& dims);

/// g with its sizes at `values` (every size bound, within its range): the dynamic input dims set and
/// every layer's outputs inferred again; the result has no sizes (a static graph). Throws
/// Error(kInvalidArgument) for a missing or out-of-range value and Error(kInvalidNetwork), naming
/// the values, when a layer rejects the shapes they give.
Graph specialize(const Graph& g, const SymBindings& values);

}  // namespace tensorforge::ir
