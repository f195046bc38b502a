// Pieces of the legacy cuDNN convolution (conv.cu) that the graph-API convolution (conv_graph.cc)
// shares: packed strides, the bias/relu pass, the layout transpose, the workspace cap, the
// comparison of candidates' outputs; and its candidates that are not cuDNN's (the direct depthwise kernel, the
// small-channel kernel for stems, 1x1 convolutions as matrix multiplies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/conv_activation.h"
#include "kernels/kernel.h"
#include "kernels/matmul_shape.h"

namespace tensorforge::cuda {

/// Strides of packed `dims` (given in N, C, spatial order) laid out as NCHW, or as NHWC (C innermost).
template <class I>
void conv_packed_strides(const I* dims, int rank, bool nhwc, I* strides) {
  if (!nhwc) {
    strides[rank - 1] = 1;
    for (int k = rank - 2; k >= 0; --k) strides[k] = strides[k + 1] * dims[k + 1];
    return;
  }
  strides[1] = 1;
  I step = dims[1];
  for (int k = rank - 1; k >= 2; --k) {
    strides[k] = step;
    step *= dims[k];
  }
  strides[0] = step;
}

/// y[n, c, ...] = act(y + bias[c] + residual[n, c, ...]) (bias and residual may be null), over a
/// contiguous NCHW-like y of `dims` ([positions, C] for channels last).
void conv_bias_act(DataType t, void* y, const void* bias, const Dims& dims, ConvActivation act,
                   const void* residual = nullptr);

/// A 2-D depthwise convolution's geometry (groups = channels, one weight per channel and tap).
struct DepthwiseGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0;  // batch, input and output extents, channels
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;  // kernel, stride, padding, dilation
};

/// y = act(depthwise(x, w) + bias + residual) over channels-last x [N, H, W, C], y [N, OH, OW, C],
/// residual like y (bias and residual may be null), w [C, KH, KW, 1]; our direct kernel
/// (conv_depthwise.cu), on the current stream. `pack_bytes` (16, 8 or 4) is how many bytes of
/// channels one thread takes in the 3x3, 5x5 and 7x7 kernels: narrower packs mean more threads,
/// which small layers (batch 1) want.
void conv_depthwise_nhwc(DataType t, const void* x, const void* w, const void* bias, const void* residual, void* y,
                         const DepthwiseGeometry& g, ConvActivation act, int pack_bytes = 16);

/// Whether conv_depthwise_nhwc computes the layer by its tiled 7x7 kernel when the tensors are 16-byte
/// aligned: float types, a 7x7 window at stride 1 without dilation (ConvNeXt's), C a multiple of 16
/// bytes of channels and fewer than 2^31 elements a tensor. That kernel always takes 16-byte packs:
/// pack_bytes does not change it.
bool conv_depthwise_tiled(DataType t, const DepthwiseGeometry& g);

/// The pack widths conv_depthwise_nhwc takes, widest first.
inline constexpr int kDepthwisePackBytes[] = {16, 8, 4};

/// A 2-D convolution's geometry for the small-channel kernel (ungrouped, channels last).
struct SmallConvGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0, k = 0;  // batch, input extents and channels, output extents and channels
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;  // kernel, stride, padding, dilation
};

/// The most input channels the small-channel kernel takes (a stem's colour channels).
inline constexpr int64_t kSmallConvMaxChannels = 4;

/// Whether conv_small_channels_nhwc takes the layer: float16 or bfloat16, 1 to kSmallConvMaxChannels
/// input channels, output channels a multiple of 16, a window of at most 256 values (C x KH x KW),
/// and the block's shared memory within the device's.
bool conv_small_channels_fits(DataType t, const SmallConvGeometry& g);

/// y = act(conv(x, w) + bias + residual) over channels-last x [N, H, W, C], y and residual
/// [N, OH, OW, K], w [K, KH, KW, C] (bias and residual may be null; y and residual 16-byte aligned):
/// our implicit-matrix-multiply kernel for few input channels (conv_small_channels.cu), on the
/// tensor cores with float32 sums, on the current stream. A candidate beside cuDNN's plans.
void conv_small_channels_nhwc(DataType t, const void* x, const void* w, const void* bias, const void* residual,
                              void* y, const SmallConvGeometry& g, ConvActivation act);

/// A stride-2 convolution of few input channels regrouped into its space-to-depth form: x
/// [N, H, W, C] becomes xs [N, hb, wb, cs], 2x2 pixel blocks whose channel q < 4C is (dy, dx, c) =
/// (q / 2C, q / C % 2, q % C) and whose channels past 4C are zeros, read from x's pixel
/// (2 by + dy - front_h, 2 bx + dx - front_w) (zeros outside); the weight [K, KH, KW, C] becomes
/// [K, kbh, kbw, cs] the same way (zeros past the window); the stride-1, unpadded convolution of
/// the two is the layer's. cs: 4C rounded up to 8.
struct SpaceToDepth {
  int64_t n = 0, h = 0, w = 0, c = 0, k = 0, kh = 0, kw = 0;
  int64_t front_h = 0, front_w = 0, kbh = 0, kbw = 0, hb = 0, wb = 0, cs = 0;
};

/// The space-to-depth form of layer `g` (1 to kSmallConvMaxChannels channels, stride 2, no
/// dilation, a window of at least 3x3); false when the layer has none.
bool space_to_depth_of(const SmallConvGeometry& g, SpaceToDepth& s);

/// Writes xs and ws (the regrouped input and weight, laid out as SpaceToDepth says) from x and w on
/// the current stream; t: float32, float16 or bfloat16.
void space_to_depth_nhwc(DataType t, const void* x, const void* w, void* xs, void* ws, const SpaceToDepth& s);

/// Whether conv_s2d_mma_nhwc takes the space-to-depth form `s` of a layer: float16 or bfloat16, 16
/// channels a block (cs: a stem of 3 or 4 channels), output channels a multiple of 64, a window of at
/// most 4 x 4 blocks (layers up to 8 x 8).
bool conv_s2d_mma_fits(DataType t, const SpaceToDepth& s);

/// y [N, OH, OW, K] = act(conv(xs, ws) + bias + residual) of the regrouped xs and ws
/// (space_to_depth_nhwc's output; a stride-1 unpadded convolution), bias [K] and residual (y's
/// shape) optional, y and residual 16-byte aligned: our warp-MMA kernel (conv_mma.cu), float32 sums,
/// on the current stream. A candidate beside cuDNN's plans of the form.
void conv_s2d_mma_nhwc(DataType t, const void* xs, const void* ws, const void* bias, const void* residual, void* y,
                       const SpaceToDepth& s, ConvActivation act);

/// Whether quantized_conv_mma_nhwc takes the layer: 64 int8 input channels, stride 1, no dilation, a
/// window of at most 4 x 4 with less padding than the window, output channels a multiple of 64,
/// int8 or float16 output, an int8 or float16 residual if any (a quantized ResNet's first stage).
bool quantized_conv_mma_fits(DataType out, bool has_residual, DataType residual_type, const SmallConvGeometry& g);

/// quantized_convolution (the epilogue of quantized_conv_small_channels_nhwc) by our warp-MMA kernel
/// (conv_mma.cu): exact int32 sums, every tensor 16-byte aligned; on the current stream. A candidate
/// beside cuDNN's int8 plans.
void quantized_conv_mma_nhwc(DataType out, DataType residual_type, const void* x, const void* w, const void* scale,
                             const void* bias, const void* residual, const void* residual_scale, void* y,
                             const SmallConvGeometry& g, MatMulActivation act);

/// Whether quantized_conv_small_channels_nhwc takes the layer: the geometry conv_small_channels_fits
/// takes, any output dtype of quantized_convolution (float32, float16, bfloat16, int8).
bool quantized_conv_small_channels_fits(DataType out, const SmallConvGeometry& g);

/// quantized_convolution's y = act(sum · scale[k] + bias[k] + residual · residual_scale) over
/// channels-last int8 x [N, H, W, C] and weight [K, KH, KW, C], exact int32 sums on the tensor cores
/// (the same kernel as conv_small_channels_nhwc), rounded to `out` (int8: half to even, saturated);
/// bias, residual and residual_scale may be null (residual of `residual_type`, y's shape, 16-byte
/// aligned like y). On the current stream.
void quantized_conv_small_channels_nhwc(DataType out, DataType residual_type, const void* x, const void* w,
                                        const void* scale, const void* bias, const void* residual,
                                        const void* residual_scale, void* y, const SmallConvGeometry& g,
                                        MatMulActivation act);

/// A 1x1, stride-1, unpadded, ungrouped convolution over channels-last tensors as one matrix
/// multiply y[P, Cout] = x[P, Cin] w[Cout, Cin]^T, P = batch x positions (conv_gemm.cc): through
/// the cuBLASLt matmul kernel, bias, residual and relu in its epilogue, silu and hardswish in
/// conv_bias_act after it. A candidate of the graph-API kernel, timed beside cuDNN's plans.
struct ConvGemm;
/// The matmul form of the convolution `conv`; nullptr when the layer is not such a convolution or
/// cuBLASLt has no algorithm for it.
std::shared_ptr<ConvGemm> create_conv_gemm(const KernelSpec& conv);
size_t conv_gemm_workspace(const ConvGemm& g);
/// Runs it on the current stream; bias and residual may be null when the layer has none.
void run_conv_gemm(const ConvGemm& g, const void* x, const void* w, const void* bias, const void* residual, void* y,
                   void* workspace);

/// The largest workspace a convolution kernel may take: BuilderConfig.workspace_size, or without one
/// a quarter of the device memory free now.
size_t conv_workspace_cap(const KernelSpec& s);

/// How far two float tensors of `n` elements apart are: the largest |a - b| and the largest |a|
/// (a NaN in either, where the other is not NaN at the same place, counts as an infinite
/// difference). Waits for the stream (build time only: checking timed candidates agree).
struct ConvDifference {
  float max_diff = 0;
  float max_abs = 0;
};
ConvDifference conv_difference(DataType t, const void* a, const void* b, int64_t n);

/// out[b, c, r] = in[b, r, c] for b < batch over row-major [batch, rows, cols] input (NCHW <-> NHWC).
void conv_transpose(DataType t, const void* in, void* out, int64_t batch, int64_t rows, int64_t cols);

}  // namespace tensorforge::cuda
