// Bytes → Engine. Order of checks: size, magic, version, checksum; then each section is parsed
// with bounds-checked reads, the graph is re-validated (shape inference over every layer) and the
// recorded kernels are re-created. Any failure is Error(kCorruptFile); nothing is trusted.
#include <map>

#include "kernels/cuda/device_info.h"
#include "ir/op_registry.h"
#include "builder/weight_pool.h"
#include "runtime/engine_impl.h"
#include "serialize/bytes.h"
#include "serialize/file_io.h"
#include "serialize/format.h"
#include "serialize/sections.h"

namespace tensorforge {

namespace serialize {
namespace {

Dims read_dims(ByteReader& r, const char* what) {
  uint8_t rank = r.u8(what);
  if (rank > kMaxDims) r.fail(std::string(what) + " has rank " + std::to_string(rank));
  std::vector<int64_t> d(rank);
  for (auto& x : d) {
    x = r.i64(what);
    if (x < 0) r.fail(std::string(what) + " has a negative extent");
  }
  return Dims(d);
}

DataType read_dtype(ByteReader& r, const char* what) {
  uint8_t t = r.u8(what);
  if (t >= kNumDataTypes) r.fail(std::string(what) + " has unknown dtype code " + std::to_string(t));
  return static_cast<DataType>(t);
}

void check_size(ByteReader& r, const Dims& d, DataType t, const char* what) {
  if (!ir::plausible_size(d, t)) r.fail(std::string(what) + " " + d.str() + " is implausibly large");
}

std::vector<int> read_ids(ByteReader& r, const char* what, int nb_tensors, bool allow_absent) {
  uint32_t n = r.count(what, 4);
  std::vector<int> ids(n);
  for (int& id : ids) {
    id = r.i32(what);
    if (id >= nb_tensors || id < (allow_absent ? -1 : 0)) r.fail(std::string(what) + " has tensor id " + std::to_string(id));
  }
  return ids;
}

}  // namespace

std::vector<Weights> read_weights(ByteReader r) {
  uint32_t n = r.count("weights", 10);
  std::vector<Weights> out;
  for (uint32_t i = 0; i < n; ++i) {
    DataType t = read_dtype(r, "weights dtype");
    Dims d = read_dims(r, "weights shape");
    check_size(r, d, t, "weights shape");
    uint64_t len = r.u64("weights length");
    if (len != static_cast<uint64_t>(d.volume()) * element_size(t))
      r.fail("weights " + std::to_string(i) + " length " + std::to_string(len) + " does not match " + to_string(t) + d.str());
    out.emplace_back(t, d, r.take(len, "weights data"));
  }
  if (r.remaining()) r.fail("trailing bytes after the weights");
  return out;
}

namespace {

AttrValue read_attr(ByteReader& r, const std::vector<Weights>& weights) {
  uint8_t code = r.u8("attribute type");
  switch (code) {
    case kAttrInt: return r.i64("int attribute");
    case kAttrFloat: return r.f64("float attribute");
    case kAttrString: return r.str("string attribute");
    case kAttrInts: {
      std::vector<int64_t> v(r.count("int list", 8));
      for (auto& x : v) x = r.i64("int list");
      return v;
    }
    case kAttrFloats: {
      std::vector<double> v(r.count("float list", 8));
      for (auto& x : v) x = r.f64("float list");
      return v;
    }
    case kAttrWeights: {
      uint32_t idx = r.u32("weights index");
      if (idx >= weights.size()) r.fail("weights index " + std::to_string(idx) + " out of range");
      return weights[idx];
    }
  }
  r.fail("unknown attribute type code " + std::to_string(code));
}

}  // namespace

ir::Graph read_network(ByteReader r, const std::vector<Weights>& weights) {
  ir::Graph g;
  uint32_t nt = r.count("tensors", 15);
  for (uint32_t i = 0; i < nt; ++i) {
    ir::TensorDesc t;
    t.name = r.str("tensor name");
    t.dtype = read_dtype(r, "tensor dtype");
    t.dims = read_dims(r, "tensor shape");
    check_size(r, t.dims, t.dtype, "tensor shape");
    t.producer = r.i32("tensor producer");
    t.producer_out = r.i32("tensor producer output");
    if (!g.by_name.emplace(t.name, static_cast<int>(i)).second) r.fail("duplicate tensor name '" + escape_bytes(t.name) + "'");
    g.tensors.push_back(std::move(t));
  }
  g.inputs = read_ids(r, "network inputs", static_cast<int>(nt), false);
  g.outputs = read_ids(r, "network outputs", static_cast<int>(nt), false);
  uint32_t nl = r.count("layers", 20);
  for (uint32_t i = 0; i < nl; ++i) {
    ir::Layer l;
    std::string kind = r.str("layer kind");
    try {
      l.kind = parse_layer_kind(kind);
    } catch (const Error&) {
      r.fail("unknown layer kind '" + escape_bytes(kind) + "'");
    }
    l.name = r.str("layer name");
    l.inputs = read_ids(r, "layer inputs", static_cast<int>(nt), true);
    l.outputs = read_ids(r, "layer outputs", static_cast<int>(nt), false);
    uint32_t na = r.count("attributes", 6);
    for (uint32_t a = 0; a < na; ++a) {
      std::string name = r.str("attribute name");
      l.attrs[name] = read_attr(r, weights);
    }
    g.layers.push_back(std::move(l));
  }
  for (const ir::TensorDesc& t : g.tensors)
    if (t.producer < -1 || t.producer >= static_cast<int>(nl)) r.fail("tensor '" + escape_bytes(t.name) + "' has an invalid producer");
  if (r.remaining()) r.fail("trailing bytes after the network");
  return g;
}

FileParts read_file_parts(const uint8_t* bytes, size_t size) {
  if (!bytes && size) throw Error(ErrorCode::kInvalidArgument, "deserialize: null data");
  ByteReader r(bytes, size);
  if (size < sizeof(kMagic) + 4 + 8) r.fail("only " + std::to_string(size) + " bytes, too short for an engine file");
  if (std::memcmp(bytes, kMagic, sizeof(kMagic)) != 0)
    throw Error(ErrorCode::kCorruptFile, "not a TensorForge engine file (the magic bytes 'TFENGINE' are missing)");
  r.take(sizeof(kMagic), "magic");
  uint32_t version = r.u32("format version");
  if (version > 0xffff) r.fail("implausible format version " + std::to_string(version));
  if (version > kFormatVersion)
    throw Error(ErrorCode::kCorruptFile, "engine file format version " + std::to_string(version) +
                                             " is newer than this build reads (" + std::to_string(kFormatVersion) +
                                             "); rebuild the engine or upgrade TensorForge");
  if (version == 0) r.fail("format version 0 is not valid");
  uint64_t stored;
  std::memcpy(&stored, bytes + size - 8, 8);
  if (checksum(bytes, size - 8, version) != stored)
    throw Error(ErrorCode::kCorruptFile, "engine file checksum mismatch: the file is truncated or damaged");
  ByteReader body(bytes + 12, size - 12 - 8, 12);
  FileParts parts;
  parts.producer = body.str("producer version");
  parts.device = body.u8("device kind");
  if (parts.device > static_cast<uint8_t>(DeviceKind::kCUDA))
    body.fail("unknown device kind " + std::to_string(parts.device));
  parts.compute_capability = body.u32("compute capability");
  if (parts.compute_capability > 1000) body.fail("implausible compute capability " + std::to_string(parts.compute_capability));
  parts.libraries.resize(body.count("library versions", 8));
  for (auto& [name, version] : parts.libraries) {
    name = body.str("library name");
    version = body.str("library version");
  }
  uint32_t ns = body.count("sections", 12);
  for (uint32_t i = 0; i < ns; ++i) {
    uint32_t t = body.u32("section tag");
    uint64_t len = body.u64("section length");
    size_t base = body.offset();
    if (len > body.remaining()) body.fail("section length " + std::to_string(len) + " runs past the end");
    const uint8_t* p = body.take(len, "section");
    if (t != kConfigTag && t != kWeightsTag && t != kNetworkTag && t != kTacticsTag && t != kOriginsTag &&
        t != kSizesTag && t != kPlansTag)
      body.fail("unknown section tag " + std::to_string(t));
    if (!parts.sections.emplace(t, ByteReader(p, len, base)).second) body.fail("duplicate section");
  }
  if (body.remaining()) body.fail("trailing bytes after the sections");
  for (uint32_t t : {kConfigTag, kWeightsTag, kNetworkTag})
    if (!parts.sections.count(t)) body.fail("a required section is missing");
  return parts;
}

BuilderConfig read_config(ByteReader conf, uint8_t device) {
  BuilderConfig config;
  uint8_t cdev = conf.u8("config device");
  if (cdev != device) conf.fail("the config's device does not match the header's");
  config.device = static_cast<DeviceKind>(cdev);
  config.optimization_level = conf.i32("optimization level");
  config.workspace_size = conf.u64("workspace size");
  if (conf.remaining()) {  // written since allow_tf32 exists; older files mean the default
    uint8_t tf32 = conf.u8("allow_tf32");
    if (tf32 > 1) conf.fail("allow_tf32 must be 0 or 1");
    config.allow_tf32 = tf32 != 0;
  }
  if (conf.remaining()) conf.fail("trailing bytes after the config");
  try {
    config.validate();
  } catch (const Error& e) {
    conf.fail(e.what());
  }
  return config;
}

Engine read_engine(const uint8_t* data, size_t size, WeightPool* pool) {
  FileParts parts = read_file_parts(data, size);
  auto& sections = parts.sections;
  const uint32_t cc = parts.compute_capability;
  std::vector<std::pair<std::string, std::string>>& libraries = parts.libraries;
  const std::string& producer = parts.producer;
  if (sections.count(kSizesTag))
    throw Error(ErrorCode::kUnsupported, "this file holds a dynamic engine (a network with named sizes): load it with "
                                         "DynamicEngine::load (Python: tensorforge.DynamicEngine.load)");
  if (!sections.count(kTacticsTag)) sections.at(kConfigTag).fail("a required section is missing");
  BuilderConfig config = read_config(sections.at(kConfigTag), parts.device);

  if (config.device == DeviceKind::kCUDA) {
    device::require_cuda();
    int here = cuda::compute_capability();
    if (static_cast<int>(cc) != here)
      throw Error(ErrorCode::kUnsupported,
                  "this engine was built for GPUs of compute capability " + std::to_string(cc / 10) + "." +
                      std::to_string(cc % 10) + "; this GPU (" + cuda::device_name() + ") has " +
                      std::to_string(here / 10) + "." + std::to_string(here % 10) +
                      ": rebuild the engine on this GPU");
  }

  std::vector<Weights> weights = read_weights(sections.at(kWeightsTag));
  ir::Graph graph = read_network(sections.at(kNetworkTag), weights);

  ByteReader tact = sections.at(kTacticsTag);
  std::vector<std::string> tactics(tact.count("tactics", 4));
  if (tactics.size() != graph.layers.size()) tact.fail("tactic count does not match the layer count");
  for (auto& t : tactics) t = tact.str("tactic");
  if (tact.remaining()) tact.fail("trailing bytes after the tactics");
  if (sections.count(kOriginsTag)) {  // files written before it existed: each layer is its own origin
    ByteReader orig = sections.at(kOriginsTag);
    if (orig.count("origin lists", 4) != graph.layers.size()) orig.fail("origin list count does not match the layer count");
    for (ir::Layer& l : graph.layers) {
      l.origins.resize(orig.count("origins", 4));
      for (std::string& o : l.origins) o = orig.str("origin name");
    }
    if (orig.remaining()) orig.fail("trailing bytes after the origins");
  } else {
    for (ir::Layer& l : graph.layers) l.origins = {l.name};
  }

  try {
    // Attributes added to a kind after a file was written take their defaults.
    for (ir::Layer& l : graph.layers) l.attrs = ir::normalize_attributes(ir::op_def(l.kind), l.attrs, l.name);
    graph.validate();
    for (size_t i = 0; i < graph.layers.size(); ++i)
      if ((graph.layers[i].kind == LayerKind::kConstant) != (tactics[i] == "constant"))
        throw Error(ErrorCode::kCorruptFile, "layer '" + graph.layers[i].name + "' has tactic '" + tactics[i] + "'");
    if (pool)
      for (ir::Layer& l : graph.layers)
        if (l.kind == LayerKind::kConstant) l.attrs["value"] = pool->intern(ir::attr_weights(l, "value"));
    auto impl = assemble_engine(std::move(graph), config, tactics, pool);
    impl->compute_capability = static_cast<int>(cc);
    impl->libraries = std::move(libraries);
    return Engine(std::move(impl));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kCorruptFile) throw;
    throw Error(ErrorCode::kCorruptFile, std::string("engine file (written by TensorForge ") + producer +
                                             ") does not describe a valid engine: " + e.what());
  }
}

}  // namespace serialize

Engine Engine::deserialize(const void* data, size_t size) {
  return serialize::read_engine(static_cast<const uint8_t*>(data), size, nullptr);
}

Engine Engine::load(const std::string& path) { return serialize::load_file(path, &Engine::deserialize); }

}  // namespace tensorforge
