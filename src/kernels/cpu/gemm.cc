// sgemm: forwards to oneDNN's dnnl_sgemm where the build has oneDNN (its AVX-512 kernels: 137-143
// GF/s on one core for attention's 197x197x64 and 197x64x197 products against OpenBLAS 0.3.21's
// 109), else to cblas_sgemm, or runs the fallback loop (i-k-j order, so the inner loop streams rows
// of B and C) when no BLAS was found at build time. A forked child (whose OpenMP threads are gone)
// takes cblas_sgemm or the loop.
#include "kernels/cpu/gemm.h"

#include <algorithm>

#ifdef TENSORFORGE_HAVE_CBLAS
#include <cblas.h>

// OpenBLAS's own (absent from other CBLAS libraries: then its address is null).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
#endif

#ifdef TENSORFORGE_WITH_ONEDNN
#include <dnnl.h>
#endif

#include "kernels/cpu/parallel.h"

namespace tensorforge::cpu {

namespace {

#ifdef TENSORFORGE_HAVE_CBLAS
// With OpenBLAS, products run on its single thread per call and the CPU threads split them: its
// own threads keep spinning after each call and would share the cores with the CPU kernels' pool
// (ResNet-18's convolutions took twice as long with both). Another CBLAS keeps its threads, and
// its products are not split.
bool blas_on_our_threads() {
  static const bool single = [] {
    if (!openblas_set_num_threads) return false;
    openblas_set_num_threads(1);
    return true;
  }();
  return single;
}
#endif

}  // namespace

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
#ifdef TENSORFORGE_WITH_ONEDNN
  const bool onednn = !forked_child();
#ifndef TENSORFORGE_HAVE_CBLAS
  if (onednn && k > 0) {
    dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
#endif
#ifdef TENSORFORGE_HAVE_CBLAS
  if (k > 0) {
    // Rows [i0, i1) and columns [j0, j1) of c.
    auto block = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
#ifdef TENSORFORGE_WITH_ONEDNN
      if (onednn) {  // inside the CPU threads' loop, oneDNN's OpenMP runs it on the calling thread
        dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', i1 - i0, j1 - j0, k, alpha,
                   a + (trans_a ? i0 : i0 * lda), lda, b + (trans_b ? j0 * ldb : j0), ldb, beta, c + i0 * ldc + j0, ldc);
        return;
      }
#endif
      cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                  static_cast<int>(i1 - i0), static_cast<int>(j1 - j0), static_cast<int>(k), alpha,
                  a + (trans_a ? i0 : i0 * lda), static_cast<int>(lda), b + (trans_b ? j0 * ldb : j0),
                  static_cast<int>(ldb), beta, c + i0 * ldc + j0, static_cast<int>(ldc));
    };
    constexpr int64_t kSplitFlops = int64_t(1) << 22;  // smaller products run whole on one thread
    // A side of `extent` rows or columns (each `work` multiply-adds) cut into one piece a thread,
    // whole multiples of 16: each BLAS call packs its operands again, so fewer, larger calls win.
    auto piece = [](int64_t extent, int64_t work) {
      const int64_t threads = cpu_threads();
      const int64_t even = (extent + threads - 1) / threads;
      return std::max<int64_t>({16, (even + 15) / 16 * 16, kSplitFlops / (4 * work)});
    };
    if (!blas_on_our_threads() || 2 * m * n * k < kSplitFlops) {
      block(0, m, 0, n);
    } else if (m >= n) {  // the longer side splits: one piece a thread, of at least kSplitFlops / 2
      parallel_for(m, piece(m, n * k), [&](int64_t i0, int64_t i1) { block(i0, i1, 0, n); });
    } else {
      parallel_for(n, piece(n, m * k), [&](int64_t j0, int64_t j1) { block(0, m, j0, j1); });
    }
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
