// Factories of the CPU indexing kernels (registered in index_family.cc): gather, scatter; and the
// helpers they share: reading an int32/int64 index with its range check, and a row-major walk.
#pragma once

#include <string>

#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_gather(const KernelSpec& s);
std::unique_ptr<Kernel> create_scatter(const KernelSpec& s);

/// Index i of an int32 or int64 tensor, made non-negative (negative counts from the end); calls
/// runtime_fail naming the layer, the index and the extent when it is out of [-extent, extent).
inline int64_t load_index(const ir::Layer& layer, const void* index, bool is64, int64_t i, int64_t extent, int axis) {
  int64_t v = is64 ? static_cast<const int64_t*>(index)[i] : static_cast<const int32_t*>(index)[i];
  if (v < -extent || v >= extent)
    runtime_fail(layer, "index " + std::to_string(v) + " is out of range for axis " + std::to_string(axis) +
                            " of extent " + std::to_string(extent));
  return v < 0 ? v + extent : v;
}

/// Calls f(i, offset_a, offset_b) for every row-major index i of `d`, where offset_x is the dot
/// product of the multi-index with strides x (d.rank() entries each). Allocates nothing.
template <class F>
void walk(const Dims& d, const int64_t* sa, const int64_t* sb, F&& f) {
  int64_t n = d.volume();
  if (n == 0) return;
  int64_t idx[kMaxDims] = {};
  int64_t a = 0, b = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, a, b);
    for (int k = d.rank() - 1; k >= 0; --k) {
      if (++idx[k] < d[k]) {
        a += sa[k];
        b += sb[k];
        break;
      }
      a -= sa[k] * (d[k] - 1);
      b -= sb[k] * (d[k] - 1);
      idx[k] = 0;
    }
  }
}

}  // namespace tensorforge::cpu
