// tensorforge-exec: load an engine file, run it on generated inputs, print its outputs' summary
// and the time per call. No Python involved.
//   tensorforge-exec ENGINE [--iterations N] [--warmup N] [--inspect]
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <new>
#include <string>
#include <vector>

#include "common/half.h"
#include "tensorforge/tensorforge.h"

using namespace tensorforge;

namespace {

void fill_random(std::vector<uint8_t>& buf, const IOTensorInfo& t, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int64_t n = t.dims.volume();
  for (int64_t i = 0; i < n; ++i) {
    float v = u(rng);
    switch (t.dtype) {
      case DataType::kFloat32: reinterpret_cast<float*>(buf.data())[i] = v; break;
      case DataType::kFloat16: reinterpret_cast<half_t*>(buf.data())[i] = to_half(v); break;
      case DataType::kBFloat16: reinterpret_cast<bfloat16_t*>(buf.data())[i] = to_bfloat16(v); break;
      case DataType::kInt32: reinterpret_cast<int32_t*>(buf.data())[i] = 0; break;  // indices stay in range
      case DataType::kInt64: reinterpret_cast<int64_t*>(buf.data())[i] = 0; break;
      default: buf[i * element_size(t.dtype)] = 0; break;
    }
  }
}

double checksum_of(const std::vector<uint8_t>& buf, const IOTensorInfo& t) {
  double s = 0;
  int64_t n = t.dims.volume();
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DataType::kFloat32: s += reinterpret_cast<const float*>(buf.data())[i]; break;
      case DataType::kFloat16: s += to_float(reinterpret_cast<const half_t*>(buf.data())[i]); break;
      case DataType::kBFloat16: s += to_float(reinterpret_cast<const bfloat16_t*>(buf.data())[i]); break;
      case DataType::kInt32: s += reinterpret_cast<const int32_t*>(buf.data())[i]; break;
      case DataType::kInt64: s += static_cast<double>(reinterpret_cast<const int64_t*>(buf.data())[i]); break;
      default: s += buf[i * element_size(t.dtype)]; break;
    }
  }
  return s;
}

// A non-negative count from the command line; false for anything else ("abc", "-1", "1e3", overflow).
bool parse_count(const char* text, int& out) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < 0 || v > 100000000) return false;
  out = static_cast<int>(v);
  return true;
}

const char* kUsage = "usage: tensorforge-exec ENGINE [--iterations N] [--warmup N] [--inspect]\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help")) {
    std::printf("%s", kUsage);
    return argc < 2 ? 2 : 0;
  }
  int iterations = 20, warmup = 2;
  bool inspect = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iterations" || a == "--warmup") {
      int& target = a == "--iterations" ? iterations : warmup;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tensorforge-exec: %s needs a value\n%s", a.c_str(), kUsage);
        return 2;
      }
      if (!parse_count(argv[++i], target)) {
        std::fprintf(stderr, "tensorforge-exec: %s takes a whole number from 0 to 100000000, got '%s'\n%s",
                     a.c_str(), argv[i], kUsage);
        return 2;
      }
    } else if (a == "--inspect") {
      inspect = true;
    } else {
      std::fprintf(stderr, "tensorforge-exec: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  try {
    Engine engine = Engine::load(argv[1]);
    if (inspect) std::printf("%s", engine.inspect().c_str());
    ExecutionContext ctx = engine.create_execution_context();
    std::mt19937 rng(0);
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<void*> bindings;
    for (const IOTensorInfo& t : engine.io_tensors()) {
      buffers.emplace_back(static_cast<size_t>(t.dims.volume()) * element_size(t.dtype) + 1);
      if (t.is_input) fill_random(buffers.back(), t, rng);
      bindings.push_back(buffers.back().data());
    }
    for (int i = 0; i < warmup; ++i) ctx.execute(bindings);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) ctx.execute(bindings);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const auto& io = engine.io_tensors();
    for (size_t i = 0; i < io.size(); ++i)
      if (!io[i].is_input)
        std::printf("output %s: %s%s sum=%.6g\n", io[i].name.c_str(), to_string(io[i].dtype), io[i].dims.str().c_str(),
                    checksum_of(buffers[i], io[i]));
    std::printf("%.3f ms per call over %d calls (%s)\n", iterations ? ms / iterations : 0.0, iterations,
                to_string(engine.device()));
  } catch (const Error& e) {
    std::fprintf(stderr, "tensorforge-exec: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tensorforge-exec: out of host memory (the engine's inputs and outputs do not fit)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tensorforge-exec: unexpected error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "tensorforge-exec: unexpected error\n");
    return 1;
  }
  return 0;
}
