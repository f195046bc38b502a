// Device discovery through the CUDA runtime (compiled when the CUDA toolkit is found).
#include "kernels/cuda/device_info.h"

#include <cuda_runtime_api.h>

namespace tensorforge::cuda {

bool built_with_cuda() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" error
    return 0;
  }
  return n;
}

}  // namespace tensorforge::cuda
