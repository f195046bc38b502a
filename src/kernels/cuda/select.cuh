// Factories of the CUDA ternary-style pointwise kernels: select (where) and prelu.
#pragma once

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_select(const KernelSpec& s);
std::unique_ptr<Kernel> create_prelu(const KernelSpec& s);

}  // namespace tensorforge::cuda
