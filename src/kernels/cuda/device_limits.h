// What a kernel's launch sizes itself by: the device's multiprocessors and shared memory, read once per
// process and device (launches are on the engine's per-call path).
#pragma once

namespace tensorforge::cuda {

struct DeviceLimits {
  int sms = 1;               ///< multiprocessors
  int shared_per_sm = 0;     ///< bytes of shared memory a multiprocessor has
  int shared_per_block = 0;  ///< bytes a block may opt into
};

/// Device `dev`'s limits (ordinals past 63 read device 63's entry).
const DeviceLimits& device_limits(int dev);

}  // namespace tensorforge::cuda
