// The build-result cache on disk (see disk_cache.h). An entry: magic "TFKERNEL", u64 key length,
// key, u64 payload length, payload, u64 FNV-1a hash of the payload.
#include "codegen/disk_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tensorforge::codegen {

namespace {

constexpr char kMagic[8] = {'T', 'F', 'K', 'E', 'R', 'N', 'E', 'L'};
constexpr uint64_t kMaxPayload = uint64_t(1) << 30;

uint64_t fnv1a(const char* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

void make_dirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

}  // namespace

std::string kernel_cache_dir() {
  if (const char* d = std::getenv("TENSORFORGE_KERNEL_CACHE")) return std::string(d) == "off" ? "" : d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tensorforge/kernels";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/tensorforge/kernels";
  return "";
}

std::string cache_file(const std::string& dir, const std::string& key, const std::string& extension) {
  if (dir.empty()) return "";
  char name[24];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(fnv1a(key.data(), key.size())));
  return dir + "/" + name + extension;
}

bool read_entry(const std::string& file, const std::string& key, std::vector<char>& payload) {
  if (file.empty()) return false;
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return false;
  bool ok = false;
  char magic[8];
  uint64_t klen = 0, plen = 0, hash = 0;
  if (std::fread(magic, 1, 8, f) == 8 && !std::memcmp(magic, kMagic, 8) && std::fread(&klen, 8, 1, f) == 1 &&
      klen == key.size()) {
    std::string stored(klen, '\0');
    if (std::fread(stored.data(), 1, klen, f) == klen && stored == key && std::fread(&plen, 8, 1, f) == 1 &&
        plen > 0 && plen < kMaxPayload) {
      payload.resize(plen);
      ok = std::fread(payload.data(), 1, plen, f) == plen && std::fread(&hash, 8, 1, f) == 1 &&
           hash == fnv1a(payload.data(), payload.size());
    }
  }
  std::fclose(f);
  if (!ok) payload.clear();
  return ok;
}

void write_entry(const std::string& dir, const std::string& file, const std::string& key,
                 const std::vector<char>& payload) {
  if (file.empty() || payload.empty() || payload.size() >= kMaxPayload) return;
  make_dirs(dir);
  // A name of its own per writer (process and write), so that concurrent writers never share one.
  static std::atomic<uint64_t> writes{0};
  const std::string tmp = file + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return;
  const uint64_t klen = key.size(), plen = payload.size(), hash = fnv1a(payload.data(), payload.size());
  bool ok = std::fwrite(kMagic, 1, 8, f) == 8 && std::fwrite(&klen, 8, 1, f) == 1 &&
            std::fwrite(key.data(), 1, klen, f) == klen && std::fwrite(&plen, 8, 1, f) == 1 &&
            std::fwrite(payload.data(), 1, plen, f) == plen && std::fwrite(&hash, 8, 1, f) == 1;
  ok = std::fclose(f) == 0 && ok;
  if (ok)
    std::rename(tmp.c_str(), file.c_str());  // atomic: readers see a whole file or none
  else
    std::remove(tmp.c_str());
}

}  // namespace tensorforge::codegen
