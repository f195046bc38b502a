// Factories of the CPU reduction and scan kernels (registered in reduce_family.cc).
#pragma once

#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_arg_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_cumsum(const KernelSpec& s);
std::unique_ptr<Kernel> create_topk(const KernelSpec& s);

}  // namespace tensorforge::cpu
