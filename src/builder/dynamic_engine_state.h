// What a DynamicEngine holds (tensorforge/dynamic_engine.h), shared by the builder
// (dynamic_engine.cc) and the engine file reader and writer (serialize/dynamic_engine_file.cc).
#pragma once

#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "builder/weight_pool.h"
#include "ir/graph.h"
#include "ir/sym_expr.h"
#include "kernels/tactic_hints.h"
#include "tensorforge/builder.h"
#include "tensorforge/dynamic_engine.h"

namespace tensorforge {

struct DynamicEngine::State {
  ir::Graph graph;  // the network with its sizes
  BuilderConfig config;
  size_t max_plans = 16;
  mutable std::mutex mu;
  std::list<std::pair<ir::SymBindings, Engine>> plans;  // most recently used first
  std::map<ir::SymBindings, std::shared_future<Engine>> building;  // plans a thread is building now
  int built = 0;
  std::shared_ptr<WeightPool> weights = std::make_shared<WeightPool>();  // one copy of each constant
  // What the opt plan's kernels chose by timing, for the other plans to take untimed (empty when
  // the opt plan came from a file: those plans time their kernels).
  TacticHints hints;
};

/// The DynamicEngine of network `graph` (with sizes, validated): every layer checked at the sizes'
/// min and max (Error(kInvalidNetwork) naming the values), and the opt plan built, unless `plans`
/// (read from a file, their weights interned in `pool`) hold it already.
DynamicEngine make_dynamic_engine(ir::Graph graph, const BuilderConfig& config, int max_plans,
                                  std::vector<std::pair<ir::SymBindings, Engine>> plans = {},
                                  std::shared_ptr<WeightPool> pool = nullptr);

}  // namespace tensorforge
