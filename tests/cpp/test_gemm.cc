// sgemm against a naive triple loop, all four transpose combinations, odd sizes, alpha/beta,
// padded leading dimensions.
#include <random>

#include "kernels/cpu/gemm.h"
#include "test_util.h"

TEST(Gemm, MatchesNaiveLoops) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto [m, n, k] : {std::tuple<int, int, int>{1, 1, 1}, {5, 7, 3}, {17, 9, 33}, {4, 6, 0}}) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        int lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
        std::vector<float> a((ta ? k : m) * lda + 1), b((tb ? n : k) * ldb + 1), c(m * ldc), ref(m * ldc);
        for (auto& v : a) v = u(rng);
        for (auto& v : b) v = u(rng);
        for (size_t i = 0; i < c.size(); ++i) c[i] = ref[i] = u(rng);
        float alpha = 0.5f, beta = 2.0f;
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) {
            double s = 0;
            for (int p = 0; p < k; ++p) s += double(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            ref[i * ldc + j] = static_cast<float>(alpha * s + beta * ref[i * ldc + j]);
          }
        tensorforge::cpu::sgemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) EXPECT_NEAR(c[i * ldc + j], ref[i * ldc + j], 1e-4) << m << "x" << n << "x" << k;
      }
    }
  }
}
