// sgemm: forwards to cblas_sgemm, or runs the fallback loop (i-k-j order, so the inner loop
// streams rows of B and C) when no BLAS was found at build time.
#include "kernels/cpu/gemm.h"

#ifdef TENSORFORGE_HAVE_CBLAS
#include <cblas.h>
#endif

namespace tensorforge::cpu {

bool gemm_uses_blas() {
#ifdef TENSORFORGE_HAVE_CBLAS
  return true;
#else
  return false;
#endif
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
#ifdef TENSORFORGE_HAVE_CBLAS
  if (k > 0) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
    return;
  }
#endif
  for (int64_t i = 0; i < m; ++i) {
    float* crow = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) crow[j] = beta == 0.0f ? 0.0f : beta * crow[j];
    for (int64_t p = 0; p < k; ++p) {
      float av = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);  // no zero shortcut: NaN/inf must spread
      if (!trans_b) {
        const float* brow = b + p * ldb;
        for (int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
      } else {
        for (int64_t j = 0; j < n; ++j) crow[j] += av * b[j * ldb + p];
      }
    }
  }
}

}  // namespace tensorforge::cpu
