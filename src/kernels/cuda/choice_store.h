// Decisions kernels make by timing (which cuBLASLt algorithm of the heuristic's list), kept on disk
// across processes beside the generated kernels and the convolution plans (codegen/disk_cache.h),
// so that a later build of a layer of the same key on the same GPU and library versions takes the
// winner without timing. An entry is a short text the kernel writes and parses itself; entries are
// untrusted (a damaged one reads as a miss) and the kernel checks what it reads against what the
// library offers now before using it.
#pragma once

#include <cstddef>
#include <string>

namespace tensorforge::cuda {

/// A choice among `count` offers of a library (a heuristic's list): which one, an identity of that
/// offer that must match when read back (the cuBLASLt algorithm's bytes in hex), and why it won.
struct IndexedChoice {
  size_t index = 0;
  size_t count = 0;
  std::string id;   ///< no spaces or line breaks
  std::string why;  ///< one line
};

/// The stored text of `c` ("<index> <count> <id>\n<why>") and back; decode_choice() checks the
/// form only (index below count, both below 1000, an id without spaces), not the offers.
std::string encode_choice(const IndexedChoice& c);
bool decode_choice(const std::string& text, IndexedChoice& c);

/// The folder timed choices and convolution plans go to: BuilderConfig.timing_cache_dir, else the
/// generated kernels' cache folder (codegen::kernel_cache_dir(); "" when that is off).
std::string timing_cache_folder(const std::string& timing_cache_dir);

/// The text stored for `key` of kernel family `kind` ("cuBLASLt matmul") in `dir` (a folder as
/// timing_cache_folder() gives; "" = off); false on a miss. The GPU, the library versions and this
/// build of TensorForge are part of the key.
bool load_choice(const std::string& dir, const std::string& kind, const std::string& key, std::string& text);

/// Stores `text` for `key` of `kind` in `dir` (failures only cost the timing again next time).
void store_choice(const std::string& dir, const std::string& kind, const std::string& key, const std::string& text);

}  // namespace tensorforge::cuda
