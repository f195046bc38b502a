// The one list of CUDA kernels. Layer kinds without an entry yet are reported by the builder as
// "no kernel supports this layer on this device".
#include "kernels/kernel.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_elementwise(const KernelSpec& s);
std::unique_ptr<Kernel> create_unary(const KernelSpec& s);
std::unique_ptr<Kernel> create_activation(const KernelSpec& s);
std::unique_ptr<Kernel> create_cast(const KernelSpec& s);
std::unique_ptr<Kernel> create_reshape(const KernelSpec& s);
std::unique_ptr<Kernel> create_transpose(const KernelSpec& s);
std::unique_ptr<Kernel> create_as_strided(const KernelSpec& s);
std::unique_ptr<Kernel> create_expand(const KernelSpec& s);
std::unique_ptr<Kernel> create_slice(const KernelSpec& s);
std::unique_ptr<Kernel> create_concat(const KernelSpec& s);
std::unique_ptr<Kernel> create_split(const KernelSpec& s);
std::unique_ptr<Kernel> create_select(const KernelSpec& s);
std::unique_ptr<Kernel> create_prelu(const KernelSpec& s);
std::unique_ptr<Kernel> create_fill(const KernelSpec& s);
std::unique_ptr<Kernel> create_arange(const KernelSpec& s);
std::unique_ptr<Kernel> create_gather(const KernelSpec& s);
std::unique_ptr<Kernel> create_softmax(const KernelSpec& s);
std::unique_ptr<Kernel> create_batch_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_layer_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_rms_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_group_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_arg_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_attention_cudnn(const KernelSpec& s);
std::unique_ptr<Kernel> create_attention_flash(const KernelSpec& s);
std::unique_ptr<Kernel> create_attention(const KernelSpec& s);
std::unique_ptr<Kernel> create_pooling(const KernelSpec& s);
std::unique_ptr<Kernel> create_adaptive_pooling(const KernelSpec& s);
std::unique_ptr<Kernel> create_resize(const KernelSpec& s);
std::unique_ptr<Kernel> create_pad(const KernelSpec& s);
std::unique_ptr<Kernel> create_topk(const KernelSpec& s);
std::unique_ptr<Kernel> create_cumsum(const KernelSpec& s);
std::unique_ptr<Kernel> create_scatter(const KernelSpec& s);
std::unique_ptr<Kernel> create_matmul(const KernelSpec& s);
std::unique_ptr<Kernel> create_int_matmul(const KernelSpec& s);
std::unique_ptr<Kernel> create_convolution_graph(const KernelSpec& s);
std::unique_ptr<Kernel> create_convolution(const KernelSpec& s);
std::unique_ptr<Kernel> create_deconvolution(const KernelSpec& s);
std::unique_ptr<Kernel> create_pointwise_generated(const KernelSpec& s);
std::unique_ptr<Kernel> create_quantize(const KernelSpec& s);
std::unique_ptr<Kernel> create_dequantize(const KernelSpec& s);
std::unique_ptr<Kernel> create_quantized_matmul(const KernelSpec& s);
std::unique_ptr<Kernel> create_quantized_conv_cudnn(const KernelSpec& s);
std::unique_ptr<Kernel> create_quantized_conv_direct(const KernelSpec& s);
std::unique_ptr<Kernel> create_quantized_conv_small_channels(const KernelSpec& s);
void prepare_convolution_graph(const KernelSpec& s);
void prepare_pointwise_generated(const KernelSpec& s);

const std::vector<KernelEntry>& kernels() {
  static const std::vector<KernelEntry> list = {
      {LayerKind::kElementwise, "cuda.elementwise", create_elementwise},
      {LayerKind::kUnary, "cuda.unary", create_unary},
      {LayerKind::kActivation, "cuda.activation", create_activation},
      {LayerKind::kCast, "cuda.cast", create_cast},
      {LayerKind::kReshape, "cuda.reshape.copy", create_reshape},
      {LayerKind::kTranspose, "cuda.transpose.strided", create_transpose},
      {LayerKind::kAsStrided, "cuda.as_strided.strided", create_as_strided},
      {LayerKind::kExpand, "cuda.expand.strided", create_expand},
      {LayerKind::kSlice, "cuda.slice.strided", create_slice},
      {LayerKind::kConcat, "cuda.concat", create_concat},
      {LayerKind::kSplit, "cuda.split", create_split},
      {LayerKind::kSelect, "cuda.select", create_select},
      {LayerKind::kPRelu, "cuda.prelu", create_prelu},
      {LayerKind::kQuantize, "cuda.quantize", create_quantize},
      {LayerKind::kDequantize, "cuda.dequantize", create_dequantize},
      {LayerKind::kQuantizedMatMul, "cuda.quantized_matmul", create_quantized_matmul},
      {LayerKind::kQuantizedConvolution, "cuda.quantized_conv.small_channels", create_quantized_conv_small_channels},
      {LayerKind::kQuantizedConvolution, "cuda.quantized_conv.cudnn", create_quantized_conv_cudnn},
      {LayerKind::kQuantizedConvolution, "cuda.quantized_conv.direct", create_quantized_conv_direct},
      {LayerKind::kFill, "cuda.fill", create_fill},
      {LayerKind::kArange, "cuda.arange", create_arange},
      {LayerKind::kGather, "cuda.gather", create_gather},
      {LayerKind::kSoftmax, "cuda.softmax", create_softmax},
      {LayerKind::kBatchNorm, "cuda.batch_norm", create_batch_norm},
      {LayerKind::kLayerNorm, "cuda.layer_norm", create_layer_norm},
      {LayerKind::kRMSNorm, "cuda.rms_norm", create_rms_norm},
      {LayerKind::kGroupNorm, "cuda.group_norm", create_group_norm},
      {LayerKind::kReduce, "cuda.reduce", create_reduce},
      {LayerKind::kArgReduce, "cuda.arg_reduce", create_arg_reduce},
      {LayerKind::kAttention, "cuda.attention.cudnn", create_attention_cudnn},
      {LayerKind::kAttention, "cuda.attention.flash", create_attention_flash},
      {LayerKind::kAttention, "cuda.attention.rows", create_attention},
      {LayerKind::kPooling, "cuda.pooling", create_pooling},
      {LayerKind::kAdaptivePooling, "cuda.adaptive_pooling", create_adaptive_pooling},
      {LayerKind::kResize, "cuda.resize", create_resize},
      {LayerKind::kPad, "cuda.pad", create_pad},
      {LayerKind::kTopK, "cuda.topk.bitonic", create_topk},
      {LayerKind::kCumSum, "cuda.cumsum", create_cumsum},
      {LayerKind::kScatter, "cuda.scatter", create_scatter},
      {LayerKind::kMatMul, "cuda.matmul.cublaslt", create_matmul},
      {LayerKind::kMatMul, "cuda.matmul.int_tiled", create_int_matmul},
      {LayerKind::kConvolution, "cuda.conv.cudnn_graph", create_convolution_graph, prepare_convolution_graph},
      {LayerKind::kConvolution, "cuda.conv.cudnn", create_convolution},
      {LayerKind::kDeconvolution, "cuda.deconv.cudnn", create_deconvolution},
      {LayerKind::kPointwise, "cuda.pointwise.generated", create_pointwise_generated, prepare_pointwise_generated},
  };
  return list;
}

}  // namespace tensorforge::cuda
