// Engine file layout constants (docs/file-format.md describes the layout in full).
#pragma once

#include <cstdint>

namespace tensorforge::serialize {

constexpr char kMagic[8] = {'T', 'F', 'E', 'N', 'G', 'I', 'N', 'E'};
/// Bumped whenever the layout changes; readers refuse newer versions. Version 2 changed only the
/// checksum (checksum(): 64-bit words in four lanes instead of FNV-1a byte by byte, ~30x faster on a
/// 400 MB engine); version 1 files are still read.
constexpr uint32_t kFormatVersion = 2;

/// Largest engine file the reader accepts (weights included): beyond any GPU's memory.
constexpr uint64_t kMaxFileBytes = uint64_t(256) << 30;

/// Section tags (four ASCII characters, little-endian).
constexpr uint32_t tag(char a, char b, char c, char d) {
  return uint32_t(uint8_t(a)) | uint32_t(uint8_t(b)) << 8 | uint32_t(uint8_t(c)) << 16 | uint32_t(uint8_t(d)) << 24;
}
constexpr uint32_t kConfigTag = tag('C', 'O', 'N', 'F');
constexpr uint32_t kWeightsTag = tag('W', 'G', 'H', 'T');
constexpr uint32_t kNetworkTag = tag('N', 'E', 'T', 'W');
constexpr uint32_t kTacticsTag = tag('T', 'A', 'C', 'T');
constexpr uint32_t kOriginsTag = tag('O', 'R', 'I', 'G');  ///< Optional: the network layers each layer computes.
constexpr uint32_t kSizesTag = tag('S', 'I', 'Z', 'E');  ///< Dynamic engine files only: named sizes and their uses.
constexpr uint32_t kPlansTag = tag('P', 'L', 'A', 'N');  ///< Dynamic engine files, optional: plans as engine files.

/// Attribute value type codes (the index of the AttrValue variant alternative).
enum AttrCode : uint8_t { kAttrInt = 0, kAttrFloat, kAttrString, kAttrInts, kAttrFloats, kAttrWeights };

}  // namespace tensorforge::serialize
