// Reading and writing engine files by path, with the checks that the path and the file itself are
// sane before any byte is parsed: no NUL inside the path, a regular file (not a directory, device
// or FIFO), and a read bounded by the file's size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tensorforge::serialize {

/// The bytes of the regular file at `path`. Throws Error(kInvalidArgument) for a path with a NUL
/// byte, a missing file, a directory or anything but a regular file; Error(kCorruptFile) if the
/// file is larger than `max_bytes` or shrinks while being read.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes);

/// Writes `bytes` to `path` (created or replaced). Throws Error(kInvalidArgument) for a path with a
/// NUL byte or one that cannot be opened for writing (a directory, a missing folder), and
/// Error(kRuntime) if writing fails part way.
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace tensorforge::serialize
