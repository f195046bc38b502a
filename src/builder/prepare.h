// The builder's kernel preparation: the work of kernel creation that needs no device time
// (KernelEntry::prepare: cuDNN plans, NVRTC compiles), run on helper threads in layer order while
// the builder's thread creates and times the kernels one by one, each after its own layer's
// preparation is done.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ir/graph.h"
#include "kernels/kernel.h"

namespace tensorforge {

/// The spec of layer `l` of `graph` for kernel factories (pointers into the graph's tensors).
KernelSpec kernel_spec(const ir::Graph& graph, const ir::Layer& l, const BuilderConfig& config, HintUse hints = {});

/// Threads a build prepares kernels on: BuilderConfig.build_threads, or when it is 0 the machine's
/// cores up to 8.
int preparation_threads(const BuilderConfig& config);

/// Calls the prepare function of the entries of `list` that could take each layer of `graph`
/// (kind, `tactics[layer]` when given, BuilderConfig.disabled_tactics), for every layer other than
/// constants, on preparation_threads(config) threads that use the constructing thread's CUDA
/// device, in layer order. Nothing runs with fewer than two calls or one thread. Never throws for
/// a prepare function (they must not throw; whatever escapes one is dropped, and create() then
/// does the work itself). The graph and config must outlive it; the destructor drops the calls not
/// yet started and waits for those running (a build that failed half way ends soon).
class KernelPreparation {
 public:
  KernelPreparation(const ir::Graph& graph, const std::vector<KernelEntry>& list, const BuilderConfig& config,
                    const std::vector<std::string>& tactics, HintUse hints = {});
  ~KernelPreparation();
  KernelPreparation(const KernelPreparation&) = delete;
  KernelPreparation& operator=(const KernelPreparation&) = delete;

  /// The number of prepare calls it makes (0: none, nothing runs).
  int calls() const { return static_cast<int>(jobs_.size()); }
  /// Blocks until every prepare call for layer `layer` has returned; milliseconds waited.
  double wait_for(size_t layer);
  /// Waits for all calls; milliseconds from construction until the last call returned.
  double finish();
  /// After finish(): the milliseconds the prepare calls timed by part (TimedPart: "cuDNN
  /// convolution plans", "NVRTC compiles", ...), summed over the helper threads; set against
  /// finish()'s wall time it says how far the helpers ran in parallel.
  const std::map<std::string, double>& parts() const { return parts_; }

 private:
  struct Job {
    size_t layer;
    void (*prepare)(const KernelSpec&);
  };
  void work();

  const ir::Graph& graph_;
  const BuilderConfig& config_;
  HintUse hints_;
  std::vector<Job> jobs_;
  std::vector<int> remaining_;  // per layer: prepare calls not yet returned
  std::map<std::string, double> parts_;  // the helpers' timed parts (under mu_ until finish())
  std::mutex mu_;
  std::condition_variable done_;
  size_t next_ = 0;                                        // the next job to take (under mu_)
  std::chrono::steady_clock::time_point start_, last_;     // construction, the last call's return
  int device_ = 0;
  std::vector<std::thread> pool_;
};

/// Runs a KernelPreparation to its end: the number of prepare calls made.
int prepare_kernels(const ir::Graph& graph, const std::vector<KernelEntry>& list, const BuilderConfig& config,
                    const std::vector<std::string>& tactics);

}  // namespace tensorforge
