// Single-precision GEMM for the CPU kernels: OpenBLAS (cblas_sgemm) when the build found it, a
// plain cache-friendly loop otherwise. Row-major; C = alpha * op(A) * op(B) + beta * C.
#pragma once

#include <cstdint>

namespace tensorforge::cpu {

/// op(A) is M x K (A is K x M when trans_a), op(B) is K x N (B is N x K when trans_b); lda, ldb,
/// ldc are row strides in elements.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

/// True when sgemm runs on a real BLAS library.
bool gemm_uses_blas();

}  // namespace tensorforge::cpu
