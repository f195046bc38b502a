// Runs a saved TensorForge engine from C++ alone: loads the file, fills every float input with
// sin(0.01 * i) (element i, row-major), runs it on its device and prints each output's name, shape,
// element count and sum, and its first values.
//   run_engine model.tfengine
#include <tensorforge/tensorforge.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tf = tensorforge;

namespace {

int64_t count_of(const tf::Dims& d) {
  int64_t n = 1;
  for (int k = 0; k < d.rank(); ++k) n *= d[k];
  return n;
}

// Element i of a float tensor as a float, from its raw bytes.
float element(tf::DataType t, const std::vector<unsigned char>& bytes, int64_t i) {
  if (t == tf::DataType::kFloat32) {
    float v;
    std::memcpy(&v, bytes.data() + i * 4, 4);
    return v;
  }
  uint16_t bits;
  std::memcpy(&bits, bytes.data() + i * 2, 2);
  return t == tf::DataType::kFloat16 ? tf::half_to_float(bits) : tf::bfloat16_to_float(bits);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s ENGINE_FILE\n", argv[0]);
    return 2;
  }
  try {
    tf::Engine engine = tf::Engine::load(argv[1]);
    tf::ExecutionContext ctx = engine.create_execution_context();
    std::vector<tf::DeviceBuffer> buffers;
    std::vector<void*> bindings;
    for (const tf::IOTensorInfo& io : engine.io_tensors()) {
      const int64_t n = count_of(io.dims);
      const size_t bytes = static_cast<size_t>(n) * tf::element_size(io.dtype);
      buffers.emplace_back(engine.device(), bytes > 0 ? bytes : 1);
      if (io.is_input) {
        if (io.dtype != tf::DataType::kFloat32 && io.dtype != tf::DataType::kFloat16 &&
            io.dtype != tf::DataType::kBFloat16) {
          std::fprintf(stderr, "input %s is %s; this example fills float inputs only\n", io.name.c_str(),
                       tf::to_string(io.dtype));
          return 1;
        }
        std::vector<unsigned char> host(bytes);
        for (int64_t i = 0; i < n; ++i) {
          const float v = std::sin(0.01f * static_cast<float>(i));
          if (io.dtype == tf::DataType::kFloat32) {
            std::memcpy(host.data() + i * 4, &v, 4);
          } else {
            const uint16_t h = io.dtype == tf::DataType::kFloat16 ? tf::float_to_half(v) : tf::float_to_bfloat16(v);
            std::memcpy(host.data() + i * 2, &h, 2);
          }
        }
        buffers.back().upload(host.data(), bytes);
      }
      bindings.push_back(buffers.back().data());
    }
    ctx.execute(bindings);
    tf::synchronize(engine.device());
    for (size_t k = 0; k < engine.io_tensors().size(); ++k) {
      const tf::IOTensorInfo& io = engine.io_tensors()[k];
      if (io.is_input) continue;
      const int64_t n = count_of(io.dims);
      std::vector<unsigned char> host(static_cast<size_t>(n) * tf::element_size(io.dtype));
      buffers[k].download(host.data(), host.size());
      std::printf("output %s [", io.name.c_str());
      for (int d = 0; d < io.dims.rank(); ++d) std::printf(d ? ",%lld" : "%lld", static_cast<long long>(io.dims[d]));
      double sum = 0;
      const bool is_float = io.dtype == tf::DataType::kFloat32 || io.dtype == tf::DataType::kFloat16 ||
                            io.dtype == tf::DataType::kBFloat16;
      for (int64_t i = 0; is_float && i < n; ++i) sum += element(io.dtype, host, i);
      std::printf("] %s count %lld sum %.9g first", tf::to_string(io.dtype), static_cast<long long>(n), sum);
      for (int64_t i = 0; is_float && i < n && i < 4; ++i) std::printf(" %.9g", element(io.dtype, host, i));
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
