// Greedy best-offset planner: buffers sorted by size (largest first) each take the lowest aligned
// offset at which they overlap no already-placed buffer whose lifetime intersects theirs.
#include "builder/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace tensorforge {

namespace {
size_t align_up(size_t v) { return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }
}  // namespace

std::vector<size_t> plan_memory(const std::vector<BufferLifetime>& buffers, size_t& total) {
  std::vector<size_t> order(buffers.size()), offsets(buffers.size(), 0);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return buffers[a].size > buffers[b].size; });
  std::vector<size_t> placed;
  total = 0;
  for (size_t i : order) {
    const BufferLifetime& b = buffers[i];
    // intervals [offset, offset+size) of placed buffers alive at the same time, sorted by offset
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j : placed) {
      const BufferLifetime& o = buffers[j];
      if (o.first <= b.last && b.first <= o.last) busy.push_back({offsets[j], offsets[j] + align_up(o.size)});
    }
    std::sort(busy.begin(), busy.end());
    size_t candidate = 0, need = align_up(b.size);
    for (auto [lo, hi] : busy) {
      if (candidate + need <= lo) break;
      candidate = std::max(candidate, hi);
    }
    offsets[i] = candidate;
    total = std::max(total, candidate + need);
    placed.push_back(i);
  }
  return offsets;
}

}  // namespace tensorforge
