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

// Tiles: the output in tiles of 2^kLog floats that a block holds in shared memory.
//  - to_tiles: a block takes kPer index elements, counts them per tile in shared memory, groups them
//    by tile there (a counting sort), reserves each tile's run in that tile's bucket with one global
//    atomic and writes its pairs (offset in the tile, value bits) as runs, so consecutive lanes write
//    consecutive addresses; a pair past its bucket's capacity spills to a list of (offset, value).
//  - tile_add: a block a tile copies x's tile into shared memory, adds its bucket's pairs there by
//    shared-memory atomics and writes the tile out (x and y each pass DRAM once, no global atomic).
//  - add_spilled: the spilled pairs by global atomics (none for uniform indices).
constexpr int kSortThreads = 512;

// kExact: counts holds each tile's first slot in one array of n pairs (tile_starts' cursor), whose
// runs tile_histogram and tile_starts sized beforehand, so nothing spills (one more index read).
template <int kLog, int kPer, bool kExact = false>
__global__ void __launch_bounds__(kSortThreads, 2) to_tiles(const int64_t* __restrict__ index, const float* __restrict__ src,
                                                         int64_t n, int64_t out_n, int tiles, int2* __restrict__ pairs,
                                                         int capacity, unsigned* __restrict__ counts,
                                                         int64_t* __restrict__ spill_at, float* __restrict__ spill_val,
                                                         unsigned* __restrict__ spilled) {
  constexpr int kItems = kPer / kSortThreads;
  extern __shared__ int4 shared_raw[];
  int* count = reinterpret_cast<int*>(shared_raw);  // [tiles]: this block's pairs a tile
  int* start = count + tiles;                        // [tiles]: where the tile's run starts in stage
  int* base = start + tiles;                         // [tiles]: where it starts in the bucket
  int2* stage = reinterpret_cast<int2*>(base + tiles + (tiles & 1));
  unsigned short* tile_of = reinterpret_cast<unsigned short*>(stage + kPer);
  __shared__ int warp_sums[kSortThreads / 32];
  for (int t = threadIdx.x; t < tiles; t += kSortThreads) count[t] = 0;
  __syncthreads();
  const int64_t first = blockIdx.x * int64_t(kPer);
  int where[kItems], slot[kItems], bits[kItems];  // where: tile << 16 | offset in it, -1 for none
#pragma unroll
  for (int e = 0; e < kItems; ++e) {
    const int64_t i = first + e * kSortThreads + threadIdx.x;
    where[e] = -1;
    if (i < n) {
      const int64_t j = __ldcs(index + i);
      if (j >= 0 && j < out_n) {
        const int t = static_cast<int>(j >> kLog);
        where[e] = t << 16 | static_cast<int>(j & ((1 << kLog) - 1));
        bits[e] = __float_as_int(__ldcs(src + i));
        slot[e] = atomicAdd(&count[t], 1);
      }
    }
  }
  __syncthreads();
  // Exclusive scan of count into start: each thread a run of consecutive tiles, then the warps'.
  const int per = (tiles + kSortThreads - 1) / kSortThreads, lo = min(tiles, threadIdx.x * per),
            hi = min(tiles, lo + per);
  int mine = 0;
  for (int t = lo; t < hi; ++t) mine += count[t];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int incl = mine;
  for (int d = 1; d < 32; d <<= 1) {
    const int v = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += v;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  int before = incl - mine;
  for (int w = 0; w < warp; ++w) before += warp_sums[w];
  for (int t = lo; t < hi; ++t) {
    start[t] = before;
    before += count[t];
    base[t] = count[t] ? static_cast<int>(atomicAdd(counts + t, static_cast<unsigned>(count[t]))) : 0;
  }
  __syncthreads();
  int total = 0;
  for (int w = 0; w < kSortThreads / 32; ++w) total += warp_sums[w];
#pragma unroll
  for (int e = 0; e < kItems; ++e)
    if (where[e] >= 0) {
      const int t = where[e] >> 16, k = start[t] + slot[e];
      stage[k] = make_int2(where[e] & 0xffff, bits[e]);
      tile_of[k] = static_cast<unsigned short>(t);
    }
  __syncthreads();
  for (int k = threadIdx.x; k < total; k += kSortThreads) {
    const int t = tile_of[k];
    const int pos = base[t] + (k - start[t]);
    const int2 p = stage[k];
    if (kExact) {
      pairs[pos] = p;
    } else if (pos < capacity) {
      pairs[int64_t(t) * capacity + pos] = p;
    } else {
      const unsigned a = atomicAdd(spilled, 1u);
      spill_at[a] = (int64_t(t) << kLog) + p.x;
      spill_val[a] = __int_as_float(p.y);
    }
  }
}

// Pairs a tile: its counts[t] starting at tile * capacity, or with kExact from starts[t] to starts[t + 1].
template <int kLog, bool kExact = false>
__global__ void __launch_bounds__(256) tile_add(const float* __restrict__ x, float* __restrict__ y,
                                                const int2* __restrict__ pairs, int capacity,
                                                const unsigned* __restrict__ counts) {
  extern __shared__ int4 shared_raw[];
  float4* s4 = reinterpret_cast<float4*>(shared_raw);
  float* s = reinterpret_cast<float*>(shared_raw);
  const int64_t at = int64_t(blockIdx.x) << kLog;
  const float4* x4 = reinterpret_cast<const float4*>(x + at);
  for (int q = threadIdx.x; q < (1 << kLog) / 4; q += blockDim.x) s4[q] = __ldcs(x4 + q);
  __syncthreads();
  const int c = kExact ? static_cast<int>(counts[blockIdx.x + 1] - counts[blockIdx.x])
                       : min(static_cast<int>(counts[blockIdx.x]), capacity);
  const int2* mine = pairs + (kExact ? int64_t(counts[blockIdx.x]) : int64_t(blockIdx.x) * capacity);
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const int2 p = __ldcs(mine + k);
    atomicAdd(s + p.x, __int_as_float(p.y));
  }
  __syncthreads();
  float4* y4 = reinterpret_cast<float4*>(y + at);
  for (int q = threadIdx.x; q < (1 << kLog) / 4; q += blockDim.x) __stcs(y4 + q, s4[q]);
}

// Index elements a tile, counted in shared memory per block, then added to hist.
template <int kLog, int kPer>
__global__ void __launch_bounds__(kSortThreads) tile_histogram(const int64_t* __restrict__ index, int64_t n,
                                                               int64_t out_n, int tiles, unsigned* __restrict__ hist) {
  extern __shared__ int4 shared_raw[];
  int* count = reinterpret_cast<int*>(shared_raw);
  for (int t = threadIdx.x; t < tiles; t += kSortThreads) count[t] = 0;
  __syncthreads();
  const int64_t first = blockIdx.x * int64_t(kPer);
#pragma unroll 4
  for (int e = 0; e < kPer / kSortThreads; ++e) {
    const int64_t i = first + e * kSortThreads + threadIdx.x;
    if (i < n) {
      const int64_t j = index[i];
      if (j >= 0 && j < out_n) atomicAdd(&count[j >> kLog], 1);
    }
  }
  __syncthreads();
  for (int t = threadIdx.x; t < tiles; t += kSortThreads)
    if (count[t]) atomicAdd(hist + t, static_cast<unsigned>(count[t]));
}

// One block of 1024: starts[t] = the sum of hist before t (starts[tiles] the total), and cursor = starts.
__global__ void __launch_bounds__(1024) tile_starts(const unsigned* __restrict__ hist, int tiles,
                                                    unsigned* __restrict__ starts, unsigned* __restrict__ cursor) {
  __shared__ unsigned warp_sums[32];
  const int per = (tiles + 1023) / 1024, lo = min(tiles, int(threadIdx.x) * per), hi = min(tiles, lo + per);
  unsigned mine = 0;
  for (int t = lo; t < hi; ++t) mine += hist[t];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  unsigned incl = mine;
  for (int d = 1; d < 32; d <<= 1) {
    const unsigned v = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += v;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  unsigned before = incl - mine;
  for (int w = 0; w < warp; ++w) before += warp_sums[w];
  for (int t = lo; t < hi; ++t) {
    starts[t] = cursor[t] = before;
    before += hist[t];
  }
  if (threadIdx.x == 1023) starts[tiles] = before;
}

__global__ void add_spilled(float* y, const int64_t* at, const float* val, const unsigned* spilled) {
  const unsigned n = *spilled;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) atomicAdd(y + at[i], val[i]);
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
  // Shared-memory tiles (out_n is a multiple of every tile here).
  unsigned* tile_counts;
  unsigned* spilled;
  int64_t* spill_at;
  float* spill_val;
  cudaMalloc(&tile_counts, 8192 * sizeof(unsigned));
  cudaMalloc(&spilled, sizeof(unsigned));
  cudaMalloc(&spill_at, n * 8);
  cudaMalloc(&spill_val, n * 4);
  auto tiled = [&](auto log_tag, auto per_tag, double slack, const char* what) {
    constexpr int kLog = decltype(log_tag)::value, kPer = decltype(per_tag)::value;
    const int tiles = static_cast<int>(out_n >> kLog);
    const int capacity = static_cast<int>(slack * n / tiles) + 256;
    const size_t sort_smem = size_t(tiles) * 12 + 8 + size_t(kPer) * 10, tile_smem = size_t(4) << kLog;
    cudaFuncSetAttribute(to_tiles<kLog, kPer>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(sort_smem));
    cudaFuncSetAttribute(tile_add<kLog>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(tile_smem));
    auto run = [&] {
      cudaMemsetAsync(tile_counts, 0, tiles * sizeof(unsigned));
      cudaMemsetAsync(spilled, 0, sizeof(unsigned));
      to_tiles<kLog, kPer><<<unsigned((n + kPer - 1) / kPer), kSortThreads, sort_smem>>>(
          index, src, n, out_n, tiles, buckets, capacity, tile_counts, spill_at, spill_val, spilled);
      tile_add<kLog><<<tiles, 256, tile_smem>>>(x, y, buckets, capacity, tile_counts);
      add_spilled<<<sms * 2, 256>>>(y, spill_at, spill_val, spilled);
    };
    unsigned spill_n = 0;
    run();
    cudaMemcpy(&spill_n, spilled, sizeof spill_n, cudaMemcpyDeviceToHost);
    const float pass1 = time_us([&] {
      cudaMemsetAsync(tile_counts, 0, tiles * sizeof(unsigned));
      cudaMemsetAsync(spilled, 0, sizeof(unsigned));  // (run AL's call left this out: the spills overran)
      to_tiles<kLog, kPer><<<unsigned((n + kPer - 1) / kPer), kSortThreads, sort_smem>>>(
          index, src, n, out_n, tiles, buckets, capacity, tile_counts, spill_at, spill_val, spilled);
    });
    char name[96];
    snprintf(name, sizeof name, "tiles 2^%d, %d a block, %s", kLog, kPer, what);
    const float us = time_us(run);
    report(name, us, y);
    printf("    (%d tiles, capacity %d, %u spilled; the sorting pass alone %.1f us)\n", tiles, capacity, spill_n, pass1);
  };
  auto exact = [&](auto log_tag, auto per_tag) {
    constexpr int kLog = decltype(log_tag)::value, kPer = decltype(per_tag)::value;
    const int tiles = static_cast<int>(out_n >> kLog);
    const size_t sort_smem = size_t(tiles) * 12 + 8 + size_t(kPer) * 10, tile_smem = size_t(4) << kLog;
    cudaFuncSetAttribute(to_tiles<kLog, kPer, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(sort_smem));
    cudaFuncSetAttribute(tile_add<kLog, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(tile_smem));
    unsigned* starts = tile_counts + 2048;  // [tiles + 1]
    const unsigned blocks = unsigned((n + kPer - 1) / kPer);
    auto run = [&] {
      cudaMemsetAsync(tile_counts, 0, tiles * sizeof(unsigned));
      tile_histogram<kLog, kPer><<<blocks, kSortThreads, tiles * 4>>>(index, n, out_n, tiles, tile_counts);
      tile_starts<<<1, 1024>>>(tile_counts, tiles, starts, tile_counts);
      to_tiles<kLog, kPer, true><<<blocks, kSortThreads, sort_smem>>>(index, src, n, out_n, tiles, buckets, 0,
                                                                      tile_counts, spill_at, spill_val, spilled);
      tile_add<kLog, true><<<tiles, 256, tile_smem>>>(x, y, buckets, 0, starts);
    };
    const float hist_us = time_us([&] {
      cudaMemsetAsync(tile_counts, 0, tiles * sizeof(unsigned));
      tile_histogram<kLog, kPer><<<blocks, kSortThreads, tiles * 4>>>(index, n, out_n, tiles, tile_counts);
      tile_starts<<<1, 1024>>>(tile_counts, tiles, starts, tile_counts);
    });
    char name[96];
    snprintf(name, sizeof name, "exact tiles 2^%d, %d a block", kLog, kPer);
    report(name, time_us(run), y);
    printf("    (%d tiles; the count and the starts alone %.1f us)\n", tiles, hist_us);
  };
  exact(std::integral_constant<int, 14>{}, std::integral_constant<int, 8192>{});
  exact(std::integral_constant<int, 13>{}, std::integral_constant<int, 8192>{});
  tiled(std::integral_constant<int, 13>{}, std::integral_constant<int, 8192>{}, 1.25, "slack 1.25");
  tiled(std::integral_constant<int, 14>{}, std::integral_constant<int, 8192>{}, 1.25, "slack 1.25");
  tiled(std::integral_constant<int, 15>{}, std::integral_constant<int, 8192>{}, 1.25, "slack 1.25");
  tiled(std::integral_constant<int, 14>{}, std::integral_constant<int, 4096>{}, 1.25, "slack 1.25");
  tiled(std::integral_constant<int, 14>{}, std::integral_constant<int, 8192>{}, 0.5, "slack 0.5 (half spill)");
  return 0;
}
