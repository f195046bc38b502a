// Kernel preparation on helper threads (see prepare.h).
#include "builder/prepare.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "kernels/cuda/device_info.h"

namespace tensorforge {

KernelSpec kernel_spec(const ir::Graph& graph, const ir::Layer& l, const BuilderConfig& config) {
  KernelSpec spec{l, {}, {}, config};
  for (int id : l.inputs) spec.inputs.push_back(id >= 0 ? &graph.tensors[id] : nullptr);
  for (int id : l.outputs) spec.outputs.push_back(&graph.tensors[id]);
  return spec;
}

int preparation_threads(const BuilderConfig& config) {
  if (config.build_threads > 0) return config.build_threads;
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(cores, 1u, 8u));
}

int prepare_kernels(const ir::Graph& graph, const std::vector<KernelEntry>& list, const BuilderConfig& config,
                    const std::vector<std::string>& tactics) {
  struct Job {
    const ir::Layer* layer;
    void (*prepare)(const KernelSpec&);
  };
  std::vector<Job> jobs;
  for (size_t li = 0; li < graph.layers.size(); ++li) {
    const ir::Layer& l = graph.layers[li];
    if (l.kind == LayerKind::kConstant) continue;
    const std::string want = li < tactics.size() ? tactics[li] : std::string();
    for (const KernelEntry& e : list) {
      if (e.kind != l.kind || !e.prepare || (!want.empty() && want != e.tactic)) continue;
      if (want.empty() && std::find(config.disabled_tactics.begin(), config.disabled_tactics.end(), e.tactic) !=
                              config.disabled_tactics.end())
        continue;
      jobs.push_back({&l, e.prepare});
    }
  }
  const int threads = std::min<int>(preparation_threads(config), static_cast<int>(jobs.size()));
  if (jobs.size() < 2 || threads < 2) return 0;

  const int device = config.device == DeviceKind::kCUDA ? cuda::current_device() : 0;
  std::atomic<size_t> next{0};
  auto work = [&] {
    if (config.device == DeviceKind::kCUDA) cuda::set_current_device(device);
    for (size_t j = next++; j < jobs.size(); j = next++) {
      try {
        jobs[j].prepare(kernel_spec(graph, *jobs[j].layer, config));
      } catch (...) {  // create() redoes the work and reports what goes wrong
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (std::thread& t : pool) t.join();
  return static_cast<int>(jobs.size());
}

}  // namespace tensorforge
