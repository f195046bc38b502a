// One folder of build results kept across processes (generated kernels' machine code, chosen
// convolution plans). Each entry is one file holding its full key and its payload, written to a
// temporary file and renamed (readers see a whole entry or none; two writers leave one whole
// entry). Entries are untrusted: one is used only when its stored key equals the key asked for,
// its lengths are sane and its checksum matches; anything else reads as a miss.
#pragma once

#include <string>
#include <vector>

namespace tensorforge::codegen {

/// Where the cache lives: $TENSORFORGE_KERNEL_CACHE, else $XDG_CACHE_HOME/tensorforge/kernels,
/// else ~/.cache/tensorforge/kernels; "" when caching on disk is off (TENSORFORGE_KERNEL_CACHE=off).
std::string kernel_cache_dir();

/// The file of `key` in `dir` ("" when `dir` is ""): a hash of the key with `extension` (".cubin").
std::string cache_file(const std::string& dir, const std::string& key, const std::string& extension);

/// Reads the entry of `key` from `file` into `payload`; false (a miss) when the file is absent,
/// holds another key, or is truncated or damaged.
bool read_entry(const std::string& file, const std::string& key, std::vector<char>& payload);

/// Writes `payload` as the entry of `key` to `file`, creating `dir`; a cache that cannot be written
/// only costs the work again next time, so failures are silent.
void write_entry(const std::string& dir, const std::string& file, const std::string& key,
                 const std::vector<char>& payload);

}  // namespace tensorforge::codegen
