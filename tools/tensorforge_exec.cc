// tensorforge-exec: load an engine file and run it from C++ alone, in the spirit of trtexec: inputs
// generated or loaded from .npy files, in buffers on the engine's device; warm-up, then timed calls
// (each waited for, so the times are latencies: mean, median, percentiles); outputs summarized and
// optionally saved as .npy; a per-layer profile and the layer list as JSON.
//   tensorforge-exec ENGINE [--iterations N] [--warmup N] [--duration S] [--inspect]
//                    [--load-inputs DIR] [--save-outputs DIR] [--use-cuda-graph | --no-cuda-graph]
//                    [--export-profile FILE] [--export-layer-info FILE] [--shapes NAME:AxB,...]
// A dynamic engine file (named sizes) runs the plan for --shapes (inputs not named take the sizes' opt).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "npy.h"
#include "tensorforge/tensorforge.h"

using namespace tensorforge;

namespace {

const char* kUsage =
    "usage: tensorforge-exec ENGINE [options]\n"
    "  --iterations N          timed calls (default 20)\n"
    "  --warmup N              untimed calls first (default 2)\n"
    "  --duration S            keep calling until S seconds have passed and N calls are done (at most 10^7)\n"
    "  --inspect               print the engine's layers\n"
    "  --load-inputs DIR       read each input from DIR/<name>.npy (default: random values, zeros for integers)\n"
    "  --save-outputs DIR      write each output to DIR/<name>.npy (DIR must exist)\n"
    "  --use-cuda-graph        replay the engine as a CUDA graph (CUDA engines; the default)\n"
    "  --no-cuda-graph         launch the kernels on every call\n"
    "  --export-profile FILE   time every layer over the iterations and write them as JSON\n"
    "  --export-layer-info FILE  write the engine's layers (engine.inspect_json()) as JSON\n"
    "  --shapes NAME:AxB,...   dynamic engine files: the inputs' shapes (others at the sizes' opt)\n";

struct Options {
  std::string engine;
  int iterations = 20, warmup = 2;
  double duration = 0;
  bool inspect = false, cuda_graph = true;
  std::string load_inputs, save_outputs, export_profile, export_layer_info;
  std::vector<std::pair<std::string, Dims>> shapes;  // --shapes, in the order given
};

// Exits with status 2 and the usage after `message`.
[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "tensorforge-exec: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

int parse_count(const std::string& flag, const char* text) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < 0 || v > 100000000)
    usage_error(flag + " takes a whole number from 0 to 100000000, got '" + text + "'");
  return static_cast<int>(v);
}

double parse_seconds(const std::string& flag, const char* text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (errno || end == text || *end != '\0' || !(v >= 0) || v > 86400)
    usage_error(flag + " takes seconds from 0 to 86400, got '" + text + "'");
  return v;
}

// "x:4x3x224x224,ids:4x128" -> (name, dims) pairs.
std::vector<std::pair<std::string, Dims>> parse_shapes(const std::string& text) {
  std::vector<std::pair<std::string, Dims>> out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t end = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, end - at);
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      usage_error("--shapes takes NAME:AxB,... (for example x:4x3x224x224), got '" + item + "'");
    std::vector<int64_t> dims;
    size_t d = colon + 1;
    while (d <= item.size()) {
      const size_t x = std::min(item.find('x', d), item.size());
      dims.push_back(parse_count("--shapes " + item.substr(0, colon), item.substr(d, x - d).c_str()));
      d = x + 1;
    }
    if (dims.size() > static_cast<size_t>(kMaxDims)) usage_error("--shapes: '" + item + "' has too many dims");
    out.emplace_back(item.substr(0, colon), Dims(dims));
    at = end + 1;
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--iterations") {
      o.iterations = parse_count(a, value());
    } else if (a == "--warmup") {
      o.warmup = parse_count(a, value());
    } else if (a == "--duration") {
      o.duration = parse_seconds(a, value());
    } else if (a == "--inspect") {
      o.inspect = true;
    } else if (a == "--use-cuda-graph") {
      o.cuda_graph = true;
    } else if (a == "--no-cuda-graph") {
      o.cuda_graph = false;
    } else if (a == "--load-inputs") {
      o.load_inputs = value();
    } else if (a == "--save-outputs") {
      o.save_outputs = value();
    } else if (a == "--export-profile") {
      o.export_profile = value();
    } else if (a == "--export-layer-info") {
      o.export_layer_info = value();
    } else if (a == "--shapes") {
      o.shapes = parse_shapes(value());
    } else if (a.rfind("--", 0) == 0 || !o.engine.empty()) {
      usage_error("unknown argument '" + a + "'");
    } else {
      o.engine = a;
    }
  }
  if (o.engine.empty()) usage_error("no engine file given");
  return o;
}

void fill_random(std::vector<uint8_t>& buf, const IOTensorInfo& t, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t n = t.dims.volume();
  for (int64_t i = 0; i < n; ++i) {
    const float v = u(rng);
    uint16_t h = 0;
    switch (t.dtype) {
      case DataType::kFloat32: std::memcpy(buf.data() + i * 4, &v, 4); break;
      case DataType::kFloat16: h = float_to_half(v); std::memcpy(buf.data() + i * 2, &h, 2); break;
      case DataType::kBFloat16: h = float_to_bfloat16(v); std::memcpy(buf.data() + i * 2, &h, 2); break;
      default: break;  // integers and booleans stay 0: indices in range
    }
  }
}

double element(const std::vector<uint8_t>& buf, DataType t, int64_t i) {
  switch (t) {
    case DataType::kFloat32: { float f; std::memcpy(&f, buf.data() + i * 4, 4); return f; }
    case DataType::kFloat16: { uint16_t h; std::memcpy(&h, buf.data() + i * 2, 2); return half_to_float(h); }
    case DataType::kBFloat16: { uint16_t h; std::memcpy(&h, buf.data() + i * 2, 2); return bfloat16_to_float(h); }
    case DataType::kInt32: { int32_t v; std::memcpy(&v, buf.data() + i * 4, 4); return v; }
    case DataType::kInt64: { int64_t v; std::memcpy(&v, buf.data() + i * 8, 8); return static_cast<double>(v); }
    case DataType::kInt8: return static_cast<int8_t>(buf[i]);
    case DataType::kBool:
    case DataType::kUInt8: return buf[i];
  }
  return 0;
}

double checksum(const std::vector<uint8_t>& buf, const IOTensorInfo& t) {
  double s = 0;
  for (int64_t i = 0; i < t.dims.volume(); ++i) s += element(buf, t.dtype, i);
  return s;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t k = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(k, sorted.size() - 1)];
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw Error(ErrorCode::kRuntime, "cannot write " + path);
}

// The engine file's engine; for a dynamic engine file, its plan for --shapes.
Engine open_engine(const Options& o) {
  try {
    Engine engine = Engine::load(o.engine);
    if (!o.shapes.empty()) throw Error(ErrorCode::kInvalidArgument, "--shapes is for dynamic engine files; '" +
                                                                          o.engine + "' holds a static engine");
    return engine;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnsupported || !std::strstr(e.what(), "holds a dynamic engine")) throw;
  }
  const DynamicEngine dynamic = DynamicEngine::load(o.engine);
  std::vector<IOTensorInfo> inputs = dynamic.inputs();
  std::vector<Dims> dims;
  for (const auto& [name, d] : o.shapes) {
    auto it = std::find_if(inputs.begin(), inputs.end(), [&](const IOTensorInfo& t) { return t.name == name; });
    if (it != inputs.end())
      it->dims = d;
    else
      throw Error(ErrorCode::kInvalidArgument, "--shapes names '" + name + "', which is not an input");
  }
  for (const IOTensorInfo& t : inputs) dims.push_back(t.dims);
  std::string sizes;
  for (const SizeInfo& s : dynamic.sizes())
    sizes += (sizes.empty() ? "" : ", ") + s.name + " " + std::to_string(s.min) + ".." + std::to_string(s.max) +
             " (opt " + std::to_string(s.opt) + ")";
  std::printf("dynamic engine: sizes %s\n", sizes.c_str());
  return dynamic.plan(dims);
}

int run(const Options& o) {
  Engine engine = open_engine(o);
  if (o.inspect) std::printf("%s", engine.inspect().c_str());
  if (!o.export_layer_info.empty()) write_text(o.export_layer_info, engine.inspect_json() + "\n");
  const DeviceKind device = engine.device();
  ExecutionContext ctx = engine.create_execution_context();
  ctx.set_cuda_graphs(o.cuda_graph);

  // Host copies and device buffers of every input and output, in io_tensors() order.
  const std::vector<IOTensorInfo>& io = engine.io_tensors();
  std::mt19937 rng(0);
  std::vector<std::vector<uint8_t>> host;
  std::vector<DeviceBuffer> buffers;
  std::vector<void*> bindings;
  for (const IOTensorInfo& t : io) {
    const size_t bytes = static_cast<size_t>(t.dims.volume()) * element_size(t.dtype);
    host.emplace_back(bytes);
    if (t.is_input) {
      if (o.load_inputs.empty())
        fill_random(host.back(), t, rng);
      else
        host.back() = tfexec::read_npy(o.load_inputs + "/" + t.name + ".npy", t.dtype, t.dims);
    }
    buffers.emplace_back(device, bytes);
    if (t.is_input) buffers.back().upload(host.back().data(), bytes);
    bindings.push_back(buffers.back().data());
  }

  auto call = [&] {
    ctx.execute(bindings);
    synchronize(device);
  };
  for (int i = 0; i < o.warmup; ++i) call();
  if (!o.export_profile.empty()) ctx.set_profiling(true);
  std::vector<double> ms;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  constexpr size_t kMostCalls = 10000000;  // --duration with very short calls: memory for the times
  while ((static_cast<int>(ms.size()) < o.iterations || (o.duration > 0 && elapsed_s() < o.duration)) &&
         ms.size() < kMostCalls) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }

  for (size_t i = 0; i < io.size(); ++i) {
    if (io[i].is_input) continue;
    buffers[i].download(host[i].data(), host[i].size());
    std::printf("output %s: %s%s sum=%.6g\n", io[i].name.c_str(), to_string(io[i].dtype), io[i].dims.str().c_str(),
                checksum(host[i], io[i]));
    if (!o.save_outputs.empty()) tfexec::write_npy(o.save_outputs + "/" + io[i].name + ".npy", io[i].dtype, io[i].dims, host[i]);
  }
  if (!o.export_profile.empty()) {
    const std::vector<double> layers = ctx.layer_times_ms();
    const int runs = std::max(ctx.profiled_runs(), 1);
    std::string json = "{\"runs\": " + std::to_string(ctx.profiled_runs()) + ", \"layer_ms\": [";
    for (size_t i = 0; i < layers.size(); ++i) json += (i ? ", " : "") + std::to_string(layers[i] / runs);
    json += "], \"engine\": " + engine.inspect_json() + "}\n";
    write_text(o.export_profile, json);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double total = 0;
  for (double m : ms) total += m;
  const double mean = ms.empty() ? 0.0 : total / static_cast<double>(ms.size());
  std::printf("%.3f ms per call over %zu calls (%s)\n", mean, ms.size(), to_string(device));
  if (!ms.empty())
    std::printf("latency ms: mean %.4f, median %.4f, p90 %.4f, p99 %.4f, min %.4f, max %.4f%s\n", mean,
                percentile(sorted, 50), percentile(sorted, 90), percentile(sorted, 99), sorted.front(), sorted.back(),
                o.export_profile.empty() ? "" : " (profiled: each layer waited for)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    std::printf("%s", kUsage);
    return 0;
  }
  const Options o = parse(argc, argv);
  try {
    return run(o);
  } catch (const Error& e) {
    std::fprintf(stderr, "tensorforge-exec: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tensorforge-exec: out of memory (the engine's inputs and outputs do not fit)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tensorforge-exec: unexpected error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "tensorforge-exec: unexpected error\n");
    return 1;
  }
}
