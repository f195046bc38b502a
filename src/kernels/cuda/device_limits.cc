#include "kernels/cuda/device_limits.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>

namespace tensorforge::cuda {

const DeviceLimits& device_limits(int dev) {
  constexpr int kDevices = 64;
  static DeviceLimits cache[kDevices];
  static std::once_flag once[kDevices];
  dev = std::clamp(dev, 0, kDevices - 1);
  std::call_once(once[dev], [dev] {
    cudaDeviceGetAttribute(&cache[dev].sms, cudaDevAttrMultiProcessorCount, dev);
    cudaDeviceGetAttribute(&cache[dev].shared_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev);
    cudaDeviceGetAttribute(&cache[dev].shared_per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  });
  return cache[dev];
}

}  // namespace tensorforge::cuda
