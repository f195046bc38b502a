// NVRTC compilation and the kernel cache (see nvrtc_cache.h).
#include "codegen/nvrtc_cache.h"

#include <dlfcn.h>
#include <nvrtc.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "codegen/disk_cache.h"
#include "common/build_clock.h"
#include "tensorforge/types.h"

namespace tensorforge::codegen {

namespace {

std::mutex g_mutex;
std::map<std::string, std::vector<char>> g_memory;  // key -> cubin
CompileStats g_stats;

void check(nvrtcResult r, const char* what) {
  if (r != NVRTC_SUCCESS) throw Error(ErrorCode::kRuntime, std::string("NVRTC error while ") + what + ": " + nvrtcGetErrorString(r));
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
  const std::string file = cache_file(dir, key, ".cubin");
  std::vector<char> cubin;
  bool from_disk = false;
  {
    TimedPart part("kernel cache reads");
    from_disk = read_entry(file, key, cubin);
  }
  if (!from_disk) {
    TimedPart part("NVRTC compiles");
    cubin = nvrtc_compile(source, cc);
    write_entry(dir, file, key, cubin);
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  ++(from_disk ? g_stats.disk_hits : g_stats.compiled);
  g_memory.emplace(key, cubin);
  return cubin;
}

}  // namespace tensorforge::codegen
