// DynamicEngine (tensorforge/dynamic_engine.h): plans per binding of a network's named sizes, each
// the network specialized (ir/sizes.h) and built as a static one, kept in a list of the most
// recently used; plans other than opt's take the kernel choices opt's plan timed
// (kernels/tactic_hints.h). Builds run outside the lock, so calls whose plans exist never wait for a build;
// threads needing a plan that another thread is building wait for that build (one build a plan).
#include "tensorforge/dynamic_engine.h"

#include "builder/build_graph.h"
#include "builder/dynamic_engine_state.h"
#include "ir/sizes.h"
#include "opt/constant_memo.h"

namespace tensorforge {


Engine DynamicEngine::plan(const std::vector<Dims>& input_dims) const {
  State& s = *state_;
  const ir::SymBindings values = ir::bind_sizes(s.graph, input_dims);
  std::promise<Engine> promise;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    for (auto it = s.plans.begin(); it != s.plans.end(); ++it)
      if (it->first == values) {
        s.plans.splice(s.plans.begin(), s.plans, it);
        return it->second;
      }
    const auto pending = s.building.find(values);
    if (pending != s.building.end()) {
      std::shared_future<Engine> future = pending->second;
      lock.unlock();
      return future.get();  // the other thread's plan, or its build error
    }
    s.building.emplace(values, promise.get_future().share());
  }
  try {
    opt::MemoScope memo(s.weights.get());  // the passes' derived constants: once for every plan
    // Tactics are tuned at opt: its plan records what its kernels' timing chose, the others follow.
    bool at_opt = true;
    for (const auto& [name, r] : s.graph.sizes) {
      const auto v = values.find(name);
      at_opt = at_opt && v != values.end() && v->second == r.opt;
    }
    const HintUse hints{&s.hints, !at_opt};
    Engine engine = build_graph(ir::specialize(s.graph, values), s.config, s.weights.get(), hints);
    std::lock_guard<std::mutex> lock(s.mu);
    ++s.built;
    s.plans.emplace_front(values, engine);
    if (s.plans.size() > s.max_plans) s.plans.pop_back();
    s.building.erase(values);
    promise.set_value(engine);
    return engine;
  } catch (...) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.building.erase(values);
    promise.set_exception(std::current_exception());
    throw;
  }
}

std::vector<SizeInfo> DynamicEngine::sizes() const {
  std::vector<SizeInfo> out;
  for (const auto& [name, r] : state_->graph.sizes) out.push_back({name, r.min, r.opt, r.max});
  return out;
}

std::vector<IOTensorInfo> DynamicEngine::inputs() const {
  std::vector<IOTensorInfo> out;
  for (int id : state_->graph.inputs) {
    const ir::TensorDesc& t = state_->graph.tensors[id];
    out.push_back({t.name, t.dtype, t.dims, true});
  }
  return out;
}

int DynamicEngine::plans_built() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->built;
}

int DynamicEngine::plans_kept() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return static_cast<int>(state_->plans.size());
}

DynamicEngine make_dynamic_engine(ir::Graph graph, const BuilderConfig& config, int max_plans,
                                  std::vector<std::pair<ir::SymBindings, Engine>> plans,
                                  std::shared_ptr<WeightPool> pool) {
  if (max_plans < 1 || max_plans > 1024)
    throw Error(ErrorCode::kInvalidArgument,
                "build_dynamic: max_plans must be in 1..1024, got " + std::to_string(max_plans));
  auto state = std::make_shared<DynamicEngine::State>();
  state->graph = std::move(graph);
  state->config = config;
  state->max_plans = static_cast<size_t>(max_plans);
  if (pool) state->weights = std::move(pool);
  for (auto& plan : plans) state->plans.push_back(std::move(plan));
  while (state->plans.size() > state->max_plans) state->plans.pop_back();
  // Every layer must take the range's corners (errors at build, not at a call), then the opt plan.
  ir::SymBindings lo, hi;
  for (const auto& [name, r] : state->graph.sizes) {
    lo[name] = r.min;
    hi[name] = r.max;
  }
  ir::specialize(state->graph, lo);
  ir::specialize(state->graph, hi);
  DynamicEngine engine(state);
  std::vector<Dims> dims;
  for (int id : state->graph.inputs) dims.push_back(state->graph.tensors[id].dims);  // at opt
  engine.plan(dims);  // found among `plans`, or built
  return engine;
}

DynamicEngine Builder::build_dynamic(const Network& network, int max_plans) const {
  network.validate();
  return make_dynamic_engine(network.graph(), config_, max_plans);
}

int DynamicEngine::max_plans() const { return static_cast<int>(state_->max_plans); }

size_t DynamicEngine::weights_size() const { return state_->weights->bytes(); }

}  // namespace tensorforge
