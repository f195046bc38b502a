#include "builder/weight_pool.h"

#include <cstring>
#include <string>

namespace tensorforge {

namespace {

bool same_bytes(const Weights& a, const Weights& b) {
  return a.size_bytes() == b.size_bytes() &&
         (a.data() == b.data() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

}  // namespace

Weights WeightPool::intern(const Weights& w) {
  if (!w.data()) return w;
  std::lock_guard<std::mutex> lock(mu_);
  // Weights the passes left alone share their bytes with pooled ones: found by address.
  const auto known = by_data_.find(w.data());
  if (known != by_data_.end() && known->second.dtype() == w.dtype() && known->second.dims() == w.dims())
    return known->second;
  // New bytes (a pass made them): compared with the pooled weights of the same dtype and shape,
  // where different weights differ within their first bytes.
  std::vector<Weights>& same_shape = by_shape_[std::to_string(static_cast<int>(w.dtype())) + w.dims().str()];
  for (const Weights& p : same_shape)
    if (same_bytes(p, w)) return p;
  same_shape.push_back(w);
  by_data_.emplace(w.data(), w);
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

Weights WeightPool::derive(const std::string& kind, const std::vector<Weights>& sources,
                           const std::function<Weights()>& make) {
  std::pair<std::string, std::vector<const void*>> key{kind, {}};
  for (const Weights& s : sources) key.second.push_back(intern(s).data());  // pooled: they live as long as the pool
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto found = derived_.find(key);
    if (found != derived_.end()) return found->second;
  }
  Weights made = intern(make());  // outside the lock: another thread may make it too, and one result is kept
  std::lock_guard<std::mutex> lock(mu_);
  return derived_.emplace(std::move(key), made).first->second;
}

size_t WeightPool::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace tensorforge
