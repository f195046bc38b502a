// Registration of the CPU spatial kernels (convolution, deconvolution, quantized convolution, pooling,
// adaptive pooling, pad, resize); the kernels live in conv_onednn.cc (where oneDNN is built in), conv.cc, deconv.cc, quantized_conv.cc,
// pooling.cc, pad.cc and resize.cc, and channels-last layers run through the adapter of
// channels_last.cc, but for float32 2-D pooling (pooling_nhwc.cc) and oneDNN's convolutions, which
// take NHWC in place.
#include "kernels/cpu/spatial.h"

namespace tensorforge::cpu {

void add_spatial_kernels(std::vector<KernelEntry>& k) {
  k.push_back({LayerKind::kConvolution, "cpu.conv.onednn", create_convolution_onednn});
  k.push_back({LayerKind::kConvolution, "cpu.conv.im2col_gemm",
               [](const KernelSpec& s) { return with_layout(s, create_convolution); }});
  k.push_back({LayerKind::kDeconvolution, "cpu.deconv.gemm_col2im", create_deconvolution});
  k.push_back({LayerKind::kQuantizedConvolution, "cpu.quantized_conv.direct", create_quantized_convolution});
  k.push_back({LayerKind::kPooling, "cpu.pooling", [](const KernelSpec& s) {
                 if (auto nhwc = create_pooling_nhwc(s)) return nhwc;
                 return with_layout(s, create_pooling);
               }});
  k.push_back({LayerKind::kAdaptivePooling, "cpu.adaptive_pooling", [](const KernelSpec& s) {
                 if (auto nhwc = create_adaptive_pooling_nhwc(s)) return nhwc;
                 return with_layout(s, create_adaptive_pooling);
               }});
  k.push_back({LayerKind::kPad, "cpu.pad", create_pad});
  k.push_back({LayerKind::kResize, "cpu.resize", create_resize});
}

}  // namespace tensorforge::cpu
