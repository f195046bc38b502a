// CUDA error checking: a failed call or launch becomes Error(kRuntime) naming what was being done.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "tensorforge/types.h"

namespace tensorforge::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorCode::kRuntime, std::string("CUDA error while ") + what + ": " + cudaGetErrorString(e));
  }
}

/// Checks the last launch (call right after a <<<...>>> launch).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace tensorforge::cuda
