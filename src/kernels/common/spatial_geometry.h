// The geometry of spatial layers (convolution, deconvolution, pooling, resize), shared by the CPU
// and CUDA kernels: every 1-D/2-D layer is seen as 3-D, missing leading spatial dims of extent 1.
// Channels-first dims; channels-last layers pass ir::channels_first_view of theirs.
#pragma once

#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tensorforge {

/// Extents and window parameters of a spatial layer, right-aligned into 3 dims (D, H, W).
struct Spatial3 {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
  int64_t in_volume() const { return in[0] * in[1] * in[2]; }
  int64_t out_volume() const { return out[0] * out[1] * out[2]; }
  int64_t k_volume() const { return k[0] * k[1] * k[2]; }
};

/// Copies the spatial extents of `d` (dims 2..) right-aligned into `dst` (3 slots).
inline void spatial_extents(const Dims& d, int64_t dst[3]) {
  int nsp = d.rank() - 2;
  for (int i = 0; i < nsp; ++i) dst[3 - nsp + i] = d[2 + i];
}

/// Copies a per-spatial-dim attribute right-aligned into `dst`; an empty list keeps dst's defaults.
inline void spatial_attr(const ir::Layer& l, const std::string& name, int64_t dst[3]) {
  const std::vector<int64_t>& v = ir::attr_ints(l, name);
  int nsp = static_cast<int>(v.size());
  for (int i = 0; i < nsp; ++i) dst[3 - nsp + i] = v[i];
}

/// Geometry of a (de)convolution: input/output extents, kernel extents from the weight, and the
/// stride, padding and dilation attributes.
inline Spatial3 conv_geometry(const KernelSpec& s) {
  Spatial3 g;
  spatial_extents(s.inputs[0]->dims, g.in);
  spatial_extents(s.outputs[0]->dims, g.out);
  spatial_extents(s.inputs[1]->dims, g.k);
  spatial_attr(s.layer, "stride", g.stride);
  spatial_attr(s.layer, "padding", g.pad);
  spatial_attr(s.layer, "dilation", g.dil);
  return g;
}

}  // namespace tensorforge
