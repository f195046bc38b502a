// Loops over one contiguous row of float32 values that the CPU kernels share (attention's and
// softmax's rows, layer and RMS norms' rows), written so that the compiler vectorizes them: the
// maximum and the sums are kept in lanes, e^x is vector_math.h's, and each is compiled for the
// baseline and for AVX2 + FMA (unary_loop.h's clones).
#pragma once

#include <cstdint>

namespace tensorforge::cpu {

/// y = softmax(x) over n floats: e^(x - max) / sum, x and y the same row or apart. NaN anywhere, or
/// +inf, makes the row NaN (as PyTorch's softmax); a row of -inf only (nothing to attend) becomes
/// `empty` (attention's 0, softmax's NaN).
void softmax_row(const float* x, float* y, int64_t n, float empty);

/// The mean of x[0 .. n) and 1 / sqrt(variance + eps), two passes (mean, then squared deviations)
/// with double accumulators; for `rms` the mean is 0 and the variance the mean of squares. n > 0.
void row_moments(const float* x, int64_t n, double eps, bool rms, float& mean, float& rstd);

/// y = (x - mean) * rstd * w + b over n floats; w and b may be null (1 and 0).
void normalize_row(const float* x, float* y, int64_t n, float mean, float rstd, const float* w, const float* b);

}  // namespace tensorforge::cpu
