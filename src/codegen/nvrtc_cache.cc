// NVRTC compilation and the kernel cache (see nvrtc_cache.h).
#include "codegen/nvrtc_cache.h"

#include <dlfcn.h>
#include <nvrtc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "common/build_clock.h"
#include "tensorforge/types.h"

namespace tensorforge::codegen {

namespace {

constexpr char kMagic[8] = {'T', 'F', 'K', 'E', 'R', 'N', 'E', 'L'};

std::mutex g_mutex;
std::map<std::string, std::vector<char>> g_memory;  // key -> cubin
CompileStats g_stats;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

void check(nvrtcResult r, const char* what) {
  if (r != NVRTC_SUCCESS) throw Error(ErrorCode::kRuntime, std::string("NVRTC error while ") + what + ": " + nvrtcGetErrorString(r));
}

void make_dirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

// The cache file: magic, u64 key length, key, u64 cubin length, cubin.
bool read_cached(const std::string& file, const std::string& key, std::vector<char>& cubin) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return false;
  bool ok = false;
  char magic[8];
  uint64_t klen = 0, clen = 0;
  if (std::fread(magic, 1, 8, f) == 8 && !std::memcmp(magic, kMagic, 8) && std::fread(&klen, 8, 1, f) == 1 &&
      klen == key.size()) {
    std::string stored(klen, '\0');
    if (std::fread(stored.data(), 1, klen, f) == klen && stored == key && std::fread(&clen, 8, 1, f) == 1 &&
        clen > 0 && clen < (uint64_t(1) << 30)) {
      cubin.resize(clen);
      ok = std::fread(cubin.data(), 1, clen, f) == clen;
    }
  }
  std::fclose(f);
  return ok;
}

void write_cached(const std::string& dir, const std::string& file, const std::string& key,
                  const std::vector<char>& cubin) {
  make_dirs(dir);
  std::string tmp = file + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return;  // a cache that cannot be written only costs a compile next time
  uint64_t klen = key.size(), clen = cubin.size();
  bool ok = std::fwrite(kMagic, 1, 8, f) == 8 && std::fwrite(&klen, 8, 1, f) == 1 &&
            std::fwrite(key.data(), 1, klen, f) == klen && std::fwrite(&clen, 8, 1, f) == 1 &&
            std::fwrite(cubin.data(), 1, clen, f) == clen;
  ok = std::fclose(f) == 0 && ok;
  if (ok)
    std::rename(tmp.c_str(), file.c_str());  // atomic: readers see a whole file or none
  else
    std::remove(tmp.c_str());
}

// NVRTC opens libnvrtc-builtins.so.<version> by name when it compiles; NVIDIA's pip package puts it
// beside libnvrtc.so without a search path that finds it, so it is loaded here from that folder
// first (a library already loaded is found by name).
void preload_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void*>(&nvrtcVersion), &info) || !info.dli_fname) return;
    std::string path = info.dli_fname;
    std::string dir = path.substr(0, path.rfind('/') + 1);
    int major = 0, minor = 0;
    nvrtcVersion(&major, &minor);
    std::string name = "libnvrtc-builtins.so." + std::to_string(major) + "." + std::to_string(minor);
    if (!dlopen((dir + name).c_str(), RTLD_NOW | RTLD_GLOBAL)) dlerror();  // else NVRTC reports it
  });
}

std::vector<char> nvrtc_compile(const std::string& source, int cc) {
  preload_builtins();
  nvrtcProgram prog = nullptr;
  check(nvrtcCreateProgram(&prog, source.c_str(), "tensorforge_pointwise.cu", 0, nullptr, nullptr),
        "creating a program");
  std::string arch = "--gpu-architecture=sm_" + std::to_string(cc);
  const char* options[] = {arch.c_str(), "--std=c++17", "-default-device"};
  nvrtcResult r = nvrtcCompileProgram(prog, 3, options);
  if (r != NVRTC_SUCCESS) {
    size_t n = 0;
    nvrtcGetProgramLogSize(prog, &n);
    std::string log(n, '\0');
    nvrtcGetProgramLog(prog, log.data());
    nvrtcDestroyProgram(&prog);
    throw Error(ErrorCode::kRuntime, std::string("NVRTC could not compile a generated kernel (") +
                                         nvrtcGetErrorString(r) + "):\n" + log + "\nsource:\n" + source);
  }
  size_t n = 0;
  check(nvrtcGetCUBINSize(prog, &n), "reading the machine code size");
  std::vector<char> cubin(n);
  check(nvrtcGetCUBIN(prog, cubin.data()), "reading the machine code");
  nvrtcDestroyProgram(&prog);
  return cubin;
}

}  // namespace

std::string nvrtc_version() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string kernel_cache_dir() {
  if (const char* d = std::getenv("TENSORFORGE_KERNEL_CACHE")) return std::string(d) == "off" ? "" : d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tensorforge/kernels";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/tensorforge/kernels";
  return "";
}

void clear_memory_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_memory.clear();
}

CompileStats compile_stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_stats;
}

std::vector<char> compile_cubin(const std::string& source, int cc) {
  const std::string key = "sm_" + std::to_string(cc) + "\nnvrtc " + nvrtc_version() + "\n" + source;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_memory.find(key);
    if (it != g_memory.end()) {
      ++g_stats.memory_hits;
      return it->second;
    }
  }
  const std::string dir = kernel_cache_dir();
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.cubin", static_cast<unsigned long long>(fnv1a(key)));
  const std::string file = dir.empty() ? "" : dir + "/" + name;
  std::vector<char> cubin;
  bool from_disk = false;
  {
    TimedPart part("kernel cache reads");
    from_disk = !file.empty() && read_cached(file, key, cubin);
  }
  if (!from_disk) {
    TimedPart part("NVRTC compiles");
    cubin = nvrtc_compile(source, cc);
    if (!file.empty()) write_cached(dir, file, key, cubin);
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  ++(from_disk ? g_stats.disk_hits : g_stats.compiled);
  g_memory.emplace(key, cubin);
  return cubin;
}

}  // namespace tensorforge::codegen
