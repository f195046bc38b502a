// Factories of the CUDA concat and split kernels.
#pragma once

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_concat(const KernelSpec& s);
std::unique_ptr<Kernel> create_split(const KernelSpec& s);

}  // namespace tensorforge::cuda
