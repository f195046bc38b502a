// The builder's kernel preparation: the work of kernel creation that needs no device time
// (KernelEntry::prepare: cuDNN plans, NVRTC compiles), run for all layers at once on helper threads
// before the kernels are created and timed one by one on the builder's thread.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/kernel.h"

namespace tensorforge {

/// The spec of layer `l` of `graph` for kernel factories (pointers into the graph's tensors).
KernelSpec kernel_spec(const ir::Graph& graph, const ir::Layer& l, const BuilderConfig& config);

/// Threads a build prepares kernels on: BuilderConfig.build_threads, or when it is 0 the machine's
/// cores up to 8.
int preparation_threads(const BuilderConfig& config);

/// Calls the prepare function of the entries of `list` that could take each layer of `graph`
/// (kind, `tactics[layer]` when given, BuilderConfig.disabled_tactics), for every layer other than
/// constants, on preparation_threads(config) threads that use the calling thread's CUDA device.
/// Returns the number of calls; nothing happens with fewer than two calls or one thread. Never
/// throws for a prepare function (they must not throw; whatever escapes one is dropped, and
/// create() then does the work itself).
int prepare_kernels(const ir::Graph& graph, const std::vector<KernelEntry>& list, const BuilderConfig& config,
                    const std::vector<std::string>& tactics);

}  // namespace tensorforge
