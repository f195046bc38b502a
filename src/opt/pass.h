// The optimizer: graph-to-graph passes between the network and the kernels, run in one ordered
// list (pipeline.cc). A pass has a name, the lowest optimization_level that runs it and the devices
// it applies to; it takes a valid graph and returns one that computes the same function (up to
// the rounding of fused kernels). Passes rebuild graphs through Graph::add_layer (GraphRebuilder),
// so every layer they create is checked by inference. docs/optimizer.md describes each pass.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "tensorforge/builder.h"

namespace tensorforge::opt {

/// The devices a pass applies to, as bits.
enum DeviceMask : unsigned {
  kOnCPU = 1u << static_cast<int>(DeviceKind::kCPU),
  kOnCUDA = 1u << static_cast<int>(DeviceKind::kCUDA),
  kOnAll = kOnCPU | kOnCUDA,
};

/// One pass of the pipeline.
struct Pass {
  const char* name;                   ///< Unique, snake_case; what TENSORFORGE_DISABLE_PASSES names.
  int min_level;                      ///< Runs when BuilderConfig::optimization_level >= min_level.
  unsigned devices;                   ///< DeviceMask bits of the engines it applies to.
  ir::Graph (*run)(const ir::Graph&);  ///< The rewrite.
  const char* summary;                ///< One line for logs and docs.
};

/// Every pass, in the order they run.
const std::vector<Pass>& pipeline();

/// Debugging controls of a build.
struct OptimizeOptions {
  std::vector<std::string> disabled;  ///< Names of passes not to run.
  std::string dump_dir;               ///< If set, the network text before and after each pass is written here.
};

/// From the environment: TENSORFORGE_DISABLE_PASSES (comma-separated pass names) and
/// TENSORFORGE_DUMP_PASSES (a folder). Throws Error(kInvalidArgument) for an unknown pass name.
OptimizeOptions options_from_environment();

/// Runs every pass of the pipeline that applies to `config` and is not disabled, in order; logs
/// each pass's effect at info level and dumps as `options` says.
ir::Graph optimize(const ir::Graph& g, const BuilderConfig& config, const OptimizeOptions& options);

}  // namespace tensorforge::opt
