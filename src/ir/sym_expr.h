// Integer expressions over named sizes ("s0", "batch"): the extents and size attributes of a network
// whose inputs have dynamic dims (docs/dynamic_shapes.md). An expression is built from constants,
// symbols, + - * and Python's floor division and modulo (// %), max and min; it evaluates under a
// binding of its symbols, with every step checked for overflow and division by zero. Its text form,
// read by SymExpr::parse and written by str(), is the same grammar:
//
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '//' | '%') unary)*
//   unary   := '-' unary | primary
//   primary := integer | symbol | '(' expr ')' | ('max' | 'min') '(' expr ',' expr ')'
//
// symbol := [A-Za-z_][A-Za-z0-9_]* other than max/min. Expressions are immutable values (shared
// trees); constant subexpressions are folded as they are built, so a fully constant expression
// is one constant.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace tensorforge::ir {

/// Values of symbols, by name.
using SymBindings = std::map<std::string, int64_t>;

class SymExpr {
 public:
  /// The operation at an expression's root.
  enum class Op : uint8_t { kConst, kSymbol, kAdd, kSub, kMul, kFloorDiv, kMod, kMax, kMin };

  /// The constant 0.
  SymExpr();
  /// A constant.
  SymExpr(int64_t value);  // NOLINT: implicit, so that constants mix into expressions
  /// The symbol `name`; throws Error(kInvalidArgument) unless it is an identifier other than
  /// max/min.
  static SymExpr symbol(const std::string& name);
  /// An expression from its text form; throws Error(kInvalidArgument) naming the position and what
  /// was expected there.
  static SymExpr parse(const std::string& text);

  /// The root's operation.
  Op op() const;
  /// True when the expression holds no symbol (it is then one constant).
  bool is_constant() const { return op() == Op::kConst; }
  /// The constant's value (is_constant() only).
  int64_t constant() const;
  /// The symbol's name (op() == kSymbol only).
  const std::string& name() const;
  /// The names of the symbols it holds, added to `out`.
  void symbols(std::set<std::string>* out) const;

  /// The value under `b`; throws Error(kInvalidArgument) naming the expression when a symbol is not
  /// bound, a division or modulo is by zero, or a step overflows 64 bits.
  int64_t evaluate(const SymBindings& b) const;
  /// The expression with the symbols of `b` replaced by their values (others kept), folded.
  SymExpr substitute(const SymBindings& b) const;

  /// The text form, parenthesized only where precedence needs it; parse(str()) gives an equal
  /// expression.
  std::string str() const;
  /// Structural equality (the same tree after folding; x + 1 and 1 + x differ).
  bool operator==(const SymExpr& o) const;
  bool operator!=(const SymExpr& o) const { return !(*this == o); }

  friend SymExpr operator+(const SymExpr& a, const SymExpr& b);
  friend SymExpr operator-(const SymExpr& a, const SymExpr& b);
  friend SymExpr operator*(const SymExpr& a, const SymExpr& b);
  /// Python's a // b (rounds toward negative infinity).
  friend SymExpr floordiv(const SymExpr& a, const SymExpr& b);
  /// Python's a % b (the sign of b).
  friend SymExpr mod(const SymExpr& a, const SymExpr& b);
  friend SymExpr max(const SymExpr& a, const SymExpr& b);
  friend SymExpr min(const SymExpr& a, const SymExpr& b);

  struct Node;

 private:
  explicit SymExpr(std::shared_ptr<const Node> n) : n_(std::move(n)) {}
  static SymExpr make(Op op, const SymExpr& a, const SymExpr& b);
  std::shared_ptr<const Node> n_;
};

}  // namespace tensorforge::ir
