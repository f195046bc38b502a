// Index views of a contiguous tensor shared by the normalization and reduction kernels: "outer x axis x
// inner" around one axis, and a kept/reduced split of the dims for reductions over a set of axes, walked
// in place by strides (no permutation copy).
#pragma once

#include <cstdint>
#include <vector>

#include "tensorforge/types.h"

namespace tensorforge {

/// Axis `a` (already range-checked by inference) made non-negative; 0 for a rank-0 tensor.
inline int norm_axis(int64_t a, int rank) { return rank == 0 ? 0 : static_cast<int>(a < 0 ? a + rank : a); }

/// A contiguous tensor seen as [outer, extent, inner] around one axis; element (o, j, i) lies at
/// (o * extent + j) * inner + i. A rank-0 tensor is [1, 1, 1].
struct AxisView {
  int64_t outer = 1, extent = 1, inner = 1;
  int64_t offset(int64_t o, int64_t j, int64_t i) const { return (o * extent + j) * inner + i; }
};

inline AxisView axis_view(const Dims& d, int axis) {
  AxisView v;
  if (d.rank() == 0) return v;
  for (int k = 0; k < axis; ++k) v.outer *= d[k];
  v.extent = d[axis];
  for (int k = axis + 1; k < d.rank(); ++k) v.inner *= d[k];
  return v;
}

/// A contiguous tensor seen as [outer, inner] split before dim `first`: outer = prod(d[:first]).
inline AxisView split_view(const Dims& d, int first) {
  AxisView v;
  for (int k = 0; k < d.rank(); ++k) (k < first ? v.outer : v.inner) *= d[k];
  return v;
}

/// Row-major walk over a box of extents with element strides; for_each(base, f) calls f(offset) for
/// every index, offset = base + sum(index[k] * stride[k]). Rank 0 visits base once; an empty box nothing.
class StridedWalk {
 public:
  void push(int64_t extent, int64_t stride) {
    ext_[rank_] = extent;
    stride_[rank_] = stride;
    ++rank_;
  }
  int64_t count() const {
    int64_t n = 1;
    for (int k = 0; k < rank_; ++k) n *= ext_[k];
    return n;
  }
  int rank() const { return rank_; }
  int64_t extent(int k) const { return ext_[k]; }
  int64_t stride(int k) const { return stride_[k]; }
  template <class F>
  void for_each(int64_t base, F&& f) const {
    if (rank_ == 0) return f(base);
    if (count() == 0) return;
    int64_t idx[kMaxDims] = {};
    const int last = rank_ - 1;
    const int64_t n_last = ext_[last], s_last = stride_[last];
    for (;;) {
      for (int64_t j = 0; j < n_last; ++j) f(base + j * s_last);
      int k = last - 1;
      for (; k >= 0; --k) {  // odometer carry over the outer dims
        base += stride_[k];
        if (++idx[k] < ext_[k]) break;
        base -= stride_[k] * ext_[k];
        idx[k] = 0;
      }
      if (k < 0) return;
    }
  }

 private:
  int rank_ = 0;
  int64_t ext_[kMaxDims] = {}, stride_[kMaxDims] = {};
};

/// A reduction of a contiguous tensor over a set of dims: `kept` walks the kept dims in output order
/// (giving the input offset of each output element's first input), `reduced` walks the reduced dims
/// relative to it. Adjacent dims of the same kind are merged so the walks stay short.
struct ReducePlan {
  StridedWalk kept, reduced;
};

inline ReducePlan reduce_plan(const Dims& d, const std::vector<bool>& reduce_dim) {
  ReducePlan p;
  int64_t stride = 1;
  std::vector<std::pair<int64_t, int64_t>> runs[2];  // (extent, stride) per merged run, innermost first
  int prev = -1;
  for (int k = d.rank() - 1; k >= 0; --k) {
    int kind = reduce_dim[k] ? 1 : 0;
    auto& r = runs[kind];
    if (kind == prev && !r.empty())
      r.back().first *= d[k];
    else
      r.push_back({d[k], stride});
    prev = kind;
    stride *= d[k];
  }
  for (int kind = 0; kind < 2; ++kind)
    for (auto it = runs[kind].rbegin(); it != runs[kind].rend(); ++it)
      (kind ? p.reduced : p.kept).push(it->first, it->second);
  return p;
}

}  // namespace tensorforge
