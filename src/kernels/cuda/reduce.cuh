// CUDA reduce (sum, mean, prod, max, min, any, all over a set of axes) and arg_reduce (argmax/argmin
// along one axis), registered in registry.cc.
#pragma once

#include "kernels/kernel.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_arg_reduce(const KernelSpec& s);

}  // namespace tensorforge::cuda
