// Factories of the CUDA generator kernels: fill and arange.
#pragma once

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_fill(const KernelSpec& s);
std::unique_ptr<Kernel> create_arange(const KernelSpec& s);

}  // namespace tensorforge::cuda
