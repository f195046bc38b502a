// Factories of the CPU shape kernels (registered in shape_family.cc): reshape, transpose, expand,
// concat, split, slice. All are dtype-agnostic byte moves.
#pragma once

#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_reshape(const KernelSpec& s);
std::unique_ptr<Kernel> create_transpose(const KernelSpec& s);
std::unique_ptr<Kernel> create_as_strided(const KernelSpec& s);
std::unique_ptr<Kernel> create_expand(const KernelSpec& s);
std::unique_ptr<Kernel> create_concat(const KernelSpec& s);
std::unique_ptr<Kernel> create_split(const KernelSpec& s);
std::unique_ptr<Kernel> create_slice(const KernelSpec& s);

}  // namespace tensorforge::cpu
