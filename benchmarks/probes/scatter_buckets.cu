// Probe: issue 10's scatter add (float32 out[2^24] = x + src[2^22] added at int64 index[2^22], random
// targets; 184.5 MB moved as memory_bound_cuda.py counts it, 70% of the copy rate is about 87 µs on
// an H100) by three forms:
//  - plain: copy x, then one atomic a source element straight into the 64 MB output (each a DRAM
//    sector read and written);
//  - L2 chunks (the engine's, scatter.cu): per output chunk of 0.45 of the L2, copy it, then read
//    every index element again and add those landing in it (their atomics hit the L2);
//  - buckets: one pass sorts the (offset, value) pairs into C per-chunk buckets (warp-aggregated
//    slots, 8 bytes a pair), then per chunk: copy it, add its bucket's pairs. About 240 MB of traffic
//    for C = 4 instead of the chunks' 272 MB, and no index read twice.
// Outputs compared with the plain form's (float sums in another order: a few ulps); CUDA events,
// best of 5 x 20 of the whole sequence. Not built by CMake:
//   nvcc -std=c++17 -arch=sm_90 -O3 benchmarks/probes/scatter_buckets.cu -o /tmp/scatter && /tmp/scatter
// (or PROBES=scatter_buckets scripts/device_gpu.sh).
#include "probe_timing.cuh"

#include <cstdio>
#include <random>
#include <vector>

constexpr int kThreads = 256, kItems = 16;  // a bucketing block sorts 4096 pairs

__global__ void copy_range(const float4* x, float4* y, int64_t lo4, int64_t hi4) {
  for (int64_t i = lo4 + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < hi4; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i];
}

// Every index element; those in [lo, hi) added (streaming loads: the output's chunk stays in the L2).
__global__ void add_in_range(float* y, const int64_t* index, const float* src, int64_t n, int64_t lo, int64_t hi) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = __ldcs(index + i);
    if (j >= lo && j < hi) atomicAdd(y + j, __ldcs(src + i));
  }
}

// Pairs (offset in its chunk, value bits) into buckets[c * capacity + slot]; counts[c] the slots taken.
template <int C>
__global__ void __launch_bounds__(kThreads) to_buckets(const int64_t* __restrict__ index, const float* __restrict__ src,
                                                        int64_t n, int64_t chunk, int2* __restrict__ buckets,
                                                        int64_t capacity, unsigned long long* counts) {
  __shared__ int taken[C];
  __shared__ unsigned long long base[C];
  if (threadIdx.x < C) taken[threadIdx.x] = 0;
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int64_t first = blockIdx.x * int64_t(kThreads * kItems);
  int which[kItems], slot[kItems];
  int2 pair[kItems];
#pragma unroll
  for (int e = 0; e < kItems; ++e) {
    const int64_t i = first + e * kThreads + threadIdx.x;
    int c = -1;
    if (i < n) {
      const int64_t j = __ldcs(index + i);
      c = static_cast<int>(j / chunk);
      pair[e] = make_int2(static_cast<int>(j - c * chunk), __float_as_int(__ldcs(src + i)));
    }
    const unsigned peers = __match_any_sync(0xffffffffu, c);  // lanes of this warp with the same bucket
    const int leader = __ffs(peers) - 1;
    int at = 0;
    if (lane == leader && c >= 0) at = atomicAdd(&taken[c], __popc(peers));
    at = __shfl_sync(peers, at, leader);
    which[e] = c;
    slot[e] = at + __popc(peers & ((1u << lane) - 1));
  }
  __syncthreads();
  if (threadIdx.x < C) base[threadIdx.x] = atomicAdd(counts + threadIdx.x, static_cast<unsigned long long>(taken[threadIdx.x]));
  __syncthreads();
#pragma unroll
  for (int e = 0; e < kItems; ++e)
    if (which[e] >= 0) buckets[which[e] * capacity + base[which[e]] + slot[e]] = pair[e];
}

__global__ void add_bucket(float* y, const int2* bucket, const unsigned long long* count) {
  const int64_t n = static_cast<int64_t>(*count);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int2 p = __ldcs(bucket + i);
    atomicAdd(y + p.x, __int_as_float(p.y));
  }
}

__global__ void max_diff(const float* a, const float* b, int64_t n, float* out) {
  float m = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    m = fmaxf(m, fabsf(a[i] - b[i]));
  atomicMax(reinterpret_cast<int*>(out), __float_as_int(m));
}

int main() {
  const int64_t out_n = int64_t(1) << 24, n = int64_t(1) << 22;
  float *x, *y, *ref, *src, *diff;
  int64_t* index;
  cudaMalloc(&x, out_n * 4);
  cudaMalloc(&y, out_n * 4);
  cudaMalloc(&ref, out_n * 4);
  cudaMalloc(&src, n * 4);
  cudaMalloc(&index, n * 8);
  cudaMalloc(&diff, 4);
  {
    std::mt19937_64 g(1);
    std::normal_distribution<float> nd;
    std::vector<float> h(out_n);
    for (auto& v : h) v = nd(g);
    cudaMemcpy(x, h.data(), out_n * 4, cudaMemcpyHostToDevice);
    for (int64_t i = 0; i < n; ++i) h[i] = nd(g);
    cudaMemcpy(src, h.data(), n * 4, cudaMemcpyHostToDevice);
    std::vector<int64_t> hi(n);
    for (auto& v : hi) v = static_cast<int64_t>(g() % out_n);
    cudaMemcpy(index, hi.data(), n * 8, cudaMemcpyHostToDevice);
  }
  const int sms = [] { int s = 0; cudaDeviceGetAttribute(&s, cudaDevAttrMultiProcessorCount, 0); return s; }();
  int l2 = 0;
  cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0);
  const unsigned grid = sms * 8;
  const float copy_us = time_us([&] { copy16<<<grid, 256>>>((const uint4*)x, (uint4*)y, out_n / 4); });
  const double rate = 2.0 * out_n * 4 / copy_us / 1e3, moved = out_n * 4.0 * 2 + n * 12.0;
  printf("copy rate %.0f GB/s, L2 %d MB, %.1f MB moved: 70%% of the copy rate is %.1f us\n", rate, l2 >> 20,
         moved / 1e6, moved / (0.7 * rate) / 1e3);
  auto report = [&](const char* name, float us, const float* out) {
    cudaMemset(diff, 0, 4);
    max_diff<<<grid, 256>>>(out, ref, out_n, diff);
    float d = -1;
    cudaMemcpy(&d, diff, 4, cudaMemcpyDeviceToHost);
    printf("%-22s %7.1f us  %3.0f%% of the copy rate  max diff %.3g  %s\n", name, us, 100.0 * moved / us / 1e3 / rate,
           d, cudaGetErrorString(cudaGetLastError()));
  };
  auto plain = [&](float* out) {
    copy16<<<grid, 256>>>((const uint4*)x, (uint4*)out, out_n / 4);
    add_in_range<<<grid, 256>>>(out, index, src, n, 0, out_n);
  };
  plain(ref);
  report("plain", time_us([&] { plain(y); }), y);
  for (int chunks : {2, 3, 4}) {
    const int64_t step = ((out_n + chunks - 1) / chunks + 63) / 64 * 64;  // whole float4 runs a chunk
    auto run = [&] {
      for (int64_t lo = 0; lo < out_n; lo += step) {
        const int64_t hi = std::min(out_n, lo + step);
        copy_range<<<grid, 256>>>((const float4*)x, (float4*)y, lo / 4, hi / 4);
        add_in_range<<<grid, 256>>>(y, index, src, n, lo, hi);
      }
    };
    char name[64];
    snprintf(name, sizeof name, "L2 chunks, %d", chunks);
    report(name, time_us(run), y);
  }
  int2* buckets;
  unsigned long long* counts;
  cudaMalloc(&buckets, size_t(8) * n * 8);
  cudaMalloc(&counts, 8 * sizeof(unsigned long long));
  auto bucketed = [&](auto c_tag) {
    constexpr int C = decltype(c_tag)::value;
    const int64_t chunk = out_n / C;  // a power of two here
    auto run = [&] {
      cudaMemsetAsync(counts, 0, C * sizeof(unsigned long long));
      to_buckets<C><<<unsigned((n + kThreads * kItems - 1) / (kThreads * kItems)), kThreads>>>(index, src, n, chunk,
                                                                                                 buckets, n, counts);
      for (int c = 0; c < C; ++c) {
        copy_range<<<grid, 256>>>((const float4*)x, (float4*)y, c * chunk / 4, (c + 1) * chunk / 4);
        add_bucket<<<grid, 256>>>(y + c * chunk, buckets + c * n, counts + c);
      }
    };
    char name[64];
    snprintf(name, sizeof name, "buckets, %d", C);
    report(name, time_us(run), y);
  };
  bucketed(std::integral_constant<int, 2>{});
  bucketed(std::integral_constant<int, 4>{});
  bucketed(std::integral_constant<int, 8>{});
  return 0;
}
