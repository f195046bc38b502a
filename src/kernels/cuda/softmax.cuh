// CUDA softmax / log-softmax along one axis (registered in registry.cc).
#pragma once

#include "kernels/kernel.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_softmax(const KernelSpec& s);

}  // namespace tensorforge::cuda
