// What an engine holds: its graph, one kernel per executed layer, and the memory plan.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/kernel.h"
#include "runtime/device.h"
#include "tensorforge/builder.h"
#include "tensorforge/engine.h"

namespace tensorforge {

/// Where a tensor's bytes live during execution.
struct TensorLocation {
  enum Kind : uint8_t { kArena, kBinding, kConstant, kAbsent } kind = kAbsent;
  size_t offset = 0;             ///< kArena: byte offset into the arena.
  int binding = -1;              ///< kBinding: index into io_tensors().
  const void* data = nullptr;    ///< kConstant: the weights' bytes.
};

/// The tactic of a reshape that runs no kernel: its output shares its input's memory.
inline constexpr const char* kAliasTactic = "alias";

/// One executed layer.
struct Step {
  int layer;                      ///< Index into graph.layers.
  std::string tactic;             ///< Registry name of the chosen kernel.
  std::unique_ptr<Kernel> kernel;
};

/// A copy an execution performs after the steps: an output that is an input or a constant.
struct OutputCopy {
  int src_tensor;
  int dst_binding;
};

struct EngineImpl {
  ir::Graph graph;
  BuilderConfig config;
  std::vector<IOTensorInfo> io;           ///< Inputs then outputs.
  std::vector<int> io_tensor;             ///< Tensor id of each io entry.
  std::vector<std::string> tactics;       ///< Per layer ("constant" for constants).
  std::vector<Step> steps;
  std::vector<TensorLocation> locations;  ///< Per tensor.
  std::vector<OutputCopy> output_copies;
  size_t arena_size = 0;
  size_t workspace_offset = 0;            ///< Scratch region inside the arena, shared by all steps.
  size_t weights_size = 0;
  device::Buffer device_weights;          ///< CUDA engines: every constant, uploaded once at build/load.
  /// CUDA plans of a DynamicEngine: the constants' device copies, shared with its other plans
  /// (builder/weight_pool.h); device_weights is then empty.
  std::vector<std::shared_ptr<device::Buffer>> shared_weights;
  int compute_capability = 0;             ///< CUDA engines: the GPU architecture built for (90 = 9.0).
  std::vector<std::pair<std::string, std::string>> libraries;  ///< CUDA engines: (library, version) at build.
  /// Where the build's (or the load's) time went, in milliseconds: "optimize" (the passes, builds
  /// only), "kernels <tactic>" (creating that tactic's kernels: plan choice, timing, code
  /// generation), "of which <part>" (what the kernels timed inside that, common/build_clock.h),
  /// "memory" (the arena plan and the constants' upload). Not serialized.
  std::vector<std::pair<std::string, double>> build_ms;
};

class WeightPool;

/// Creates kernels (the given tactics, or the first CPU kernel that accepts each layer when
/// `tactics` is empty), plans memory and fills an EngineImpl. The graph must be valid. With a
/// `pool`, CUDA constants take its shared device copies (the graph's weights must come from
/// pool->intern) instead of an upload of their own. `hints`: a dynamic engine's plans record or follow
/// their kernels' timed choices (kernels/tactic_hints.h).
std::shared_ptr<EngineImpl> assemble_engine(ir::Graph graph, const BuilderConfig& config,
                                            const std::vector<std::string>& tactics, WeightPool* pool = nullptr,
                                            HintUse hints = {});

}  // namespace tensorforge
