// The engine reader as a fuzz target: every input must load or fail with tensorforge::Error; an
// engine that loads and is small is also run once. Any other exception escapes and aborts, which
// the fuzzer reports as a crash, as it does for memory errors under the sanitizers.
//
// Built two ways (CMake option TENSORFORGE_BUILD_FUZZERS; scripts/fuzz.sh, scripts/sanitize.sh):
// - with clang and TENSORFORGE_LIBFUZZER=ON, a coverage-guided libFuzzer binary whose custom
//   mutator recomputes the file checksum after most mutations, so that damage reaches the parser;
// - otherwise a replayer: `tensorforge-fuzz-reader FILE_OR_DIR...` runs each file once.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "serialize/bytes.h"
#include "tensorforge/tensorforge.h"

using namespace tensorforge;

namespace {

constexpr size_t kMaxRunBytes = size_t(64) << 20;

void run_small(const Engine& engine) {
  if (engine.device() != DeviceKind::kCPU || engine.arena_size() > kMaxRunBytes) return;
  size_t total = 0;
  for (const IOTensorInfo& t : engine.io_tensors()) total += size_t(t.dims.volume()) * element_size(t.dtype);
  if (total > kMaxRunBytes) return;
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<void*> bindings;
  for (const IOTensorInfo& t : engine.io_tensors()) {
    buffers.emplace_back(size_t(t.dims.volume()) * element_size(t.dtype) + 1, 0);
    bindings.push_back(buffers.back().data());
  }
  ExecutionContext ctx = engine.create_execution_context();
  ctx.execute(bindings);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    run_small(Engine::deserialize(data, size));
  } catch (const Error&) {
    // what bad input must get
  }
  return 0;
}

#ifdef TENSORFORGE_LIBFUZZER
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

// libFuzzer's own mutations, then (15 times in 16) a fresh checksum over everything before it.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (size >= 20 && seed % 16 != 0) {
    uint64_t h = serialize::checksum(data, size - 8);
    std::memcpy(data + size - 8, &h, 8);
  }
  return size;
}
#else
int main(int argc, char** argv) {
  size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> paths;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file()) paths.push_back(e.path());
    } else {
      paths.emplace_back(argv[i]);
    }
    for (const auto& p : paths) {
      std::ifstream f(p, std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++files;
    }
  }
  std::printf("tensorforge-fuzz-reader: %zu inputs, no crash\n", files);
  return 0;
}
#endif
