// Numpy-style broadcasting: the output shape of several operands, and per-operand element strides
// into a common output index space (stride 0 along broadcast dimensions).
#pragma once

#include <vector>

#include "tensorforge/types.h"

namespace tensorforge {

/// Broadcast shape of a and b; returns false if they do not broadcast.
bool broadcast_shape(const Dims& a, const Dims& b, Dims& out);

/// Element strides of a contiguous tensor of shape `in` viewed as shape `out` (right-aligned, 0 where
/// broadcast). The result has out.rank() entries.
std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out);

/// Walks every index of `out` in row-major order, keeping one offset per operand up to date.
/// Usage: for (BroadcastIter it(out, {sa, sb}); !it.done(); it.next()) use(it.offset(0), it.offset(1));
class BroadcastIter {
 public:
  BroadcastIter(const Dims& out, std::vector<std::vector<int64_t>> strides);
  /// The same, starting at row-major element `start` of `out` (done when start >= its volume).
  BroadcastIter(const Dims& out, std::vector<std::vector<int64_t>> strides, int64_t start);
  bool done() const { return done_; }
  void next();
  int64_t offset(int operand) const { return offsets_[operand]; }

 private:
  Dims out_;
  std::vector<std::vector<int64_t>> strides_;
  std::vector<int64_t> index_, offsets_;
  bool done_;
};

/// Row-major (contiguous) element strides of `d`.
std::vector<int64_t> contiguous_strides(const Dims& d);

}  // namespace tensorforge
