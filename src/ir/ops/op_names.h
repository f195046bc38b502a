// The op names of the pointwise layers, shared by inference (validation) and the CPU kernels.
#pragma once

#include <string>
#include <vector>

namespace tensorforge::ir {

/// Elementwise binary ops, by result kind.
inline const std::vector<std::string> kBinaryOps = {
    "add", "sub", "mul", "div", "floor_div", "mod", "pow", "min", "max",             // arithmetic
    "eq",  "ne",  "lt",  "le",  "gt",        "ge",                                    // comparison
    "logical_and", "logical_or", "logical_xor"};                                      // logical
enum class BinaryKind { kArithmetic, kComparison, kLogical, kUnknown };
BinaryKind binary_kind(const std::string& op);

/// Unary ops, by what they accept and give.
inline const std::vector<std::string> kUnaryOps = {
    // float only
    "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tan", "asin",
    "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf",
    // any numeric dtype (not bool)
    "abs", "neg", "sign", "floor", "ceil", "round", "trunc",
    // any dtype, bool result
    "not", "isnan", "isinf"};
enum class UnaryKind { kFloatOnly, kNumeric, kPredicate, kUnknown };
UnaryKind unary_kind(const std::string& op);

/// Activations; alpha/beta meanings are in docs/layers.md.
inline const std::vector<std::string> kActivationOps = {
    "relu", "sigmoid", "gelu_erf", "gelu_tanh", "silu", "leaky_relu", "elu", "selu", "celu",
    "softplus", "clip", "hardswish", "hardsigmoid", "mish", "softsign"};

bool contains(const std::vector<std::string>& names, const std::string& n);
std::string list_names(const std::vector<std::string>& names);

}  // namespace tensorforge::ir
