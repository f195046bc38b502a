// Memory for an engine's inputs and outputs, and half-precision numbers, for C++ applications:
// a buffer on the engine's device with copies to and from the host, a wait for the device, and
// float16/bfloat16 conversions (what tensorforge-exec needs from the library, through public API).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensorforge/types.h"

namespace tensorforge {

/// `size` bytes of memory on `device` (host memory for kCPU, device memory for kCUDA), 64-byte
/// aligned, freed when the buffer goes. Throws Error(kUnsupported) for kCUDA in a build without
/// CUDA or without a visible GPU, Error(kRuntime) when the memory is not there.
class DeviceBuffer {
 public:
  DeviceBuffer(DeviceKind device, size_t size);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  /// The memory (a device pointer for kCUDA), to bind to an execution context.
  void* data() const { return data_; }
  /// Its size in bytes.
  size_t size() const { return size_; }
  /// Where it is.
  DeviceKind device() const { return device_; }
  /// Copies `n` host bytes into the buffer's first `n` (synchronously); throws if n > size().
  void upload(const void* host, size_t n);
  /// Copies the buffer's first `n` bytes to the host (synchronously, after the work enqueued on the
  /// default stream); throws if n > size().
  void download(void* host, size_t n) const;

 private:
  DeviceKind device_;
  void* data_ = nullptr;
  size_t size_ = 0;
  void* impl_ = nullptr;  // the runtime's buffer
};

/// Waits until the work enqueued on `stream` (a cudaStream_t; nullptr = the default stream) is
/// done; nothing for kCPU.
void synchronize(DeviceKind device, void* stream = nullptr);

/// IEEE binary16 and bfloat16 bits from a float (round to nearest even) and back.
uint16_t float_to_half(float v);
float half_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float v);
float bfloat16_to_float(uint16_t bits);

}  // namespace tensorforge
