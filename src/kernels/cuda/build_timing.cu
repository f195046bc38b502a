// Scratch data and timing for choosing kernels at build time (see build_timing.h).
#include "kernels/cuda/build_timing.h"

#include "kernels/cuda/common.cuh"

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

float time_ms(const std::function<void()>& f, int calls) {
  cudaEvent_t start = nullptr, end = nullptr;
  check(cudaEventCreate(&start), "creating a timing event");
  check(cudaEventCreate(&end), "creating a timing event");
  f();
  check(cudaEventRecord(start, stream()), "recording a timing event");
  for (int i = 0; i < calls; ++i) f();
  check(cudaEventRecord(end, stream()), "recording a timing event");
  check(cudaEventSynchronize(end), "waiting for a timing event");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, end), "reading a timing event");
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  return ms / calls;
}

}  // namespace tensorforge::cuda
