// ExecutionContext: owns the activation arena; binds caller buffers and runs the steps in order.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/engine_impl.h"

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
};

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
  state_->bindings = bindings;
  execute();
}

void ExecutionContext::execute() {
  const EngineImpl& e = engine_.impl();
  State& s = *state_;
  for (size_t i = 0; i < s.bindings.size(); ++i) {
    const IOTensorInfo& t = e.io[i];
    if (!s.bindings[i] && t.dims.volume() > 0)
      throw Error(ErrorCode::kInvalidArgument, std::string("execute: no buffer bound for ") +
                                                   (t.is_input ? "input" : "output") + " '" + t.name + "'");
  }
  for (const State::Patch& p : s.patches) p.view->data = s.bindings[p.binding];
  void* workspace = s.arena.data() + e.workspace_offset;
  struct StreamScope {  // kernels read the stream from device::current_stream()
    explicit StreamScope(void* st) : prev(device::current_stream()) { device::set_current_stream(st); }
    ~StreamScope() { device::set_current_stream(prev); }
    void* prev;
  } scope(s.stream);
  if (!s.profiling) {
    for (size_t k = 0; k < e.steps.size(); ++k) e.steps[k].kernel->run(s.in[k].data(), s.out[k].data(), workspace);
  } else {
    s.step_ms.resize(e.steps.size(), 0.0);
    device::synchronize(e.config.device);  // CUDA: time each layer's own work, not its launch
    for (size_t k = 0; k < e.steps.size(); ++k) {
      auto t0 = std::chrono::steady_clock::now();
      e.steps[k].kernel->run(s.in[k].data(), s.out[k].data(), workspace);
      device::synchronize(e.config.device);
      s.step_ms[k] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    ++s.profiled_runs;
  }
  for (const OutputCopy& c : e.output_copies) {
    const ir::TensorDesc& t = e.graph.tensors[c.src_tensor];
    const TensorLocation& loc = e.locations[c.src_tensor];
    const void* src = loc.kind == TensorLocation::kArena      ? s.arena.data() + loc.offset
                      : loc.kind == TensorLocation::kConstant ? loc.data
                                                              : s.bindings[loc.binding];
    size_t n = static_cast<size_t>(t.dims.volume()) * element_size(t.dtype);
    device::copy_async(e.config.device, s.bindings[c.dst_binding], src, n);
  }
}

}  // namespace tensorforge
