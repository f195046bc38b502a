// cp.async (sm_80 and newer): 16-byte copies from global to shared memory that do not pass through
// registers, committed in groups and waited for by count, so a kernel can load its next tile or row
// while it computes on the current one (conv_mma.cu, topk.cu).
#pragma once

namespace tensorforge::cuda {

/// 16 bytes from global to shared memory, asynchronously; zeros instead when `inside` is false.
__device__ __forceinline__ void copy16_async(void* shared, const void* global, bool inside) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(global), "r"(inside ? 16 : 0));
}
/// Closes the group of this thread's copies issued since the last commit.
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;\n" ::); }
/// Waits until at most N of this thread's committed groups are pending.
template <int N>
__device__ __forceinline__ void wait_async() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

}  // namespace tensorforge::cuda
