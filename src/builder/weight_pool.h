// One copy of each distinct constant across the plans of a DynamicEngine (tensorforge/dynamic_engine.h):
// every plan is the network specialized and optimized again, so the constants a pass made are new
// Weights with the bytes of the last plan's; the pool hands back the first Weights of that content
// (host memory once) and one device copy of it (device memory once), which the plans' engines share.
// Weights are found by address (those no pass changed), else compared with the pooled weights of
// their dtype and shape (no hashing: different weights differ in their first bytes). As the plans'
// constant memo, it also keeps what passes derive from pooled weights (opt/constant_memo.h).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "opt/constant_memo.h"
#include "runtime/device.h"
#include "tensorforge/network.h"

namespace tensorforge {

class WeightPool : public opt::ConstantMemo {
 public:
  /// The derived weights of `kind` from sources with these bytes: found by the pooled sources (so a
  /// plan's copy of a source finds another plan's result), else make()'s, pooled.
  Weights derive(const std::string& kind, const std::vector<Weights>& sources,
                 const std::function<Weights()>& make) override;
  /// The pooled Weights of w's dtype, dims and bytes: w itself the first time such weights come.
  Weights intern(const Weights& w);
  /// The copy on `kind` of pooled weights `w` (from intern), uploaded on first use and shared by
  /// every engine that holds the pointer. Plans of one DynamicEngine run on one device.
  std::shared_ptr<device::Buffer> device_copy(const Weights& w, DeviceKind kind);
  /// Bytes of the distinct weights held (host).
  size_t bytes() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Weights>> by_shape_;  // dtype and shape -> the pooled weights
  std::unordered_map<const void*, Weights> by_data_;       // pooled weights by their bytes (kept alive here)
  std::map<const void*, std::shared_ptr<device::Buffer>> device_;  // pooled bytes -> their device copy
  std::map<std::pair<std::string, std::vector<const void*>>, Weights> derived_;  // (kind, pooled sources) -> result
  size_t bytes_ = 0;
};

}  // namespace tensorforge
