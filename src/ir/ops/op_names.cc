// Classification of pointwise op names.
#include "ir/ops/op_names.h"

#include <algorithm>

namespace tensorforge::ir {

namespace {
int index_of(const std::vector<std::string>& names, const std::string& n) {
  auto it = std::find(names.begin(), names.end(), n);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}
}  // namespace

BinaryKind binary_kind(const std::string& op) {
  int i = index_of(kBinaryOps, op);
  if (i < 0) return BinaryKind::kUnknown;
  return i < 9 ? BinaryKind::kArithmetic : i < 15 ? BinaryKind::kComparison : BinaryKind::kLogical;
}

UnaryKind unary_kind(const std::string& op) {
  int i = index_of(kUnaryOps, op);
  if (i < 0) return UnaryKind::kUnknown;
  return i < 22 ? UnaryKind::kFloatOnly : i < 29 ? UnaryKind::kNumeric : UnaryKind::kPredicate;
}

bool contains(const std::vector<std::string>& names, const std::string& n) { return index_of(names, n) >= 0; }

std::string list_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace tensorforge::ir
