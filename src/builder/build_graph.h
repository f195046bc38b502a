// The builder's work on an internal graph (a network's, or a specialization of it): optimize, pick
// kernels, plan memory. Builder::build and DynamicEngine's plans both go through it.
#pragma once

#include "ir/graph.h"
#include "tensorforge/builder.h"

namespace tensorforge {

/// The engine for `graph` (validated by the caller) under `config`.
Engine build_graph(const ir::Graph& graph, const BuilderConfig& config);

}  // namespace tensorforge
