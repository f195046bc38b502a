#include "builder/weight_pool.h"

#include <cstring>
#include <functional>
#include <string_view>

namespace tensorforge {

namespace {

size_t content_hash(const Weights& w) {
  const std::string_view bytes(static_cast<const char*>(w.data()), w.size_bytes());
  return std::hash<std::string_view>{}(bytes) ^ (static_cast<size_t>(w.dtype()) * 0x9e3779b97f4a7c15ull);
}

bool same(const Weights& a, const Weights& b) {
  return a.dtype() == b.dtype() && a.dims() == b.dims() && a.size_bytes() == b.size_bytes() &&
         (a.data() == b.data() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

}  // namespace

Weights WeightPool::intern(const Weights& w) {
  if (!w.data()) return w;
  const size_t h = content_hash(w);  // outside the lock: a pass over the bytes
  std::lock_guard<std::mutex> lock(mu_);
  const auto [first, last] = by_hash_.equal_range(h);
  for (auto it = first; it != last; ++it)
    if (same(it->second, w)) return it->second;
  by_hash_.emplace(h, w);
  bytes_ += w.size_bytes();
  return w;
}

std::shared_ptr<device::Buffer> WeightPool::device_copy(const Weights& w, DeviceKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<device::Buffer>& copy = device_[w.data()];
  if (!copy) {
    copy = std::make_shared<device::Buffer>(kind, w.size_bytes());
    if (w.size_bytes()) device::upload(kind, copy->data(), w.data(), w.size_bytes());
  }
  return copy;
}

size_t WeightPool::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace tensorforge
