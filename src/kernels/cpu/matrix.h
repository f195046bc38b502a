// Factories of the CPU matrix kernels (matmul, attention; registered in matmul_family.cc) and the
// helpers they share: float16/bfloat16 <-> float32 staging buffers and batch offset walking.
#pragma once

#include "kernels/common/batch_walker.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_matmul(const KernelSpec& s);
/// oneDNN's product (matmul_onednn.cc) for float32 layers whose b is a constant matrix; nullptr for
/// the others and in builds without oneDNN.
std::unique_ptr<Kernel> create_matmul_onednn(const KernelSpec& s);
std::unique_ptr<Kernel> create_attention(const KernelSpec& s);
std::unique_ptr<Kernel> create_quantized_matmul(const KernelSpec& s);

/// Copies n elements of storage type T into float32.
template <class T>
void load_floats(const T* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load(src, i));
}

/// Stores n float32 values as storage type T (rounded).
template <class T>
void store_floats(const float* src, int64_t n, T* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = store_as<T>(src[i]);
}

}  // namespace tensorforge::cpu
