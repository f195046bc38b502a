// Engine → bytes: header, then the CONF, WGHT, NETW, TACT and ORIG sections, then the checksum.
#include "runtime/engine_impl.h"
#include <cstring>

#include "serialize/bytes.h"
#include "serialize/file_io.h"
#include "serialize/format.h"
#include "serialize/sections.h"

namespace tensorforge {

namespace serialize {

uint64_t checksum(const uint8_t* data, size_t n, uint32_t version) {
  constexpr uint64_t kFnvPrime = 0x100000001b3ull;
  if (version <= 1) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i) {
      h ^= data[i];
      h *= kFnvPrime;
    }
    return h;
  }
  constexpr uint64_t kOdd = 0x9e3779b97f4a7c15ull;
  uint64_t lane[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, data + i + 8 * l, 8);
      lane[l] = (lane[l] ^ w) * kOdd;
    }
  }
  auto rotl = [](uint64_t v, int r) { return (v << r) | (v >> (64 - r)); };
  uint64_t h = lane[0] ^ rotl(lane[1], 16) ^ rotl(lane[2], 32) ^ rotl(lane[3], 48);
  for (; i < n; ++i) {
    h ^= data[i];
    h *= kFnvPrime;
  }
  return (h ^ static_cast<uint64_t>(n)) * kOdd;
}

namespace {

void write_dims(ByteWriter& w, const Dims& d) {
  w.u8(static_cast<uint8_t>(d.rank()));
  for (int i = 0; i < d.rank(); ++i) w.i64(d[i]);
}

void write_attr(ByteWriter& w, const AttrValue& v, std::vector<const Weights*>& weights) {
  w.u8(static_cast<uint8_t>(v.index()));
  if (auto* i = std::get_if<int64_t>(&v)) {
    w.i64(*i);
  } else if (auto* f = std::get_if<double>(&v)) {
    w.f64(*f);
  } else if (auto* s = std::get_if<std::string>(&v)) {
    w.str(*s);
  } else if (auto* is = std::get_if<std::vector<int64_t>>(&v)) {
    w.u32(static_cast<uint32_t>(is->size()));
    for (int64_t x : *is) w.i64(x);
  } else if (auto* fs = std::get_if<std::vector<double>>(&v)) {
    w.u32(static_cast<uint32_t>(fs->size()));
    for (double x : *fs) w.f64(x);
  } else {
    w.u32(static_cast<uint32_t>(weights.size()));
    weights.push_back(&std::get<Weights>(v));
  }
}

void section(ByteWriter& out, uint32_t tag, ByteWriter& body) {
  out.u32(tag);
  out.u64(body.bytes().size());
  out.raw(body.bytes().data(), body.bytes().size());
}

}  // namespace

ByteWriter write_config(const BuilderConfig& config) {
  ByteWriter conf;
  conf.u8(static_cast<uint8_t>(config.device));
  conf.i32(config.optimization_level);
  conf.u64(config.workspace_size);
  conf.u8(config.allow_tf32 ? 1 : 0);
  return conf;
}

void write_network(const ir::Graph& g, ByteWriter& net, ByteWriter& wts) {
  std::vector<const Weights*> weights;
  net.u32(static_cast<uint32_t>(g.tensors.size()));
  for (const ir::TensorDesc& t : g.tensors) {
    net.str(t.name);
    net.u8(static_cast<uint8_t>(t.dtype));
    write_dims(net, t.dims);
    net.i32(t.producer);
    net.i32(t.producer_out);
  }
  for (const std::vector<int>* ids : {&g.inputs, &g.outputs}) {
    net.u32(static_cast<uint32_t>(ids->size()));
    for (int id : *ids) net.i32(id);
  }
  net.u32(static_cast<uint32_t>(g.layers.size()));
  for (const ir::Layer& l : g.layers) {
    net.str(to_string(l.kind));
    net.str(l.name);
    for (const std::vector<int>* ids : {&l.inputs, &l.outputs}) {
      net.u32(static_cast<uint32_t>(ids->size()));
      for (int id : *ids) net.i32(id);
    }
    net.u32(static_cast<uint32_t>(l.attrs.size()));
    for (const auto& [name, value] : l.attrs) {
      net.str(name);
      write_attr(net, value, weights);
    }
  }
  wts.u32(static_cast<uint32_t>(weights.size()));
  for (const Weights* w : weights) {
    wts.u8(static_cast<uint8_t>(w->dtype()));
    write_dims(wts, w->dims());
    wts.u64(w->size_bytes());
    wts.raw(w->data(), w->size_bytes());
  }
}

std::vector<uint8_t> write_file_bytes(DeviceKind device, int compute_capability,
                                      const std::vector<std::pair<std::string, std::string>>& libraries,
                                      const std::vector<std::pair<uint32_t, ByteWriter*>>& sections) {
  ByteWriter out;
  out.raw(kMagic, sizeof(kMagic));
  out.u32(kFormatVersion);
  out.str(tensorforge::version());
  out.u8(static_cast<uint8_t>(device));
  out.u32(static_cast<uint32_t>(compute_capability));  // 0 for CPU engines
  out.u32(static_cast<uint32_t>(libraries.size()));
  for (const auto& [name, version] : libraries) {
    out.str(name);
    out.str(version);
  }
  out.u32(static_cast<uint32_t>(sections.size()));
  for (const auto& [tag, body] : sections) section(out, tag, *body);
  out.u64(checksum(out.bytes().data(), out.bytes().size(), kFormatVersion));
  return std::move(out.bytes());
}

}  // namespace serialize

std::vector<uint8_t> Engine::serialize() const {
  using namespace serialize;
  const EngineImpl& e = *impl_;
  ByteWriter conf = write_config(e.config), net, wts;
  write_network(e.graph, net, wts);

  ByteWriter tact;
  tact.u32(static_cast<uint32_t>(e.tactics.size()));
  for (const std::string& t : e.tactics) tact.str(t);

  ByteWriter orig;
  orig.u32(static_cast<uint32_t>(e.graph.layers.size()));
  for (const ir::Layer& l : e.graph.layers) {
    orig.u32(static_cast<uint32_t>(l.origins.size()));
    for (const std::string& o : l.origins) orig.str(o);
  }
  return write_file_bytes(e.config.device, e.compute_capability, e.libraries,
                          {{kConfigTag, &conf}, {kWeightsTag, &wts}, {kNetworkTag, &net}, {kTacticsTag, &tact},
                           {kOriginsTag, &orig}});
}

void Engine::save(const std::string& path) const {
  serialize::write_file(path, serialize());
}

}  // namespace tensorforge
