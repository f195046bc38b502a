// Engine files by path: checked paths, regular files only, bounded reads.
#include "serialize/file_io.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "tensorforge/types.h"

namespace tensorforge::serialize {
namespace {

void check_path(const std::string& path, const char* what) {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": the path is empty");
  if (path.find('\0') != std::string::npos)
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + ": the path contains a NUL byte (after '" + path.substr(0, path.find('\0')) + "')");
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes) {
  check_path(path, "load");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ErrorCode::kInvalidArgument, "cannot open engine file '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode))
    throw Error(ErrorCode::kInvalidArgument, "cannot load '" + path + "': it is a directory, not an engine file");
  if (!S_ISREG(st.st_mode))
    throw Error(ErrorCode::kInvalidArgument,
                "cannot load '" + path + "': not a regular file (a device, FIFO or socket); engine files are read "
                "whole, so only regular files are accepted");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw Error(ErrorCode::kCorruptFile, "'" + path + "' is " + std::to_string(size) +
                                             " bytes, more than the largest engine file this build reads (" +
                                             std::to_string(max_bytes) + ")");
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error(ErrorCode::kInvalidArgument, "cannot open engine file '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t got = size ? std::fread(bytes.data(), 1, bytes.size(), f.get()) : 0;
  if (got != bytes.size())
    throw Error(ErrorCode::kCorruptFile, "'" + path + "': read " + std::to_string(got) + " of " +
                                             std::to_string(size) + " bytes (the file changed while being read?)");
  return bytes;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  check_path(path, "save");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(ErrorCode::kInvalidArgument, "cannot save to '" + path + "': it is a directory");
  File f(std::fopen(path.c_str(), "wb"));
  if (!f)
    throw Error(ErrorCode::kInvalidArgument, "cannot open '" + path + "' for writing: " + std::strerror(errno));
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    throw Error(ErrorCode::kRuntime, "failed writing engine file '" + path + "': " + std::strerror(errno));
  if (std::fflush(f.get()) != 0)
    throw Error(ErrorCode::kRuntime, "failed writing engine file '" + path + "': " + std::strerror(errno));
}

}  // namespace tensorforge::serialize
