// Constants the passes derive from other constants (merge_parallel_matmuls's concatenated weights),
// remembered across the builds of one DynamicEngine's plans: each plan specializes the network and
// runs the passes again, and without a memo each would compute (and copy) the same weights again.
// The builder installs a memo on the building thread for such builds; elsewhere passes compute.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensorforge/network.h"

namespace tensorforge::opt {

/// Where derived constants are remembered (the builder's WeightPool implements it).
class ConstantMemo {
 public:
  virtual ~ConstantMemo() = default;
  /// The weights derived as `kind` from `sources` (same kind, same source bytes: same result): those
  /// an earlier build derived, or make()'s.
  virtual Weights derive(const std::string& kind, const std::vector<Weights>& sources,
                         const std::function<Weights()>& make) = 0;
};

/// Installs `memo` for the builds on this thread while the scope lives.
class MemoScope {
 public:
  explicit MemoScope(ConstantMemo* memo);
  ~MemoScope();
  MemoScope(const MemoScope&) = delete;
  MemoScope& operator=(const MemoScope&) = delete;

 private:
  ConstantMemo* previous_;
};

/// make(), or through the memo a build on this thread installed.
Weights derived_constant(const std::string& kind, const std::vector<Weights>& sources,
                         const std::function<Weights()>& make);

}  // namespace tensorforge::opt
