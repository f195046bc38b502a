// CUDA batch_norm (inference), layer_norm, rms_norm and group_norm (registered in registry.cc).
#pragma once

#include "kernels/kernel.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_batch_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_layer_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_rms_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_group_norm(const KernelSpec& s);

}  // namespace tensorforge::cuda
