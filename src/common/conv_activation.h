// The activation a convolution applies after its bias and residual (its "activation" attribute),
// shared by the CPU and CUDA kernels: y = act(conv(x, w) + bias + residual), in float32 before the
// single rounding to the output dtype. Formulas and NaN handling are those of the activation layer
// (kernels/common/pointwise_formulas.h): relu and relu6 (clip to [0, 6]) keep NaN. In common/ because inference checks the name.
#pragma once

#include <cmath>
#include <string>

#ifdef __CUDACC__
#define TF_CONV_ACT_FN __host__ __device__ __forceinline__
#else
#define TF_CONV_ACT_FN inline
#endif

namespace tensorforge {

enum class ConvActivation : int { kNone = 0, kRelu, kSilu, kHardswish, kRelu6 };

/// The activation named `name` ("none", "relu", "silu", "hardswish", "relu6": clip to [0, 6]);
/// false for any other name.
inline bool parse_conv_activation(const std::string& name, ConvActivation& out) {
  if (name == "none") out = ConvActivation::kNone;
  else if (name == "relu") out = ConvActivation::kRelu;
  else if (name == "silu") out = ConvActivation::kSilu;
  else if (name == "hardswish") out = ConvActivation::kHardswish;
  else if (name == "relu6") out = ConvActivation::kRelu6;
  else return false;
  return true;
}

/// act(x) for one float32 value.
TF_CONV_ACT_FN float conv_activate(ConvActivation a, float x) {
  switch (a) {
    case ConvActivation::kRelu: return x > 0.0f ? x : (x != x ? x : 0.0f);
    case ConvActivation::kSilu: return x / (1.0f + expf(-x));
    case ConvActivation::kHardswish: return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
    case ConvActivation::kRelu6: return x != x ? x : (x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x));
    default: return x;
  }
}

}  // namespace tensorforge
