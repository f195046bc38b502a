// Probe: top-8 of [4096, 4096] float16 rows (issue 10's memory-bound case: 70% of the copy rate is
// 11.5 µs on the H200, where the engine's kernel took 15.6 in run AG and 14.7 on an H100 in run AJ)
// by topk_threshold_block (a block of four warps a row, 52 registers, 9 blocks a multiprocessor) and by the same kernel with the compiler asked for 12 or 16 resident blocks a
// multiprocessor (fewer registers a thread, more rows in flight; run AL: 12 gained 5%, the engine's
// now), and a row by two warps of eight words a thread or eight warps of two (more or fewer rows in
// flight for the same registers), indices compared with the 9-block form's;
// CUDA events, best of 5 x 20, and the copy rate of the same bytes. Not built by CMake:
//   nvcc -std=c++17 -arch=sm_90 -O3 --expt-relaxed-constexpr --extended-lambda -Isrc -Iinclude \
//     benchmarks/probes/topk_block.cu -o /tmp/topk_block && /tmp/topk_block
// (or PROBES=topk_block scripts/device_gpu.sh). Run AJ tried two and four rows loaded at once a
// block instead: slower (21.0 and 26.1 against 15.8 µs).
#include "kernels/cuda/topk.cu"

#include "engine_stubs.cuh"
#include "probe_timing.cuh"

#include <cstdio>
#include <random>
#include <vector>

using namespace tensorforge;
using namespace tensorforge::cuda;

int main() {
  const int64_t rows = 4096, extent = 4096, k = 8;
  const size_t count = size_t(rows) * extent;
  std::vector<__half> hx(count);
  std::mt19937 gen(1);
  std::normal_distribution<float> nd;
  for (auto& v : hx) v = __float2half(nd(gen));
  __half *x, *vals, *y;
  int64_t* idx;
  cudaMalloc(&x, count * 2);
  cudaMalloc(&y, count * 2);
  cudaMalloc(&vals, rows * k * 2);
  cudaMalloc(&idx, rows * k * 8);
  cudaMemcpy(x, hx.data(), count * 2, cudaMemcpyHostToDevice);
  const float copy = time_us([&] { copy16<<<132 * 16, 256>>>((const uint4*)x, (uint4*)y, count / 8); });
  printf("copy of %.1f MB: %.1f us (%.0f GB/s read + write); the rows read at that rate: %.1f us\n",
         count * 2 / 1e6, copy, 2 * count * 2 / copy / 1e3, copy / 2);
  std::vector<int64_t> ref(rows * k), got(rows * k);
  auto fetch = [&](std::vector<int64_t>& to) { cudaMemcpy(to.data(), idx, rows * k * 8, cudaMemcpyDeviceToHost); };
  topk_threshold_block<__half, 8, 4><<<rows, 128>>>(x, vals, idx, rows, extent, k, true);
  fetch(ref);
  auto run = [&](const char* name, auto kernel, int threads = 128) {
    int per_sm = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, 0);
    cudaFuncAttributes attr{};
    cudaFuncGetAttributes(&attr, kernel);
    cudaMemset(idx, 0xff, rows * k * 8);
    const float us = time_us([&] { kernel<<<unsigned(rows), threads>>>(x, vals, idx, rows, extent, k, true); });
    fetch(got);
    // top-8 moves the rows once plus its small outputs: the memory-bound benchmark's count
    const double moved = count * 2.0 + rows * k * 10.0;
    printf("%-30s %d registers, %d blocks a multiprocessor, %.1f us, %.0f%% of the copy rate, indices %s\n", name,
           attr.numRegs, per_sm, us, 100.0 * moved / us / 1e3 / (2 * count * 2 / copy / 1e3),
           got == ref ? "equal" : "DIFFER");
  };
  run("engine (min 1 block)", topk_threshold_block<__half, 8, 4, 4, 1>);
  run("min 12 blocks", topk_threshold_block<__half, 8, 4, 4, 12>);
  run("min 16 blocks", topk_threshold_block<__half, 8, 4, 4, 16>);
  // a row by fewer or more warps (words a thread x warps = 16 words of 8): more or fewer rows in flight
  run("2 warps x 8 words", topk_threshold_block<__half, 8, 8, 2, 1>, 64);
  run("2 warps x 8 words, min 16", topk_threshold_block<__half, 8, 8, 2, 16>, 64);
  run("2 warps x 8 words, min 24", topk_threshold_block<__half, 8, 8, 2, 24>, 64);
  run("8 warps x 2 words", topk_threshold_block<__half, 8, 2, 8, 1>, 256);
  run("8 warps x 2 words, min 6", topk_threshold_block<__half, 8, 2, 8, 6>, 256);
  printf("err %s\n", cudaGetErrorString(cudaGetLastError()));
  return 0;
}

// The layer attribute reader topk.cu's kernel factory calls (engine_stubs.cuh has the rest).
namespace tensorforge::ir {
int64_t attr_int(const Layer&, const std::string&) { return 0; }
}  // namespace tensorforge::ir
