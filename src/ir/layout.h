// Channels-first and channels-last shapes of the spatial layers whose "layout" attribute is "nhwc"
// (convolution, pooling, adaptive_pooling): such a layer's tensors are [N, *spatial, C] in memory
// and its weight [Cout, *kernel, Cin / groups]; inference and kernels reason on the channels-first
// view. The permutations here are the ones the channels_last pass inserts (opt/channels_last.cc).
#pragma once

#include <string>
#include <variant>

#include "ir/graph.h"

namespace tensorforge::ir {

/// [N, *spatial, C] -> [N, C, *spatial] when `last` (and rank >= 3); `d` unchanged otherwise.
inline Dims channels_first_view(const Dims& d, bool last) {
  if (!last || d.rank() < 3) return d;
  Dims r = d;
  r[1] = d[d.rank() - 1];
  for (int i = 2; i < d.rank(); ++i) r[i] = d[i - 1];
  return r;
}

/// [N, C, *spatial] -> [N, *spatial, C] when `last` (and rank >= 3).
inline Dims channels_last_view(const Dims& d, bool last) {
  if (!last || d.rank() < 3) return d;
  Dims r = d;
  for (int i = 1; i + 1 < d.rank(); ++i) r[i] = d[i + 1];
  r[d.rank() - 1] = d[1];
  return r;
}

/// Whether layer `l` has layout "nhwc" (layers and engine files without the attribute are "nchw").
inline bool is_channels_last(const Layer& l) {
  auto it = l.attrs.find("layout");
  const std::string* v = it == l.attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
  return v && *v == "nhwc";
}

}  // namespace tensorforge::ir
