// The public memory and half-precision API (tensorforge/memory.h) over the runtime's device layer.
#include "tensorforge/memory.h"

#include <string>
#include <utility>

#include "common/half.h"
#include "runtime/device.h"

namespace tensorforge {

namespace {
device::Buffer* buffer(void* impl) { return static_cast<device::Buffer*>(impl); }

void check_fits(size_t n, size_t size, const char* what) {
  if (n > size)
    throw Error(ErrorCode::kInvalidArgument, std::string("DeviceBuffer::") + what + " of " + std::to_string(n) +
                                                 " bytes into a buffer of " + std::to_string(size));
}
}  // namespace

DeviceBuffer::DeviceBuffer(DeviceKind device, size_t size) : device_(device), size_(size) {
  if (device == DeviceKind::kCUDA) device::require_cuda();
  auto* b = new device::Buffer(device, size);
  impl_ = b;
  data_ = b->data();
}

DeviceBuffer::~DeviceBuffer() { delete buffer(impl_); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : device_(o.device_), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
      impl_(std::exchange(o.impl_, nullptr)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    delete buffer(impl_);
    device_ = o.device_;
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    impl_ = std::exchange(o.impl_, nullptr);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, size_t n) {
  check_fits(n, size_, "upload");
  device::upload(device_, data_, host, n);
}

void DeviceBuffer::download(void* host, size_t n) const {
  check_fits(n, size_, "download");
  device::download(device_, host, data_, n);
}

void synchronize(DeviceKind device, void* stream) {
  if (device != DeviceKind::kCUDA) return;
  void* before = device::current_stream();
  device::set_current_stream(stream);
  device::synchronize(device);
  device::set_current_stream(before);
}

uint16_t float_to_half(float v) { return to_half(v).bits; }
float half_to_float(uint16_t bits) { return to_float(half_t{bits}); }
uint16_t float_to_bfloat16(float v) { return to_bfloat16(v).bits; }
float bfloat16_to_float(uint16_t bits) { return to_float(bfloat16_t{bits}); }

}  // namespace tensorforge
