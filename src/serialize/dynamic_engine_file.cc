// DynamicEngine <-> bytes (docs/file-format.md, "Dynamic engine files"): the static engine file's
// container with CONF, WGHT and NETW holding the network with its sizes (shapes at the sizes' opt)
// and a SIZE section for the sizes, the dynamic input dims and the attributes written with sizes.
// No plan is stored: loading checks the network at the sizes' corners and builds the opt plan, as
// Builder::build_dynamic does. Nothing read is trusted (Error(kCorruptFile) saying what and where).
#include <cstring>
#include <optional>

#include "builder/dynamic_engine_state.h"
#include "ir/op_registry.h"
#include "ir/sizes.h"
#include "runtime/device.h"
#include "serialize/file_io.h"
#include "serialize/format.h"
#include "serialize/sections.h"

namespace tensorforge {

std::vector<uint8_t> DynamicEngine::serialize() const {
  using namespace serialize;
  const State& s = *state_;
  const ir::Graph& g = s.graph;
  ByteWriter conf = write_config(s.config), net, wts, sizes;
  write_network(g, net, wts);
  sizes.u32(static_cast<uint32_t>(s.max_plans));
  sizes.u32(static_cast<uint32_t>(g.sizes.size()));
  for (const auto& [name, r] : g.sizes) {
    sizes.str(name);
    sizes.i64(r.min);
    sizes.i64(r.opt);
    sizes.i64(r.max);
  }
  sizes.u32(static_cast<uint32_t>(g.input_sizes.size()));
  for (const auto& [input, names] : g.input_sizes) {
    sizes.str(input);
    sizes.u32(static_cast<uint32_t>(names.size()));
    for (const std::string& n : names) sizes.str(n);
  }
  uint32_t uses = 0;
  for (const ir::Layer& l : g.layers) uses += static_cast<uint32_t>(l.size_attrs.size());
  sizes.u32(uses);
  for (size_t i = 0; i < g.layers.size(); ++i)
    for (const auto& [attr, exprs] : g.layers[i].size_attrs) {
      sizes.u32(static_cast<uint32_t>(i));
      sizes.str(attr);
      sizes.u32(static_cast<uint32_t>(exprs.size()));
      for (const ir::SymExpr& e : exprs) sizes.str(e.str());
    }
  // The opt plan while it is kept: loading then builds nothing.
  ir::SymBindings opt;
  for (const auto& [name, r] : g.sizes) opt[name] = r.opt;
  std::vector<uint8_t> opt_plan;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const auto& [values, engine] : s.plans)
      if (values == opt) opt_plan = engine.serialize();
  }
  ByteWriter plans;
  plans.u32(opt_plan.empty() ? 0 : 1);
  if (!opt_plan.empty()) {
    plans.u32(static_cast<uint32_t>(opt.size()));
    for (const auto& [name, v] : opt) {
      plans.str(name);
      plans.i64(v);
    }
    plans.u64(opt_plan.size());
    plans.raw(opt_plan.data(), opt_plan.size());
  }
  return write_file_bytes(s.config.device, 0, {},
                          {{kConfigTag, &conf}, {kWeightsTag, &wts}, {kNetworkTag, &net}, {kSizesTag, &sizes},
                           {kPlansTag, &plans}});
}

void DynamicEngine::save(const std::string& path) const { serialize::write_file(path, serialize()); }

namespace {

// The SIZE section into `g` (read with its network): sizes, dynamic input dims, attributes.
int read_sizes(serialize::ByteReader r, ir::Graph& g) {
  const uint32_t max_plans = r.u32("max plans");
  if (max_plans < 1 || max_plans > 1024) r.fail("max plans " + std::to_string(max_plans) + " is outside 1..1024");
  const uint32_t n = r.count("sizes", 28);
  for (uint32_t i = 0; i < n; ++i) {
    std::string name = r.str("size name");
    ir::SizeRange range;
    range.min = r.i64("size min");
    range.opt = r.i64("size opt");
    range.max = r.i64("size max");
    if (!g.sizes.emplace(name, range).second) r.fail("size " + escape_bytes(name) + " is declared twice");
  }
  const uint32_t ni = r.count("dynamic inputs", 8);
  for (uint32_t i = 0; i < ni; ++i) {
    std::string input = r.str("dynamic input name");
    std::vector<std::string> names(r.count("dynamic input dims", 4));
    if (names.size() > kMaxDims) r.fail("dynamic input " + escape_bytes(input) + " names too many dims");
    for (std::string& d : names) d = r.str("dynamic dim size name");
    if (!g.input_sizes.emplace(input, std::move(names)).second)
      r.fail("dynamic input " + escape_bytes(input) + " is listed twice");
  }
  const uint32_t nu = r.count("attributes with sizes", 12);
  for (uint32_t i = 0; i < nu; ++i) {
    const uint32_t layer = r.u32("layer index");
    if (layer >= g.layers.size()) r.fail("layer index " + std::to_string(layer) + " is out of range");
    std::string attr = r.str("attribute name");
    std::vector<ir::SymExpr> exprs(r.count("size expressions", 4));
    for (ir::SymExpr& e : exprs) {
      const std::string text = r.str("size expression");
      try {
        e = ir::SymExpr::parse(text);
      } catch (const Error& err) {
        r.fail("size expression '" + escape_bytes(text) + "': " + err.what());
      }
    }
    if (!g.layers[layer].size_attrs.emplace(attr, std::move(exprs)).second)
      r.fail("attribute " + escape_bytes(attr) + " of layer " + std::to_string(layer) + " is listed twice");
  }
  if (r.remaining()) r.fail("trailing bytes after the sizes");
  return static_cast<int>(max_plans);
}

// The PLAN section: plans stored as static engine files, each checked against the network at its
// sizes (inputs and outputs). A plan built for another GPU architecture is skipped (the network
// builds it again there).
std::vector<std::pair<ir::SymBindings, Engine>> read_plans(serialize::ByteReader r, const ir::Graph& g,
                                                           WeightPool* pool) {
  std::vector<std::pair<ir::SymBindings, Engine>> out;
  const uint32_t n = r.count("plans", 12);
  for (uint32_t i = 0; i < n; ++i) {
    ir::SymBindings values;
    const uint32_t k = r.count("plan sizes", 12);
    for (uint32_t j = 0; j < k; ++j) {
      std::string name = r.str("plan size name");
      const int64_t v = r.i64("plan size value");
      const auto it = g.sizes.find(name);
      if (it == g.sizes.end() || v < it->second.min || v > it->second.max)
        r.fail("plan " + std::to_string(i) + " gives size " + escape_bytes(name) + " the value " + std::to_string(v) +
               ", not one in the network's ranges");
      values[name] = v;
    }
    if (values.size() != g.sizes.size()) r.fail("plan " + std::to_string(i) + " does not give every size");
    const uint64_t len = r.u64("plan length");
    if (len > r.remaining()) r.fail("plan length " + std::to_string(len) + " runs past the end");
    const uint8_t* bytes = r.take(len, "plan");
    std::optional<Engine> read;
    try {
      read = serialize::read_engine(bytes, len, pool);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnsupported) r.fail("plan " + std::to_string(i) + ": " + e.what());
      continue;  // built for another GPU (or CUDA is missing): the network builds it again
    }
    const Engine& plan = *read;
    const ir::Graph at = ir::specialize(g, values);
    std::vector<IOTensorInfo> want;
    for (const std::vector<int>* ids : {&at.inputs, &at.outputs})
      for (int id : *ids) want.push_back({at.tensors[id].name, at.tensors[id].dtype, at.tensors[id].dims, ids == &at.inputs});
    const std::vector<IOTensorInfo>& got = plan.io_tensors();
    bool same = got.size() == want.size();
    for (size_t t = 0; same && t < got.size(); ++t)
      same = got[t].name == want[t].name && got[t].dtype == want[t].dtype && got[t].dims == want[t].dims &&
             got[t].is_input == want[t].is_input;
    if (!same) r.fail("plan " + std::to_string(i) + "'s inputs and outputs are not the network's at its sizes");
    out.emplace_back(std::move(values), plan);
  }
  if (r.remaining()) r.fail("trailing bytes after the plans");
  return out;
}

}  // namespace

DynamicEngine DynamicEngine::deserialize(const void* data, size_t size) {
  using namespace serialize;
  FileParts parts = read_file_parts(static_cast<const uint8_t*>(data), size);
  auto& sections = parts.sections;
  if (!sections.count(kSizesTag))
    throw Error(ErrorCode::kInvalidArgument, "this file holds a static engine (no named sizes): load it with "
                                             "Engine::load (Python: tensorforge.Engine.load)");
  if (sections.count(kTacticsTag) || sections.count(kOriginsTag))
    sections.at(kSizesTag).fail("a dynamic engine file holds no tactics or origins");
  const BuilderConfig config = read_config(sections.at(kConfigTag), parts.device);
  if (config.device == DeviceKind::kCUDA) device::require_cuda();
  std::vector<Weights> weights = read_weights(sections.at(kWeightsTag));
  ir::Graph graph = read_network(sections.at(kNetworkTag), weights);
  const int max_plans = read_sizes(sections.at(kSizesTag), graph);
  try {
    for (ir::Layer& l : graph.layers) l.attrs = ir::normalize_attributes(ir::op_def(l.kind), l.attrs, l.name);
    graph.validate();
    ir::check_sizes(graph);
    auto pool = std::make_shared<WeightPool>();
    std::vector<std::pair<ir::SymBindings, Engine>> plans;
    if (sections.count(kPlansTag)) plans = read_plans(sections.at(kPlansTag), graph, pool.get());
    return make_dynamic_engine(std::move(graph), config, max_plans, std::move(plans), std::move(pool));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kCorruptFile) throw;
    throw Error(ErrorCode::kCorruptFile, "dynamic engine file (written by TensorForge " + parts.producer +
                                             ") does not describe a valid engine: " + e.what());
  }
}

DynamicEngine DynamicEngine::load(const std::string& path) { return serialize::load_file(path, &DynamicEngine::deserialize); }

}  // namespace tensorforge
