// A process-wide map from a layer's key to what creating its kernel decided (a timed plan, an
// algorithm), so that layers of one key decide once per process. Thread-safe; it holds at most
// `capacity` entries and starts over when full (what it holds is only ever recomputed).
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace tensorforge::cuda {

template <class V>
class ProcessCache {
 public:
  explicit ProcessCache(size_t capacity) : capacity_(capacity) {}

  /// The value stored under `key`, if any.
  std::optional<V> find(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }

  /// The value stored under `key`, if any, removed from the cache.
  std::optional<V> take(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    std::optional<V> v(std::move(it->second));
    map_.erase(it);
    return v;
  }

  /// Stores `value` under `key` (a value stored meanwhile by another thread stays) and returns the
  /// value now stored.
  V insert(const std::string& key, V value) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (map_.size() >= capacity_) map_.clear();
    return map_.emplace(key, std::move(value)).first->second;
  }

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, V> map_;
};

}  // namespace tensorforge::cuda
