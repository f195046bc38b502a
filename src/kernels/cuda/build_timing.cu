// Scratch data and timing for choosing kernels at build time (see build_timing.h).
#include "kernels/cuda/build_timing.h"

#include <algorithm>
#include <vector>

#include "kernels/cuda/common.cuh"
#include "runtime/device.h"

namespace tensorforge::cuda {

namespace {

// x[i] = a hash of (i, seed) mapped onto [-1, 1).
template <class T>
__global__ void fill_random_kernel(T* __restrict__ x, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ (static_cast<uint32_t>(i >> 32) + seed) * 40503u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    x[i] = store_as<T>(static_cast<float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
}

}  // namespace

void fill_random(DataType t, void* data, int64_t n, uint32_t seed) {
  if (n <= 0) return;
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      fill_random_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<T*>(data), n, seed);
      check_launch("filling scratch data for timing");
    }
  });
}

namespace {

// A 16-bit float's bits as an integer that orders like its value; `nan` whether it is NaN (its
// magnitude's bits above infinity's, `inf`: 0x7c00 for float16, 0x7f80 for bfloat16).
__device__ __forceinline__ int ordered16(uint16_t bits, uint16_t inf, bool& nan) {
  nan = (bits & 0x7fffu) > inf;
  return bits & 0x8000u ? -int(bits & 0x7fffu) : int(bits);
}

__global__ void count_unequal(const uint8_t* __restrict__ a, const uint8_t* __restrict__ b, int64_t n, int width,
                              bool bf16, int ulps, unsigned long long* unequal) {
  unsigned long long mine = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (width == 1) {
      mine += a[i] != b[i];
      continue;
    }
    const uint16_t x = reinterpret_cast<const uint16_t*>(a)[i], y = reinterpret_cast<const uint16_t*>(b)[i];
    const uint16_t inf = bf16 ? 0x7f80u : 0x7c00u;
    bool nx, ny;
    const int ox = ordered16(x, inf, nx), oy = ordered16(y, inf, ny);
    mine += nx || ny ? nx != ny : abs(ox - oy) > ulps;
  }
  if (mine) atomicAdd(unequal, mine);
}

}  // namespace

bool within_ulps(DataType t, const void* a, const void* b, int64_t n, int ulps) {
  if (n <= 0) return true;
  const bool half = t == DataType::kFloat16 || t == DataType::kBFloat16;
  const int64_t count = half ? n : n * static_cast<int64_t>(element_size(t));
  device::Buffer counter(DeviceKind::kCUDA, sizeof(unsigned long long));
  check(cudaMemsetAsync(counter.data(), 0, sizeof(unsigned long long), stream()), "comparing candidates' outputs");
  count_unequal<<<blocks_for(count), kThreads, 0, stream()>>>(static_cast<const uint8_t*>(a),
                                                               static_cast<const uint8_t*>(b), count, half ? 2 : 1,
                                                               t == DataType::kBFloat16, ulps,
                                                               reinterpret_cast<unsigned long long*>(counter.data()));
  check_launch("comparing candidates' outputs");
  unsigned long long unequal = 1;
  check(cudaMemcpyAsync(&unequal, counter.data(), sizeof unequal, cudaMemcpyDeviceToHost, stream()),
        "comparing candidates' outputs");
  check(cudaStreamSynchronize(stream()), "comparing candidates' outputs");
  return unequal == 0;
}

void put_nan(DataType t, void* data, int64_t index) {
  const uint32_t f32 = 0x7FC00000u;
  const uint16_t f16 = 0x7E00u, bf16 = 0x7FC0u;
  const void* bits = t == DataType::kFloat32 ? static_cast<const void*>(&f32)
                     : t == DataType::kFloat16 ? static_cast<const void*>(&f16)
                     : t == DataType::kBFloat16 ? static_cast<const void*>(&bf16) : nullptr;
  if (!bits) return;
  const size_t size = element_size(t);
  check(cudaMemcpyAsync(static_cast<char*>(data) + index * static_cast<int64_t>(size), bits, size,
                        cudaMemcpyHostToDevice, stream()),
        "writing a NaN into scratch data for timing");
  check(cudaStreamSynchronize(stream()), "writing a NaN into scratch data for timing");
}

namespace {

// Elapsed milliseconds between two events recorded around `enqueue` on stream `s`.
template <class F>
float elapsed_ms(cudaStream_t s, F&& enqueue) {
  cudaEvent_t start = nullptr, end = nullptr;
  check(cudaEventCreate(&start), "creating a timing event");
  check(cudaEventCreate(&end), "creating a timing event");
  check(cudaEventRecord(start, s), "recording a timing event");
  enqueue();
  check(cudaEventRecord(end, s), "recording a timing event");
  check(cudaEventSynchronize(end), "waiting for a timing event");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, end), "reading a timing event");
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  return ms;
}

// `calls` calls of f captured as one CUDA graph on stream `s` (f launches on the thread's current
// stream, which is switched to s meanwhile), or null where f cannot be captured (a library call
// that synchronizes or allocates); then nothing is left captured and no error pending.
cudaGraphExec_t capture(const std::function<void()>& f, int calls, cudaStream_t s) {
  void* before = device::current_stream();
  device::set_current_stream(s);
  cudaGraphExec_t exec = nullptr;
  if (cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess) {
    bool ok = true;
    try {
      for (int i = 0; i < calls; ++i) f();
    } catch (...) {
      ok = false;
    }
    cudaGraph_t graph = nullptr;
    ok = cudaStreamEndCapture(s, &graph) == cudaSuccess && ok && graph;
    if (ok && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) exec = nullptr;
    if (graph) cudaGraphDestroy(graph);
  }
  device::set_current_stream(before);
  if (!exec) cudaGetLastError();  // a failed capture's error is not the layer's
  return exec;
}

// The thread's stream for timing captures (created once; a non-blocking stream: a capture on a
// blocking one would make another thread's use of the legacy default stream meanwhile an error),
// or null where none can be created.
cudaStream_t capture_stream() {
  struct Holder {
    cudaStream_t s = nullptr;
    Holder() {
      if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) {
        s = nullptr;
        cudaGetLastError();
      }
    }
    ~Holder() {
      if (s) cudaStreamDestroy(s);
    }
  };
  thread_local Holder h;
  return h.s;
}

}  // namespace

float median_ms(const std::function<void()>& f, int calls, int rounds, bool graph) {
  f();  // warm-up, outside any capture: lazy initialization happens here
  // The scratch fills and the warm-up ran on the current stream: the capture stream does not order
  // after them by itself.
  check(cudaStreamSynchronize(stream()), "waiting for scratch data");
  std::vector<float> ms;
  if (cudaStream_t s = graph ? capture_stream() : nullptr) {
    if (cudaGraphExec_t exec = capture(f, calls, s)) {
      if (cudaGraphLaunch(exec, s) == cudaSuccess) {  // the graph's first launch uploads it
        for (int r = 0; r < rounds; ++r)
          ms.push_back(elapsed_ms(s, [&] { check(cudaGraphLaunch(exec, s), "replaying a timing graph"); }) / calls);
      } else {
        cudaGetLastError();
      }
      cudaGraphExecDestroy(exec);
      cudaStreamSynchronize(s);
    }
  }
  if (ms.empty()) {
    const cudaStream_t t = stream();
    for (int r = 0; r < rounds; ++r)
      ms.push_back(elapsed_ms(t, [&] {
                     for (int i = 0; i < calls; ++i) f();
                   }) / calls);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

float time_ms(const std::function<void()>& f, int calls) { return median_ms(f, calls, 1, false); }

}  // namespace tensorforge::cuda
