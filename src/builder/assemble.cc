// Engine assembly, shared by the builder and the file reader: kernels per layer, tensor locations,
// the activation arena plan and the copies for outputs that no layer writes.
#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

#include "builder/memory_planner.h"
#include "builder/prepare.h"
#include "builder/tactic_timing.h"
#include "builder/progress.h"
#include "common/build_clock.h"
#include "kernels/cpu/spatial.h"
#include "kernels/cuda/device_info.h"
#include "builder/weight_pool.h"
#include "runtime/engine_impl.h"
#include "tensorforge/logger.h"

namespace tensorforge {

namespace {

std::string describe_inputs(const ir::Graph& g, const ir::Layer& l) {
  std::ostringstream os;
  for (size_t i = 0; i < l.inputs.size(); ++i) {
    os << (i ? ", " : "");
    if (l.inputs[i] < 0)
      os << "none";
    else
      os << to_string(g.tensors[l.inputs[i]].dtype) << g.tensors[l.inputs[i]].dims.str();
  }
  return os.str();
}

const std::vector<KernelEntry>& kernels_for(DeviceKind device) {
  if (device == DeviceKind::kCPU) return cpu::kernels();
  device::require_cuda();
#ifdef TENSORFORGE_WITH_CUDA
  return cuda::kernels();
#else
  throw Error(ErrorCode::kInternal, "unreachable: require_cuda() passed in a build without CUDA");
#endif
}

// CUDA engines keep their constants in one device buffer; locations point into it. With a pool
// (a DynamicEngine's plans), each constant points into the pool's shared copy of its weights.
void upload_constants(EngineImpl& impl, WeightPool* pool) {
  if (pool) {
    for (const ir::Layer& l : impl.graph.layers) {
      if (l.kind != LayerKind::kConstant) continue;
      impl.shared_weights.push_back(pool->device_copy(ir::attr_weights(l, "value"), impl.config.device));
      impl.locations[l.outputs[0]].data = impl.shared_weights.back()->data();
    }
    return;
  }
  size_t total = 0;
  std::vector<std::pair<int, size_t>> placed;  // (tensor id, offset)
  for (const ir::Layer& l : impl.graph.layers) {
    if (l.kind != LayerKind::kConstant) continue;
    placed.push_back({l.outputs[0], total});
    total += (ir::attr_weights(l, "value").size_bytes() + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  }
  impl.device_weights = device::Buffer(impl.config.device, total);
  size_t k = 0;
  for (const ir::Layer& l : impl.graph.layers) {
    if (l.kind != LayerKind::kConstant) continue;
    const Weights& w = ir::attr_weights(l, "value");
    uint8_t* dst = impl.device_weights.data() + placed[k++].second;
    device::upload(impl.config.device, dst, w.data(), w.size_bytes());
    impl.locations[l.outputs[0]].data = dst;
  }
}

Step make_step(const ir::Graph& g, int li, const std::vector<KernelEntry>& list, std::string tactic,
               const BuilderConfig& config, HintUse hints) {
  const ir::Layer& l = g.layers[li];
  // An engine file from a build with oneDNN read by one without it: the layer takes the kernel a build
  // here would pick (the same layer, computed another way).
  if ((tactic == "cpu.conv.onednn" || tactic == "cpu.matmul.onednn") && !cpu::built_with_onednn()) {
    log(Severity::kWarning, "layer '" + l.name + "': the engine names kernel '" + tactic + "', which this build "
                            "lacks (it has no oneDNN); the kernel a build here picks computes the layer");
    tactic.clear();
  }
  KernelSpec spec = kernel_spec(g, l, config, hints);
  bool known = false;
  // Levels 4-5 time every kernel that accepts the layer against the others (tactic_timing.h);
  // below, and for an engine file's named tactic, the first that accepts is kept.
  const bool compare = tactic.empty() && times_tactics(config);
  std::vector<TacticCandidate> accepted;
  for (const KernelEntry& e : list) {
    if (e.kind != l.kind || (!tactic.empty() && tactic != e.tactic)) continue;
    known = true;
    if (tactic.empty() && std::find(config.disabled_tactics.begin(), config.disabled_tactics.end(), e.tactic) !=
                              config.disabled_tactics.end())
      continue;
    if (auto k = e.create(spec)) {
      if (!compare) return Step{li, e.tactic, std::move(k)};
      accepted.push_back(TacticCandidate{&e, std::move(k)});
    }
  }
  if (accepted.size() == 1) return Step{li, accepted[0].entry->tactic, std::move(accepted[0].kernel)};
  if (accepted.size() > 1) {
    std::string summary;
    const size_t best = choose_by_timing(g, l, accepted, config, summary);
    log(Severity::kInfo, "layer '" + l.name + "': kernels timed: " + summary + "; keeps " + accepted[best].entry->tactic);
    return Step{li, accepted[best].entry->tactic, with_tactic_summary(std::move(accepted[best].kernel), summary)};
  }
  std::string where = "layer '" + l.name + "' (" + to_string(l.kind) + ") with inputs " + describe_inputs(g, l);
  if (!tactic.empty() && !known)
    throw Error(ErrorCode::kCorruptFile, where + ": the engine names kernel '" + tactic + "', which this build lacks");
  if (!tactic.empty())
    throw Error(ErrorCode::kCorruptFile, where + ": kernel '" + tactic + "' does not accept this layer");
  throw Error(ErrorCode::kUnsupported, where + ": no kernel supports this layer on this device");
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool is_known_tactic(const std::string& name) {
  for (const KernelEntry& e : cpu::kernels())
    if (name == e.tactic) return true;
#ifdef TENSORFORGE_WITH_CUDA
  for (const KernelEntry& e : cuda::kernels())
    if (name == e.tactic) return true;
#endif
  return false;
}

std::shared_ptr<EngineImpl> assemble_engine(ir::Graph graph, const BuilderConfig& config,
                                            const std::vector<std::string>& tactics, WeightPool* pool,
                                            HintUse hints) {
  auto impl = std::make_shared<EngineImpl>();
  impl->graph = std::move(graph);
  impl->config = config;
  if (config.device == DeviceKind::kCUDA) {
    device::require_cuda();
    impl->compute_capability = cuda::compute_capability();
    impl->libraries = cuda::library_versions();
  }
  const ir::Graph& g = impl->graph;
  const int nt = static_cast<int>(g.tensors.size());
  impl->locations.assign(nt, TensorLocation{});

  for (int id : g.inputs) {
    impl->locations[id] = {TensorLocation::kBinding, 0, static_cast<int>(impl->io.size()), nullptr};
    impl->io.push_back({g.tensors[id].name, g.tensors[id].dtype, g.tensors[id].dims, true});
    impl->io_tensor.push_back(id);
  }

  // Constants point at their weights; a reshape whose result the caller does not receive shares
  // its input's bytes (tensors are contiguous and never written after they are produced); every
  // other layer becomes a step. root[t] is the tensor whose memory t uses.
  const auto& list = kernels_for(config.device);
  std::vector<int> step_of_layer(g.layers.size(), -1);
  std::vector<int> root(nt);
  for (int id = 0; id < nt; ++id) root[id] = id;
  std::vector<char> is_output(nt, 0);
  for (int id : g.outputs) is_output[id] = 1;
  impl->tactics.resize(g.layers.size());
  std::map<std::string, double> kernel_ms;  // creation time per tactic
  BuildClock clock;                         // parts the kernels time (plans, timing, compiles)
  BuildProgress progress(g.layers.size());
  // What kernel creation can do without the device (cuDNN plans, NVRTC compiles) runs on helper
  // threads in layer order while the kernels are created and timed one by one below, each once its
  // own layer's preparation is done.
  KernelPreparation preparation(g, list, impl->config, tactics, hints);
  if (preparation.calls() > 0)
    progress.layer(0, "preparing kernels on " + std::to_string(preparation_threads(impl->config)) + " helper threads");
  double waited_ms = 0;  // the builder's thread waiting for preparation
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.kind == LayerKind::kConstant) {
      const Weights& w = ir::attr_weights(l, "value");
      impl->locations[l.outputs[0]] = {TensorLocation::kConstant, 0, -1, w.data()};
      impl->weights_size += w.size_bytes();
      impl->tactics[li] = "constant";
      continue;
    }
    if (l.kind == LayerKind::kReshape && (tactics.empty() || tactics[li] == kAliasTactic)) {
      int in = root[l.inputs[0]];
      bool can = !is_output[l.outputs[0]] && impl->locations[in].kind != TensorLocation::kConstant;
      if (can) {
        root[l.outputs[0]] = in;
        impl->tactics[li] = kAliasTactic;
        continue;
      }
      if (!tactics.empty())
        throw Error(ErrorCode::kCorruptFile, "layer '" + l.name + "' is marked '" + kAliasTactic +
                                                 "' but its input is a constant or its output a network output");
    }
    std::string want = tactics.empty() ? std::string() : tactics[li];
    step_of_layer[li] = static_cast<int>(impl->steps.size());
    progress.layer(li, "layer '" + l.name + "' (" + to_string(l.kind) + ")");
    waited_ms += preparation.wait_for(li);
    const auto created = std::chrono::steady_clock::now();
    Step step = make_step(g, static_cast<int>(li), list, want, impl->config, hints);
    kernel_ms[step.tactic] += ms_since(created);
    impl->tactics[li] = step.tactic;
    // A layer whose outputs are all empty computes nothing: its kernel is created (the tactic is
    // checked) but never run, so no kernel loops over the leading dims of an empty tensor.
    bool empty = true;
    for (int id : l.outputs) empty = empty && g.tensors[id].dims.volume() == 0;
    if (!empty) impl->steps.push_back(std::move(step));
  }

  if (preparation.calls() > 0) {
    impl->build_ms.push_back({"kernel preparation", preparation.finish()});
    impl->build_ms.push_back({"waiting for kernel preparation", waited_ms});
    for (const auto& [part, ms] : preparation.parts())
      impl->build_ms.push_back({"helpers' " + part + " (summed over threads)", ms});
  }
  for (const auto& [tactic, ms] : kernel_ms) impl->build_ms.push_back({"kernels " + tactic, ms});
  for (const auto& [part, ms] : clock.ms()) impl->build_ms.push_back({"of which " + part, ms});
  const auto memory = std::chrono::steady_clock::now();

  for (int id : g.outputs) {
    int binding = static_cast<int>(impl->io.size());
    impl->io.push_back({g.tensors[id].name, g.tensors[id].dtype, g.tensors[id].dims, false});
    impl->io_tensor.push_back(id);
    if (impl->locations[id].kind == TensorLocation::kAbsent)
      impl->locations[id] = {TensorLocation::kBinding, 0, binding, nullptr};
    else
      impl->output_copies.push_back({id, binding});
  }

  // Arena tensors: produced by a step, not bound to the caller. Lifetime = producing step .. last reader.
  std::vector<int> arena_ids;
  std::vector<BufferLifetime> lifetimes;
  std::vector<int> index_of(nt, -1);
  for (int id = 0; id < nt; ++id) {
    const ir::TensorDesc& t = g.tensors[id];
    if (impl->locations[id].kind != TensorLocation::kAbsent || t.producer < 0 || root[id] != id) continue;
    int s = step_of_layer[t.producer];
    index_of[id] = static_cast<int>(arena_ids.size());
    arena_ids.push_back(id);
    lifetimes.push_back({static_cast<size_t>(t.dims.volume()) * element_size(t.dtype), s, s});
  }
  for (size_t s = 0; s < impl->steps.size(); ++s)
    for (int id : g.layers[impl->steps[s].layer].inputs)
      if (id >= 0 && index_of[root[id]] >= 0) lifetimes[index_of[root[id]]].last = static_cast<int>(s);
  // An arena tensor copied to an output lives until the end.
  for (const OutputCopy& c : impl->output_copies)
    if (index_of[c.src_tensor] >= 0) lifetimes[index_of[c.src_tensor]].last = static_cast<int>(impl->steps.size());

  size_t total = 0;
  std::vector<size_t> offsets = plan_memory(lifetimes, total);
  for (size_t k = 0; k < arena_ids.size(); ++k)
    impl->locations[arena_ids[k]] = {TensorLocation::kArena, offsets[k], -1, nullptr};
  for (int id = 0; id < nt; ++id)
    if (root[id] != id) impl->locations[id] = impl->locations[root[id]];

  size_t workspace = 0;
  for (const Step& st : impl->steps) workspace = std::max(workspace, st.kernel->workspace_size());
  if (config.workspace_size && workspace > config.workspace_size)
    throw Error(ErrorCode::kUnsupported, "the kernels need " + std::to_string(workspace) +
                                             " bytes of workspace, more than workspace_size=" +
                                             std::to_string(config.workspace_size));
  impl->workspace_offset = (total + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  impl->arena_size = impl->workspace_offset + workspace;
  if (config.device != DeviceKind::kCPU) upload_constants(*impl, pool);
  impl->build_ms.push_back({"memory", ms_since(memory)});
  return impl;
}

}  // namespace tensorforge
