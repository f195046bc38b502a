// Attribute readings shared by the CPU and CUDA kernels of a layer kind (host side only).
#pragma once

#include <vector>

#include "common/conv_activation.h"
#include "kernels/kernel.h"

namespace tensorforge {

/// rms_norm's eps: -1 means the machine epsilon of x's dtype (PyTorch's eps=None).
double rms_eps(const KernelSpec& s);

/// convolution: the activation after the bias and residual (engine files written before the
/// attribute existed have none).
ConvActivation conv_activation(const KernelSpec& s);

/// reduce: per input dim, whether it is reduced (all dims when `axes` is empty).
std::vector<bool> reduced_dims(const KernelSpec& s);

}  // namespace tensorforge
