// The builder's work on an internal graph (a network's, or a specialization of it): optimize, pick
// kernels, plan memory. Builder::build and DynamicEngine's plans both go through it.
#pragma once

#include "ir/graph.h"
#include "kernels/tactic_hints.h"
#include "tensorforge/builder.h"

namespace tensorforge {

class WeightPool;

/// The engine for `graph` (validated by the caller) under `config`. With a `pool`, the optimized
/// graph's constants are interned in it and their device copies shared (a DynamicEngine's plans);
/// `hints` lets its kernels record or follow timed choices (a DynamicEngine's opt plan records, the
/// others follow: kernels/tactic_hints.h).
Engine build_graph(const ir::Graph& graph, const BuilderConfig& config, WeightPool* pool = nullptr,
                   HintUse hints = {});

}  // namespace tensorforge
