// Quantize before max pooling: in a quantized convolutional network a max pooling often sits between
// a convolution and the quantize that feeds the next int8 convolution (ResNet's stem: convolution,
// relu, 3x3/2 max pool, then its int8 quantize). Quantizing is monotone (a positive scale, rounding
// and saturation never reverse an order), so the maximum of the quantized values is the quantized
// maximum, and the pooling may run on int8 instead:
//   p = pooling(x){mode=max}; q = quantize(p, s, zp)
//     becomes  xq = quantize(x, s, zp); q = pooling(xq){mode=max}
// when q (int8, one scale, no activation) alone reads p. The pooling then reads and writes a quarter
// of float32's bytes (half of float16's), and the convolution before it can write the int8 itself
// (fuse_quantized_conv folds the quantize that alone reads its result). NaN differs: quantize maps a
// NaN to the zero point before the maximum instead of after it (the float pooling would have kept it).
#pragma once

#include "ir/graph.h"

namespace tensorforge {

/// Returns `g` with such quantizes moved before their max pooling.
ir::Graph move_quantize_before_max_pool(const ir::Graph& g);

}  // namespace tensorforge
