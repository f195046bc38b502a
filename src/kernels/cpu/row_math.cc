#include "kernels/cpu/row_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/vector_math.h"

// Compiled for AVX-512 too: softmax's e^x ran 8 lanes wide in the AVX2 clone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TF_CPU_ROW_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TF_CPU_ROW_CLONES
#endif

namespace tensorforge::cpu {

namespace {

constexpr int kLanes = 16;  // partial maxima and sums kept side by side: one AVX-512 or two AVX2 registers

// e^d for d = x - max <= 0, or NaN: NaN stays NaN, below -87 (under float's normal range) 0.
inline float exp_shifted(float d) {
  const float e = exp_nonpositive(d);
  return d != d ? d : (d < -87.0f ? 0.0f : e);
}

}  // namespace

TF_CPU_ROW_CLONES void softmax_row(const float* x, float* y, int64_t n, float empty) {
  const float kNegInf = -std::numeric_limits<float>::infinity();
  float lanes[kLanes];
  for (float& l : lanes) l = kNegInf;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] = std::max(lanes[l], x[j + l]);  // NaN is skipped here
  float mx = kNegInf;
  for (; j < n; ++j) mx = std::max(mx, x[j]);
  for (float l : lanes) mx = std::max(mx, l);
  if (mx == kNegInf) {
    for (j = 0; j < n; ++j) y[j] = empty;
    return;
  }
  for (j = 0; j < n; ++j) y[j] = exp_shifted(x[j] - mx);  // +inf - +inf and NaN are NaN
  for (float& l : lanes) l = 0.0f;
  for (j = 0; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += y[j + l];
  float sum = 0.0f;
  for (; j < n; ++j) sum += y[j];
  for (float l : lanes) sum += l;
  const float inv = 1.0f / sum;
  for (j = 0; j < n; ++j) y[j] *= inv;
}

TF_CPU_ROW_CLONES void row_moments(const float* x, int64_t n, double eps, bool rms, float& mean, float& rstd) {
  double lanes[kLanes] = {};
  int64_t j = 0;
  auto sum = [&](auto term) {
    for (double& l : lanes) l = 0.0;
    for (j = 0; j + kLanes <= n; j += kLanes)
      for (int l = 0; l < kLanes; ++l) lanes[l] += term(x[j + l]);
    double s = 0.0;
    for (; j < n; ++j) s += term(x[j]);
    for (double l : lanes) s += l;
    return s;
  };
  float m = 0.0f;
  if (!rms) m = static_cast<float>(sum([](float v) { return static_cast<double>(v); }) / n);
  const double q = sum([m](float v) {
    const double d = v - m;
    return d * d;
  });
  mean = m;
  rstd = static_cast<float>(1.0 / std::sqrt(q / n + eps));
}

TF_CPU_ROW_CLONES void normalize_row(const float* x, float* y, int64_t n, float mean, float rstd, const float* w,
                                     const float* b) {
  if (w && b) {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - mean) * rstd * w[j] + b[j];
  } else if (w) {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - mean) * rstd * w[j];
  } else {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - mean) * rstd + (b ? b[j] : 0.0f);
  }
}

}  // namespace tensorforge::cpu
