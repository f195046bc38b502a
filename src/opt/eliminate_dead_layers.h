// Dead-layer elimination: layers none of whose outputs reaches a network output compute nothing
// the caller sees; they are dropped (with the constants only they read).
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` without the layers whose outputs no network output depends on.
ir::Graph eliminate_dead_layers(const ir::Graph& g);

}  // namespace tensorforge
