// Factory of the CUDA gather kernel (take and elements modes).
#pragma once

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_gather(const KernelSpec& s);

}  // namespace tensorforge::cuda
