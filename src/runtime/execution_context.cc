// ExecutionContext: owns the activation arena; binds caller buffers and runs the steps in order.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "builder/memory_planner.h"
#include "runtime/engine_impl.h"
#include "tensorforge/logger.h"

namespace tensorforge {

struct ExecutionContext::State {
  device::Buffer arena;
  void* stream = nullptr;
  std::vector<void*> bindings;
  std::vector<std::vector<TensorView>> in, out;  // per step
  struct Patch {
    TensorView* view;
    int binding;
  };
  std::vector<Patch> patches;  // views whose data is a caller binding
  bool profiling = false;
  std::vector<double> step_ms;  // per step, summed over profiled runs
  int profiled_runs = 0;
  // CUDA graphs: a direct graph replays with the bindings it was captured with (up to
  // kMaxDirectGraphs of them, least recently used replaced); `staged` reads and writes
  // context-owned copies of the I/O tensors, for calls whose addresses have no direct graph.
  struct DirectGraph {
    std::vector<void*> bindings;
    device::Graph graph;
    uint64_t last_use = 0;
  };
  bool use_graphs = true;
  std::vector<DirectGraph> directs;
  std::vector<std::vector<void*>> recent;  // binding sets seen without a direct graph, newest last
  uint64_t calls = 0;
  device::Graph staged;
  device::Buffer staging;
  std::vector<void*> staging_ptrs;
  int graph_replays = 0;
  // One call at a time: a second concurrent execute() is refused instead of corrupting this state.
  std::atomic<bool> busy{false};
  // CUDA: the end of the last call's work on `last_stream`; a call on another stream waits for it
  // before reusing the arena.
  device::Event done;
  void* last_stream = nullptr;
  bool ran = false;
};

namespace {

// Holds a context's busy flag for one execute() call.
class CallGuard {
 public:
  explicit CallGuard(std::atomic<bool>& busy) : busy_(busy) {
    if (busy_.exchange(true, std::memory_order_acquire))
      throw Error(ErrorCode::kInvalidArgument,
                  "execute: this execution context is already running a call on another thread; use one context "
                  "per concurrent caller (Engine.create_execution_context()), or call the engine itself, which "
                  "takes a free context per call");
  }
  ~CallGuard() { busy_.store(false, std::memory_order_release); }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

 private:
  std::atomic<bool>& busy_;
};

}  // namespace

ExecutionContext::ExecutionContext(Engine engine) : engine_(std::move(engine)), state_(std::make_unique<State>()) {
  const EngineImpl& e = engine_.impl();
  State& s = *state_;
  s.arena = device::Buffer(e.config.device, e.arena_size);
  s.bindings.assign(e.io.size(), nullptr);
  s.in.resize(e.steps.size());
  s.out.resize(e.steps.size());
  auto view_of = [&](int id) {
    TensorView v;
    if (id < 0) return v;
    const ir::TensorDesc& t = e.graph.tensors[id];
    const TensorLocation& loc = e.locations[id];
    v.dtype = t.dtype;
    v.dims = t.dims;
    if (loc.kind == TensorLocation::kArena) v.data = s.arena.data() + loc.offset;
    if (loc.kind == TensorLocation::kConstant) v.data = const_cast<void*>(loc.data);
    return v;
  };
  for (size_t k = 0; k < e.steps.size(); ++k) {
    const ir::Layer& l = e.graph.layers[e.steps[k].layer];
    for (int id : l.inputs) s.in[k].push_back(view_of(id));
    for (int id : l.outputs) s.out[k].push_back(view_of(id));
  }
  for (size_t k = 0; k < e.steps.size(); ++k) {
    const ir::Layer& l = e.graph.layers[e.steps[k].layer];
    for (size_t i = 0; i < l.inputs.size(); ++i)
      if (l.inputs[i] >= 0 && e.locations[l.inputs[i]].kind == TensorLocation::kBinding)
        s.patches.push_back({&s.in[k][i], e.locations[l.inputs[i]].binding});
    for (size_t i = 0; i < l.outputs.size(); ++i)
      if (e.locations[l.outputs[i]].kind == TensorLocation::kBinding)
        s.patches.push_back({&s.out[k][i], e.locations[l.outputs[i]].binding});
  }
}

ExecutionContext::~ExecutionContext() = default;
ExecutionContext::ExecutionContext(ExecutionContext&&) noexcept = default;
ExecutionContext& ExecutionContext::operator=(ExecutionContext&&) noexcept = default;

ExecutionContext Engine::create_execution_context() const { return ExecutionContext(*this); }

void ExecutionContext::set_tensor_address(const std::string& name, void* data) {
  const auto& io = engine_.io_tensors();
  for (size_t i = 0; i < io.size(); ++i)
    if (io[i].name == name) {
      state_->bindings[i] = data;
      return;
    }
  std::string names;
  for (const auto& t : io) names += (names.empty() ? "" : ", ") + t.name;
  throw Error(ErrorCode::kInvalidArgument, "set_tensor_address: the engine has no input or output named '" + name +
                                               "' (it has: " + names + ")");
}

void ExecutionContext::set_profiling(bool enabled) { state_->profiling = enabled; }
void ExecutionContext::set_stream(void* stream) { state_->stream = stream; }
int ExecutionContext::profiled_runs() const { return state_->profiled_runs; }

void ExecutionContext::reset_profile() {
  state_->step_ms.clear();
  state_->profiled_runs = 0;
}

std::vector<double> ExecutionContext::layer_times_ms() const {
  const EngineImpl& e = engine_.impl();
  std::vector<double> per_layer(e.graph.layers.size(), 0.0);
  for (size_t k = 0; k < state_->step_ms.size(); ++k) per_layer[e.steps[k].layer] = state_->step_ms[k];
  return per_layer;
}

void ExecutionContext::execute(const std::vector<void*>& bindings) {
  if (bindings.size() != state_->bindings.size())
    throw Error(ErrorCode::kInvalidArgument, "execute: expected " + std::to_string(state_->bindings.size()) +
                                                 " bindings (inputs then outputs), got " +
                                                 std::to_string(bindings.size()));
  CallGuard guard(state_->busy);
  state_->bindings = bindings;
  run();
}

void ExecutionContext::set_cuda_graphs(bool enabled) {
  state_->use_graphs = enabled;
  if (!enabled) {
    state_->directs.clear();
    state_->recent.clear();
    state_->staged = device::Graph();
  }
}

int ExecutionContext::cuda_graph_replays() const { return state_->graph_replays; }

int ExecutionContext::direct_graphs() const { return static_cast<int>(state_->directs.size()); }

namespace {

size_t io_bytes(const IOTensorInfo& t) { return static_cast<size_t>(t.dims.volume()) * element_size(t.dtype); }

}  // namespace

// Copies the outputs no step writes (inputs or constants marked as outputs, arena tensors read later).
void ExecutionContext::copy_outputs(const std::vector<void*>& bindings) {
  const EngineImpl& e = engine_.impl();
  for (const OutputCopy& c : e.output_copies) {
    const ir::TensorDesc& t = e.graph.tensors[c.src_tensor];
    const TensorLocation& loc = e.locations[c.src_tensor];
    const void* src = loc.kind == TensorLocation::kArena      ? state_->arena.data() + loc.offset
                      : loc.kind == TensorLocation::kConstant ? loc.data
                                                              : bindings[loc.binding];
    size_t n = static_cast<size_t>(t.dims.volume()) * element_size(t.dtype);
    device::copy_async(e.config.device, bindings[c.dst_binding], src, n);
  }
}

void ExecutionContext::run_steps(const std::vector<void*>& bindings) {
  const EngineImpl& e = engine_.impl();
  State& s = *state_;
  for (const State::Patch& p : s.patches) p.view->data = bindings[p.binding];
  void* workspace = s.arena.data() + e.workspace_offset;
  for (size_t k = 0; k < e.steps.size(); ++k) e.steps[k].kernel->run(s.in[k].data(), s.out[k].data(), workspace);
  copy_outputs(bindings);
}

void ExecutionContext::run_profiled() {
  const EngineImpl& e = engine_.impl();
  State& s = *state_;
  for (const State::Patch& p : s.patches) p.view->data = s.bindings[p.binding];
  void* workspace = s.arena.data() + e.workspace_offset;
  s.step_ms.resize(e.steps.size(), 0.0);
  device::synchronize(e.config.device);  // CUDA: time each layer's own work, not its launch
  for (size_t k = 0; k < e.steps.size(); ++k) {
    auto t0 = std::chrono::steady_clock::now();
    e.steps[k].kernel->run(s.in[k].data(), s.out[k].data(), workspace);
    device::synchronize(e.config.device);
    s.step_ms[k] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  ++s.profiled_runs;
  copy_outputs(s.bindings);
}

namespace {

constexpr size_t kMaxDirectGraphs = 4;  // binding sets replayed without copies
constexpr size_t kRecentBindings = 8;   // binding sets remembered until their second call

}  // namespace

// CUDA engines: the first call runs the steps (loading kernels and warming the libraries), then
// captures them as a graph for these addresses; later calls with the same addresses replay it. A
// call with other addresses copies inputs into staging buffers, replays a graph captured on
// those, and copies the outputs out; when the same other addresses come back (PyTorch's caching
// allocator hands a loop's fresh outputs two or three buffers in turn), they get a direct graph of
// their own, so a steady loop replays without copies.
void ExecutionContext::run_graph() {
  const EngineImpl& e = engine_.impl();
  State& s = *state_;
  void* stream = s.stream;
  ++s.calls;
  if (s.directs.empty()) {
    run_steps(s.bindings);
    State::DirectGraph d;
    try {
      d.graph.capture([&] { run_steps(s.bindings); });
    } catch (const Error& err) {  // this call's results stand; later calls run the steps directly
      s.use_graphs = false;
      log(Severity::kWarning, std::string("CUDA graph capture failed, running the engine without graphs: ") +
                                  err.what());
      return;
    }
    d.bindings = s.bindings;
    d.last_use = s.calls;
    s.directs.push_back(std::move(d));
    return;
  }
  ++s.graph_replays;
  for (State::DirectGraph& d : s.directs) {
    if (d.bindings == s.bindings) {
      d.last_use = s.calls;
      d.graph.launch(stream);
      return;
    }
  }
  auto seen = std::find(s.recent.begin(), s.recent.end(), s.bindings);
  if (seen != s.recent.end()) {  // the second call with these addresses: give them a direct graph
    s.recent.erase(seen);
    State::DirectGraph d;
    try {
      d.graph.capture([&] { run_steps(s.bindings); });
    } catch (const Error& err) {  // the staged graph below still serves these addresses
      log(Severity::kWarning, std::string("CUDA graph capture for new addresses failed, copying instead: ") +
                                  err.what());
    }
    if (d.graph.ready()) {
      d.bindings = s.bindings;
      d.last_use = s.calls;
      if (s.directs.size() == kMaxDirectGraphs) {
        s.directs.erase(std::min_element(s.directs.begin(), s.directs.end(),
                                         [](const auto& a, const auto& b) { return a.last_use < b.last_use; }));
      }
      s.directs.push_back(std::move(d));
      s.directs.back().graph.launch(stream);
      return;
    }
  } else {
    s.recent.push_back(s.bindings);
    if (s.recent.size() > kRecentBindings) s.recent.erase(s.recent.begin());
  }
  if (!s.staged.ready()) {
    size_t total = 0;
    std::vector<size_t> offsets;
    for (const IOTensorInfo& t : e.io) {
      offsets.push_back(total);
      total += (io_bytes(t) + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
    }
    s.staging = device::Buffer(e.config.device, total);
    s.staging_ptrs.clear();
    for (size_t off : offsets) s.staging_ptrs.push_back(s.staging.data() + off);
    s.staged.capture([&] { run_steps(s.staging_ptrs); });
  }
  for (size_t i = 0; i < e.io.size(); ++i)
    if (e.io[i].is_input) device::copy_async(e.config.device, s.staging_ptrs[i], s.bindings[i], io_bytes(e.io[i]));
  s.staged.launch(stream);
  for (size_t i = 0; i < e.io.size(); ++i)
    if (!e.io[i].is_input) device::copy_async(e.config.device, s.bindings[i], s.staging_ptrs[i], io_bytes(e.io[i]));
}

void ExecutionContext::execute() {
  CallGuard guard(state_->busy);
  run();
}

void ExecutionContext::run() {
  const EngineImpl& e = engine_.impl();
  State& s = *state_;
  for (size_t i = 0; i < s.bindings.size(); ++i) {
    const IOTensorInfo& t = e.io[i];
    if (!s.bindings[i] && t.dims.volume() > 0)
      throw Error(ErrorCode::kInvalidArgument, std::string("execute: no buffer bound for ") +
                                                   (t.is_input ? "input" : "output") + " '" + t.name + "'");
  }
  struct StreamScope {  // kernels read the stream from device::current_stream()
    explicit StreamScope(void* st) : prev(device::current_stream()) { device::set_current_stream(st); }
    ~StreamScope() { device::set_current_stream(prev); }
    void* prev;
  } scope(s.stream);
  const bool cuda = e.config.device == DeviceKind::kCUDA;
  if (cuda && s.ran && s.stream != s.last_stream) s.done.wait(s.stream);
  if (s.profiling)
    run_profiled();
  else if (cuda && s.use_graphs)
    run_graph();
  else
    run_steps(s.bindings);
  if (cuda) {
    s.done.record(s.stream);
    s.last_stream = s.stream;
    s.ran = true;
  }
}

}  // namespace tensorforge
