// Kernel preparation on helper threads (see prepare.h).
#include "builder/prepare.h"

#include <algorithm>
#include <chrono>

#include "common/build_clock.h"
#include "kernels/cuda/device_info.h"

namespace tensorforge {

namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

KernelSpec kernel_spec(const ir::Graph& graph, const ir::Layer& l, const BuilderConfig& config, HintUse hints) {
  KernelSpec spec{l, {}, {}, config, hints};
  for (int id : l.inputs) {
    spec.inputs.push_back(id >= 0 ? &graph.tensors[id] : nullptr);
    const int producer = id >= 0 ? graph.tensors[id].producer : -1;
    spec.constants.push_back(producer >= 0 && graph.layers[producer].kind == LayerKind::kConstant
                                 ? &ir::attr_weights(graph.layers[producer], "value")
                                 : nullptr);
  }
  for (int id : l.outputs) spec.outputs.push_back(&graph.tensors[id]);
  return spec;
}

int preparation_threads(const BuilderConfig& config) {
  if (config.build_threads > 0) return config.build_threads;
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(cores, 1u, 8u));
}

KernelPreparation::KernelPreparation(const ir::Graph& graph, const std::vector<KernelEntry>& list,
                                     const BuilderConfig& config, const std::vector<std::string>& tactics,
                                     HintUse hints)
    : graph_(graph), config_(config), hints_(hints), remaining_(graph.layers.size(), 0) {
  start_ = last_ = std::chrono::steady_clock::now();
  for (size_t li = 0; li < graph.layers.size(); ++li) {
    const ir::Layer& l = graph.layers[li];
    if (l.kind == LayerKind::kConstant) continue;
    const std::string want = li < tactics.size() ? tactics[li] : std::string();
    for (const KernelEntry& e : list) {
      if (e.kind != l.kind || !e.prepare || (!want.empty() && want != e.tactic)) continue;
      if (want.empty() && std::find(config.disabled_tactics.begin(), config.disabled_tactics.end(), e.tactic) !=
                              config.disabled_tactics.end())
        continue;
      jobs_.push_back({li, e.prepare});
    }
  }
  const int threads = std::min<int>(preparation_threads(config), static_cast<int>(jobs_.size()));
  if (jobs_.size() < 2 || threads < 2) {
    jobs_.clear();
    return;
  }
  for (const Job& j : jobs_) ++remaining_[j.layer];
  device_ = config.device == DeviceKind::kCUDA ? cuda::current_device() : 0;
  for (int t = 0; t < threads; ++t) pool_.emplace_back([this] { work(); });
}

KernelPreparation::~KernelPreparation() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = jobs_.size();
  }
  finish();
}

void KernelPreparation::work() {
  if (config_.device == DeviceKind::kCUDA) cuda::set_current_device(device_);
  BuildClock clock;  // the parts this helper's prepare calls time, summed into parts_ at the end
  for (;;) {
    size_t j;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_ == jobs_.size()) {
        for (const auto& [part, ms] : clock.ms()) parts_[part] += ms;
        return;
      }
      j = next_++;
    }
    try {
      jobs_[j].prepare(kernel_spec(graph_, graph_.layers[jobs_[j].layer], config_, hints_));
    } catch (...) {  // create() redoes the work and reports what goes wrong
    }
    std::lock_guard<std::mutex> lock(mu_);
    last_ = std::chrono::steady_clock::now();
    if (--remaining_[jobs_[j].layer] == 0) done_.notify_all();
  }
}

double KernelPreparation::wait_for(size_t layer) {
  if (layer >= remaining_.size()) return 0;
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return remaining_[layer] == 0; });
  return ms_between(start, std::chrono::steady_clock::now());
}

double KernelPreparation::finish() {
  for (std::thread& t : pool_) t.join();
  pool_.clear();
  return ms_between(start_, last_);
}

int prepare_kernels(const ir::Graph& graph, const std::vector<KernelEntry>& list, const BuilderConfig& config,
                    const std::vector<std::string>& tactics) {
  KernelPreparation preparation(graph, list, config, tactics);
  preparation.finish();
  return preparation.calls();
}

}  // namespace tensorforge
