// Activation memory planning: offsets in one arena for tensors whose lifetimes do not overlap.
#pragma once

#include <cstddef>
#include <vector>

namespace tensorforge {

/// One buffer to place: bytes, and the first and last step (inclusive) that touch it.
struct BufferLifetime {
  size_t size;
  int first;
  int last;
};

/// Alignment of every planned offset, in bytes.
constexpr size_t kArenaAlignment = 64;

/// Offsets for `buffers` such that buffers live at the same step never overlap; returns the arena
/// size through `total`. Greedy: largest first, each at the lowest offset that fits.
std::vector<size_t> plan_memory(const std::vector<BufferLifetime>& buffers, size_t& total);

}  // namespace tensorforge
