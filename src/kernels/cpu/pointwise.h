// Factories of the CPU pointwise and generator kernels (registered in pointwise_family.cc).
#pragma once

#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_elementwise(const KernelSpec& s);
std::unique_ptr<Kernel> create_unary(const KernelSpec& s);
std::unique_ptr<Kernel> create_activation(const KernelSpec& s);
std::unique_ptr<Kernel> create_prelu(const KernelSpec& s);
std::unique_ptr<Kernel> create_select(const KernelSpec& s);
std::unique_ptr<Kernel> create_cast(const KernelSpec& s);
std::unique_ptr<Kernel> create_fill(const KernelSpec& s);
std::unique_ptr<Kernel> create_arange(const KernelSpec& s);
std::unique_ptr<Kernel> create_pointwise_fused(const KernelSpec& s);
std::unique_ptr<Kernel> create_quantize(const KernelSpec& s);
std::unique_ptr<Kernel> create_dequantize(const KernelSpec& s);

}  // namespace tensorforge::cpu
