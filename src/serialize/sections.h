// The pieces of the engine file format shared by static engine files (engine_writer.cc,
// engine_reader.cc) and dynamic engine files (dynamic_engine_file.cc); docs/file-format.md.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "serialize/bytes.h"
#include "serialize/file_io.h"
#include "serialize/format.h"
#include "tensorforge/builder.h"

namespace tensorforge {
class WeightPool;
}  // namespace tensorforge

namespace tensorforge::serialize {

/// The CONF section of `config`.
ByteWriter write_config(const BuilderConfig& config);
/// The NETW section of `g` into `net` and the WGHT section of its weights into `wts`.
void write_network(const ir::Graph& g, ByteWriter& net, ByteWriter& wts);
/// A whole file: the header (device, compute capability, library versions), `sections` in order
/// (tag, body), the checksum.
std::vector<uint8_t> write_file_bytes(DeviceKind device, int compute_capability,
                                      const std::vector<std::pair<std::string, std::string>>& libraries,
                                      const std::vector<std::pair<uint32_t, ByteWriter*>>& sections);

/// A file's header and sections, checked (length, magic, version, checksum, known tags, no
/// duplicates); the readers point into the caller's bytes.
struct FileParts {
  std::string producer;
  uint8_t device = 0;
  uint32_t compute_capability = 0;
  std::vector<std::pair<std::string, std::string>> libraries;
  std::map<uint32_t, ByteReader> sections;
};
FileParts read_file_parts(const uint8_t* bytes, size_t size);
/// The CONF section, checked against the header's device.
BuilderConfig read_config(ByteReader conf, uint8_t device);
std::vector<Weights> read_weights(ByteReader r);
ir::Graph read_network(ByteReader r, const std::vector<Weights>& weights);

/// A static engine from a file's bytes (Engine::deserialize); with a `pool`, its constants are
/// interned there and share their device copies (a DynamicEngine's plans).
Engine read_engine(const uint8_t* bytes, size_t size, WeightPool* pool);

/// `deserialize` of the file at `path` (at most kMaxFileBytes), errors prefixed with the path.
template <class T>
T load_file(const std::string& path, T (*deserialize)(const void*, size_t)) {
  std::vector<uint8_t> bytes = read_file(path, kMaxFileBytes);
  try {
    return deserialize(bytes.data(), bytes.size());
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path + "': " + e.what());
  }
}

}  // namespace tensorforge::serialize
