// Builder: validate the network, then assemble the engine from a copy of its graph.
#include "tensorforge/builder.h"

#include <chrono>
#include <sstream>

#include "kernels/cpu/spatial.h"
#include "kernels/kernel.h"
#include "opt/pass.h"
#include "builder/build_graph.h"
#include "builder/weight_pool.h"
#include "runtime/engine_impl.h"
#include "tensorforge/logger.h"

namespace tensorforge {

void BuilderConfig::validate() const {
  if (optimization_level < 0 || optimization_level > 5)
    throw Error(ErrorCode::kInvalidArgument,
                "BuilderConfig.optimization_level must be in 0..5, got " + std::to_string(optimization_level));
  if (static_cast<int>(device) > static_cast<int>(DeviceKind::kCUDA))
    throw Error(ErrorCode::kInvalidArgument, "BuilderConfig.device is not a valid DeviceKind");
  if (timing_iterations < 0 || timing_iterations > 1000)
    throw Error(ErrorCode::kInvalidArgument,
                "BuilderConfig.timing_iterations must be in 0..1000, got " + std::to_string(timing_iterations));
  if (build_threads < 0 || build_threads > 256)
    throw Error(ErrorCode::kInvalidArgument,
                "BuilderConfig.build_threads must be in 0..256, got " + std::to_string(build_threads));
  for (const std::string& t : disabled_tactics)
    if (!is_known_tactic(t))
      throw Error(ErrorCode::kInvalidArgument,
                  "BuilderConfig.disabled_tactics names '" + t + "', which is no kernel of this build");
}

Builder::Builder(const BuilderConfig& config) : config_(config) { config_.validate(); }

Engine build_graph(const ir::Graph& graph, const BuilderConfig& config, WeightPool* pool, HintUse hints) {
  auto start = std::chrono::steady_clock::now();
  // The optimizer's passes for this device and level (src/opt/pipeline.cc), then the kernels.
  opt::OptimizeOptions options = opt::options_from_environment();
  // Float32 NHWC regions pay on the CPU only where oneDNN's convolutions read NHWC in place.
  if (!cpu::built_with_onednn()) options.disabled.push_back("channels_last_float32");
  ir::Graph optimized = opt::optimize(graph, config, options);
  if (pool)
    for (ir::Layer& l : optimized.layers)
      if (l.kind == LayerKind::kConstant) l.attrs["value"] = pool->intern(ir::attr_weights(l, "value"));
  const double optimize_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  auto impl = assemble_engine(std::move(optimized), config, {}, pool, hints);
  impl->build_ms.insert(impl->build_ms.begin(), {"optimize", optimize_ms});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::ostringstream os;
  os << "built a " << to_string(config.device) << " engine: " << impl->graph.layers.size() << " layers, "
     << impl->steps.size() << " kernels, arena " << impl->arena_size << " B, weights " << impl->weights_size
     << " B, in " << ms << " ms";
  log(Severity::kInfo, os.str());
  return Engine(std::move(impl));
}

Engine Builder::build(const Network& network) const {
  network.validate();
  if (!network.graph().sizes.empty()) {
    std::string names;
    for (const auto& [name, r] : network.graph().sizes) names += (names.empty() ? "" : ", ") + name;
    throw Error(ErrorCode::kUnsupported, "the network has named sizes (" + names +
                                             "): Builder.build makes static engines; use build_dynamic, or "
                                             "build network.specialize({...}) for one shape (docs/dynamic_shapes.md)");
  }
  return build_graph(network.graph(), config_);
}

}  // namespace tensorforge
