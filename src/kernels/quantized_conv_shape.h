// The quantized_convolution layer as its kernels see it (host side, shared by the CPU and CUDA
// kernels): int8 x [N, C, H, W] or channels last [N, H, W, C], an int8 weight [K, C / groups, KH, KW]
// or [K, KH, KW, C / groups], the window, and the epilogue's bias, residual (input 4, int8 or float,
// times the one value of input 5 when there is one) and activation.
#pragma once

#include <cstdint>

#include "ir/layout.h"
#include "kernels/common/float_to_int.h"  // TF_HOST_DEVICE
#include "kernels/common/spatial_geometry.h"
#include "kernels/matmul_shape.h"

namespace tensorforge {

struct QuantizedConvShape {
  bool last = false;                                  ///< layout "nhwc"
  int64_t n = 0, c = 0, h = 0, w = 0, k = 0;          ///< batch, input extents, output channels
  int64_t kh = 1, kw = 1, oh = 0, ow = 0, groups = 1;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;  ///< stride, padding, dilation
  bool has_bias = false, has_residual = false, has_residual_scale = false;
  DataType residual_dtype = DataType::kFloat32;  ///< int8 (with a residual_scale) or a float dtype
  MatMulActivation activation = MatMulActivation::kNone;

  explicit QuantizedConvShape(const KernelSpec& s) : last(ir::is_channels_last(s.layer)) {
    const Dims x = ir::channels_first_view(s.inputs[0]->dims, last);
    const Dims wt = ir::channels_first_view(s.inputs[1]->dims, last);
    const Dims y = ir::channels_first_view(s.outputs[0]->dims, last);
    n = x[0], c = x[1], h = x[2], w = x[3], k = wt[0], kh = wt[2], kw = wt[3], oh = y[2], ow = y[3];
    groups = ir::attr_int(s.layer, "groups");
    int64_t stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
    spatial_attr(s.layer, "stride", stride);
    spatial_attr(s.layer, "padding", pad);
    spatial_attr(s.layer, "dilation", dil);
    sh = stride[1], sw = stride[2], ph = pad[1], pw = pad[2], dh = dil[1], dw = dil[2];
    has_bias = s.inputs.size() > 3 && s.inputs[3] != nullptr;
    has_residual = s.inputs.size() > 4 && s.inputs[4] != nullptr;
    has_residual_scale = s.inputs.size() > 5 && s.inputs[5] != nullptr;
    if (has_residual) residual_dtype = s.inputs[4]->dtype;
    activation = parse_activation(s.layer);
  }

  /// Element offsets of x[b, ch, i, j], of the weight's [kk, ch, r, t] and of y[b, kk, i, j].
  TF_HOST_DEVICE int64_t x_at(int64_t b, int64_t ch, int64_t i, int64_t j) const {
    return last ? ((b * h + i) * w + j) * c + ch : ((b * c + ch) * h + i) * w + j;
  }
  TF_HOST_DEVICE int64_t w_at(int64_t kk, int64_t ch, int64_t r, int64_t t) const {
    const int64_t cg = c / groups;
    return last ? ((kk * kh + r) * kw + t) * cg + ch : ((kk * cg + ch) * kh + r) * kw + t;
  }
  /// The exact int32 sum of output (b, kk, i, j)'s window: x's int8 values times the weight's, over
  /// kk's group of input channels, padding read as zero.
  TF_HOST_DEVICE int32_t window_sum(const int8_t* x, const int8_t* wt, int64_t b, int64_t kk, int64_t i,
                                    int64_t j) const {
    const int64_t cg = c / groups, c0 = kk / (k / groups) * cg;
    int32_t sum = 0;
    for (int64_t r = 0; r < kh; ++r) {
      const int64_t yi = i * sh - ph + r * dh;
      if (yi < 0 || yi >= h) continue;
      for (int64_t t = 0; t < kw; ++t) {
        const int64_t xj = j * sw - pw + t * dw;
        if (xj < 0 || xj >= w) continue;
        for (int64_t ch = 0; ch < cg; ++ch) sum += int32_t(x[x_at(b, c0 + ch, yi, xj)]) * int32_t(wt[w_at(kk, ch, r, t)]);
      }
    }
    return sum;
  }
  TF_HOST_DEVICE int64_t y_at(int64_t b, int64_t kk, int64_t i, int64_t j) const {
    return last ? ((b * oh + i) * ow + j) * k + kk : ((b * k + kk) * oh + i) * ow + j;
  }
};

}  // namespace tensorforge
