// What the probes in this folder share: CUDA-event timing (best of 5 rounds of 20 calls, after 3 warm
// calls), a grid-stride 16-byte copy for the card's copy rate, and readying a CUTLASS operator.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

template <class F>
float time_us(F launch) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) launch();
  float best = 1e9f;
  for (int r = 0; r < 5; ++r) {
    cudaEventRecord(a);
    for (int i = 0; i < 20; ++i) launch();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms;
    cudaEventElapsedTime(&ms, a, b);
    best = std::min(best, ms * 1000.f / 20);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return best;
}

__global__ void copy16(const uint4* x, uint4* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i];
}

// Readies a CUTLASS device operator (2.x or 3.x) for `args`, its workspace allocated into *workspace;
// false, after printing why, when it cannot run them.
template <class Op, class Args>
bool ready(Op& op, const Args& args, void** workspace, const char* name) {
  using Status = decltype(op.can_implement(args));
  *workspace = nullptr;
  if (op.can_implement(args) != Status::kSuccess) {
    printf("  %s: cannot implement", name);
    return false;
  }
  if (const size_t bytes = op.get_workspace_size(args)) cudaMalloc(workspace, bytes);
  if (op.initialize(args, *workspace) != Status::kSuccess) {
    printf("  %s: initialize failed", name);
    return false;
  }
  return true;
}
