// Factories of the CPU normalization kernels (registered in norm_family.cc).
#pragma once

#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_softmax(const KernelSpec& s);
std::unique_ptr<Kernel> create_batch_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_layer_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_group_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_rms_norm(const KernelSpec& s);

}  // namespace tensorforge::cpu
