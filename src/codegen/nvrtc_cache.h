// Compiling generated CUDA C with NVRTC into machine code for one GPU architecture, with a cache
// in memory and on disk keyed by the source, the architecture and the NVRTC version, so a second
// build of the same model compiles nothing. Cache files are untrusted: each holds its full key and
// is used only when that key matches exactly; anything else is recompiled and rewritten.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/disk_cache.h"  // kernel_cache_dir()

namespace tensorforge::codegen {

/// Counters of what compile_cubin did in this process (for tests and build logs).
struct CompileStats {
  int compiled = 0;      ///< NVRTC runs.
  int memory_hits = 0;   ///< Served from this process's cache.
  int disk_hits = 0;     ///< Read from the disk cache.
};
CompileStats compile_stats();

/// The CUBIN of `source` for compute capability `cc` (90 = sm_90). Throws Error(kRuntime) with
/// NVRTC's log when compilation fails. Thread-safe.
std::vector<char> compile_cubin(const std::string& source, int cc);

/// Forgets what this process compiled (the disk cache stays); for tests of the disk cache.
void clear_memory_cache();

/// NVRTC's version, "major.minor".
std::string nvrtc_version();

}  // namespace tensorforge::codegen
