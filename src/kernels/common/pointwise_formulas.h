// The one table of floating-point pointwise formulas. Each entry is a name and a C expression in
// float over `x` (unary and activation ops; activations also read their attributes `a` = alpha and
// `b` = beta) or over `x` and `y` (binary ops). The same expressions are compiled into the CPU
// kernels, into the CUDA kernels, and (as text, through #EXPR) into the kernels the code generator
// writes for fused layers, so a formula is written once. Only the C math library's float functions
// (expf, erff, rintf, ...) appear: they exist on the host, in CUDA device code and under NVRTC.
//
// Use: #define CASE(NAME, EXPR) ... then TF_FLOAT_UNARY_OPS(CASE), and so on.
#pragma once

// Unary ops on floats (docs/layers.md, "unary").
#define TF_FLOAT_UNARY_OPS(X)                                          \
  X("exp", expf(x))                                                    \
  X("log", logf(x))                                                    \
  X("log2", log2f(x))                                                  \
  X("log10", log10f(x))                                                \
  X("log1p", log1pf(x))                                                \
  X("expm1", expm1f(x))                                                \
  X("sqrt", sqrtf(x))                                                  \
  X("rsqrt", 1.0f / sqrtf(x))                                          \
  X("reciprocal", 1.0f / x)                                            \
  X("sin", sinf(x))                                                    \
  X("cos", cosf(x))                                                    \
  X("tan", tanf(x))                                                    \
  X("asin", asinf(x))                                                  \
  X("acos", acosf(x))                                                  \
  X("atan", atanf(x))                                                  \
  X("sinh", sinhf(x))                                                  \
  X("cosh", coshf(x))                                                  \
  X("tanh", tanhf(x))                                                  \
  X("asinh", asinhf(x))                                                \
  X("acosh", acoshf(x))                                                \
  X("atanh", atanhf(x))                                                \
  X("erf", erff(x))                                                    \
  X("floor", floorf(x))                                                \
  X("ceil", ceilf(x))                                                  \
  X("round", rintf(x))                                                 \
  X("trunc", truncf(x))                                                \
  X("abs", fabsf(x))                                                   \
  X("neg", -x)                                                         \
  X("sign", x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f))

// Unary ops on floats whose result is bool (1 or 0).
#define TF_FLOAT_PREDICATE_OPS(X) \
  X("isnan", x != x)              \
  X("isinf", x - x != x - x && x == x)  \
  X("not", x == 0.0f)

// Activations on floats; `a` and `b` are the layer's alpha and beta (docs/layers.md, "activation";
// constants and formulas are PyTorch's). relu and clip keep NaN.
#define TF_FLOAT_ACTIVATIONS(X)                                                    \
  X("relu", x > 0.0f ? x : (x != x ? x : 0.0f))                                    \
  X("clip", x != x ? x : (x < a ? a : (x > b ? b : x)))                            \
  X("sigmoid", 1.0f / (1.0f + expf(-x)))                                           \
  X("gelu_erf", 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)))                \
  X("gelu_tanh", 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)))) \
  X("silu", x / (1.0f + expf(-x)))                                                 \
  X("leaky_relu", x > 0.0f ? x : x * a)                                            \
  X("elu", x > 0.0f ? x : a * expm1f(x))                                           \
  X("celu", x > 0.0f ? x : a * expm1f(x / a))                                      \
  X("selu", 1.0507009873554805f * (x > 0.0f ? x : 1.6732632423543772f * expm1f(x))) \
  X("softplus", x * a > b ? x : log1pf(expf(x * a)) / a)                           \
  X("hardswish", x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f)                    \
  X("hardsigmoid", fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f)                      \
  X("mish", x * tanhf(x > 20.0f ? x : log1pf(expf(x))))                            \
  X("softsign", x / (1.0f + fabsf(x)))

// Binary ops on floats that keep the dtype. min and max propagate NaN (x + y is NaN when either is).
#define TF_FLOAT_BINARY_OPS(X)                                              \
  X("add", x + y)                                                           \
  X("sub", x - y)                                                           \
  X("mul", x * y)                                                           \
  X("div", x / y)                                                           \
  X("floor_div", floorf(x / y))                                             \
  X("mod", fmodf(x, y) != 0.0f && ((fmodf(x, y) < 0.0f) != (y < 0.0f)) ? fmodf(x, y) + y : fmodf(x, y)) \
  X("pow", powf(x, y))                                                      \
  X("min", x != x || y != y ? x + y : (x < y ? x : y))                      \
  X("max", x != x || y != y ? x + y : (x > y ? x : y))

// Binary ops on floats (or bools as 0/1) whose result is bool (1 or 0).
#define TF_FLOAT_COMPARISON_OPS(X)                          \
  X("eq", x == y)                                           \
  X("ne", x != y)                                           \
  X("lt", x < y)                                            \
  X("le", x <= y)                                           \
  X("gt", x > y)                                            \
  X("ge", x >= y)                                           \
  X("logical_and", x != 0.0f && y != 0.0f)                  \
  X("logical_or", x != 0.0f || y != 0.0f)                   \
  X("logical_xor", (x != 0.0f) != (y != 0.0f))
