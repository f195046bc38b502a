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

int current_device() {
  int d = 0;
  if (device_count() == 0 || cudaGetDevice(&d) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return d;
}

void set_current_device(int ordinal) {
  if (device_count() > 0 && cudaSetDevice(ordinal) != cudaSuccess) cudaGetLastError();
}

int compute_capability() {
  int d = 0, major = 0, minor = 0;
  if (device_count() == 0 || cudaGetDevice(&d) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return major * 10 + minor;
}

std::string device_name() {
  int d = 0;
  cudaDeviceProp prop;
  if (device_count() == 0 || cudaGetDevice(&d) != cudaSuccess || cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  return prop.name;
}

}  // namespace tensorforge::cuda
