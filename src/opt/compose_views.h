// View composition: a transpose or slice at the end of a chain of view layers (reshape, transpose,
// slice, split) that copies more than once becomes one as_strided layer reading the tensor the
// chain starts from: one copy instead of several. GPT-2's key and value heads (split of the
// projection, view, transpose: a split copy and a transpose copy) become one strided copy of the
// projection. When the chain's copies undo each other (a transpose and its inverse around a
// linear layer's rows) the result is the start's elements in order: a reshape, no copy. The chain's
// other layers stay for their other readers; eliminate_dead_layers drops the rest.
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with every such chain's copies replaced by one as_strided layer.
ir::Graph compose_views(const ir::Graph& g);

}  // namespace tensorforge
