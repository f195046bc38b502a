// Builder: turns a Network into an Engine (validation, kernel choice, memory planning).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tensorforge/dynamic_engine.h"
#include "tensorforge/engine.h"
#include "tensorforge/network.h"
#include "tensorforge/types.h"

namespace tensorforge {

/// Options that steer a build.
struct BuilderConfig {
  /// Where the engine will run.
  DeviceKind device = DeviceKind::kCPU;
  /// Build effort, 0 (first working kernel) to 5 (exhaustive search); recorded in the engine. Levels
  /// 1-3 let kernels time their own variants (cuDNN plans, cuBLASLt algorithms); 4-5 also time every
  /// kernel that accepts a layer against the others and keep the fastest that agrees with the first
  /// (src/builder/tactic_timing.h).
  int optimization_level = 3;
  /// Largest scratch space, in bytes, one kernel may use (0 = no limit).
  size_t workspace_size = 0;
  /// CUDA: float32 matrix multiplies and convolutions may use TF32 tensor cores (10-bit mantissa
  /// products, float32 accumulation). False keeps them in full float32.
  bool allow_tf32 = true;
  /// Kernel names (tactics, as engine.inspect() shows them: "cuda.attention.cudnn") the builder
  /// must not pick; the layer then takes the next kernel that accepts it. For working around a
  /// library kernel and for testing the others. Unknown names are an error (validate()).
  std::vector<std::string> disabled_tactics;
  /// Calls averaged per timing round when a kernel times its candidates (each is timed in 3 rounds
  /// and keeps the median round); 0 = the kernels' default, 5.
  int timing_iterations = 0;
  /// Folder where kernels keep what they chose by timing, across processes (CUDA convolution plans:
  /// docs/cuda.md); "" = the folder of the generated kernels' cache ($TENSORFORGE_KERNEL_CACHE, ...).
  std::string timing_cache_dir;
  /// Threads that prepare kernels before they are created and timed (cuDNN convolution plans, NVRTC
  /// compiles: the work that needs no device time, for all layers at once); 0 = the machine's cores,
  /// up to 8 (the default); 1 = everything on the building thread. The engine is the same either way.
  int build_threads = 0;
  /// Throws Error if a field is out of range.
  void validate() const;
};

/// Compiles networks into engines under one configuration.
class Builder {
 public:
  /// A builder using `config` (validated here).
  explicit Builder(const BuilderConfig& config = {});
  /// Validates `network`, picks a kernel for every layer, plans memory and returns the engine.
  Engine build(const Network& network) const;
  /// For a network with named sizes (Network::add_size): checks that it specializes at every
  /// size's min and max, builds the plan for the opt values and returns the DynamicEngine that
  /// makes the others on first use, keeping the `max_plans` most recently used (1..1024).
  DynamicEngine build_dynamic(const Network& network, int max_plans = 16) const;
  /// The configuration.
  const BuilderConfig& config() const { return config_; }

 private:
  BuilderConfig config_;
};

}  // namespace tensorforge
