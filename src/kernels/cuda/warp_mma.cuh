// Warp-level tensor-core pieces for our implicit-GEMM kernels (conv_mma.cu), sm_80 and newer:
// cp.async copies into shared memory, ldmatrix, mma.sync m16n8k16 (float16/bfloat16, float32 sums)
// and m16n8k32 (int8, int32 sums), the swizzle of 16-byte units that keeps ldmatrix's rows in
// distinct banks, and the exchange of words within a quad of lanes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace tensorforge::cuda::mma {

/// 16 bytes from global to shared memory, asynchronously; zeros instead when `inside` is false.
__device__ __forceinline__ void copy16_async(void* shared, const void* global, bool inside) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(global), "r"(inside ? 16 : 0));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;\n" ::); }
/// Waits until at most N of this thread's committed groups are pending.
template <int N>
__device__ __forceinline__ void wait_async() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/// Four 8x8 matrices of 16-bit elements (8 rows of 16 bytes each) from shared memory: lanes 8i to
/// 8i + 7 give the rows of matrix i, `row` this lane's.
__device__ __forceinline__ void ldmatrix4(const void* row, uint32_t (&r)[4]) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

/// d += a b over one 32-byte step of the reduction: m16n8k16 for float16 and bfloat16 (float32
/// sums), m16n8k32 for int8 (int32 sums, exact).
template <class In, class Acc>
__device__ __forceinline__ void mma_step(Acc (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<In, __half>)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else if constexpr (std::is_same_v<In, __nv_bfloat16>)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// The 16-byte unit holding unit `u` of shared row `row`, rows of U units (2, 4 or 8): within each
/// 128 bytes the units rotate by the row, so that the same unit of 8 consecutive rows (ldmatrix's
/// phase) falls in 8 distinct bank groups.
template <int U>
__device__ __forceinline__ int swizzled(int row, int u) {
  static_assert(U == 2 || U == 4 || U == 8, "rows of 32, 64 or 128 bytes");
  return U * row + (u ^ ((row / (8 / U)) % U));
}

/// Within each quad of lanes, lane i returns as word j the word w[i] of quad lane j.
__device__ __forceinline__ uint4 quad_transpose(const uint32_t (&w)[4]) {
  const int lane = threadIdx.x & 31, i = lane & 3;
  auto pick = [](const uint32_t (&v)[4], int k) { return k == 0 ? v[0] : k == 1 ? v[1] : k == 2 ? v[2] : v[3]; };
  uint32_t r[4];
#pragma unroll
  for (int j = 0; j < 4; ++j)  // round j: lane i reads quad lane (i + j) & 3, which sends its word i
    r[j] = __shfl_sync(0xffffffffu, pick(w, (i - j) & 3), (lane & ~3) | ((i + j) & 3));
  return make_uint4(pick(r, (0 - i) & 3), pick(r, (1 - i) & 3), pick(r, (2 - i) & 3), pick(r, (3 - i) & 3));
}

}  // namespace tensorforge::cuda::mma
