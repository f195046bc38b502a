// Factories of the CUDA pointwise kernels (registered in registry.cc).
#pragma once

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_elementwise(const KernelSpec& s);
std::unique_ptr<Kernel> create_unary(const KernelSpec& s);
std::unique_ptr<Kernel> create_activation(const KernelSpec& s);
std::unique_ptr<Kernel> create_cast(const KernelSpec& s);

}  // namespace tensorforge::cuda
