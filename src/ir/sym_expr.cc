#include "ir/sym_expr.h"

#include <cctype>

#include "common/checked_int.h"
#include "tensorforge/types.h"

namespace tensorforge::ir {

struct SymExpr::Node {
  Op op = Op::kConst;
  int64_t value = 0;  // kConst
  std::string name;   // kSymbol
  std::shared_ptr<const Node> a, b;  // operands of the binary operations
};

namespace {

using Node = SymExpr::Node;

[[noreturn]] void fail(const std::string& what) { throw Error(ErrorCode::kInvalidArgument, what); }

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return s != "max" && s != "min";
}

/// Python's floor division and modulo on checked values; false on division by zero or overflow.
bool floor_div(int64_t a, int64_t b, int64_t* q) {
  const CheckedInt t = CheckedInt(a) / CheckedInt(b);
  if (!t.ok()) return false;
  *q = t.value() - ((a % b != 0 && ((a < 0) != (b < 0))) ? 1 : 0);
  return true;
}

bool floor_mod(int64_t a, int64_t b, int64_t* r) {
  if (b == 0) return false;
  if (b == -1) {  // INT64_MIN % -1 is undefined in C++; the answer is 0 for every a
    *r = 0;
    return true;
  }
  int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  *r = m;
  return true;
}

/// op(a, b) on constants; false where it divides by zero or overflows.
bool apply(SymExpr::Op op, int64_t a, int64_t b, int64_t* out) {
  CheckedInt r;
  switch (op) {
    case SymExpr::Op::kAdd: r = CheckedInt(a) + CheckedInt(b); break;
    case SymExpr::Op::kSub: r = CheckedInt(a) - CheckedInt(b); break;
    case SymExpr::Op::kMul: r = CheckedInt(a) * CheckedInt(b); break;
    case SymExpr::Op::kFloorDiv: return floor_div(a, b, out);
    case SymExpr::Op::kMod: return floor_mod(a, b, out);
    case SymExpr::Op::kMax: r = a > b ? a : b; break;
    case SymExpr::Op::kMin: r = a < b ? a : b; break;
    default: return false;
  }
  *out = r.value();
  return r.ok();
}

// Precedence for printing: additive 1, multiplicative 2, everything else (a primary) 3. A negative
// constant prints as "-5", which is a unary: it binds tighter than any binary operation.
int precedence(const Node& n) {
  switch (n.op) {
    case SymExpr::Op::kAdd:
    case SymExpr::Op::kSub: return 1;
    case SymExpr::Op::kMul:
    case SymExpr::Op::kFloorDiv:
    case SymExpr::Op::kMod: return 2;
    default: return 3;
  }
}

void print(const Node& n, std::string* out) {
  switch (n.op) {
    case SymExpr::Op::kConst: *out += std::to_string(n.value); return;
    case SymExpr::Op::kSymbol: *out += n.name; return;
    case SymExpr::Op::kMax:
    case SymExpr::Op::kMin:
      *out += n.op == SymExpr::Op::kMax ? "max(" : "min(";
      print(*n.a, out);
      *out += ", ";
      print(*n.b, out);
      *out += ")";
      return;
    default: break;
  }
  const int p = precedence(n);
  auto operand = [&](const Node& c, bool right) {
    // Left-associative: the right operand needs parentheses at equal precedence too.
    const bool paren = right ? precedence(c) <= p : precedence(c) < p;
    if (paren) *out += "(";
    print(c, out);
    if (paren) *out += ")";
  };
  static const char* const kText[] = {"", "", " + ", " - ", "*", "//", "%"};
  operand(*n.a, false);
  *out += kText[static_cast<int>(n.op)];
  operand(*n.b, true);
}

bool equal(const Node& x, const Node& y) {
  if (&x == &y) return true;
  if (x.op != y.op) return false;
  if (x.op == SymExpr::Op::kConst) return x.value == y.value;
  if (x.op == SymExpr::Op::kSymbol) return x.name == y.name;
  return equal(*x.a, *y.a) && equal(*x.b, *y.b);
}

// Recursive descent over the grammar of sym_expr.h.
class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  SymExpr whole() {
    SymExpr e = expr();
    skip();
    if (i_ != s_.size()) error("an operator or the end");
    return e;
  }

 private:
  SymExpr expr() {
    SymExpr e = term();
    for (;;) {
      skip();
      if (eat("+"))
        e = e + term();
      else if (eat("-"))
        e = e - term();
      else
        return e;
    }
  }

  SymExpr term() {
    SymExpr e = unary();
    for (;;) {
      skip();
      if (eat("*"))
        e = e * unary();
      else if (eat("//"))
        e = floordiv(e, unary());
      else if (eat("%"))
        e = mod(e, unary());
      else
        return e;
    }
  }

  SymExpr unary() {
    skip();
    if (eat("-")) {
      SymExpr v = unary();
      return v.is_constant() ? SymExpr(0) - v : SymExpr(-1) * v;
    }
    return primary();
  }

  SymExpr primary() {
    skip();
    if (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      CheckedInt v;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])))
        v = v * CheckedInt(10) + CheckedInt(s_[i_++] - '0');
      if (!v.ok()) error("an integer within 64 bits");
      return SymExpr(v.value());
    }
    if (eat("(")) {
      SymExpr e = expr();
      skip();
      if (!eat(")")) error("')'");
      return e;
    }
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
    const std::string word = s_.substr(start, i_ - start);
    if (word.empty() || std::isdigit(static_cast<unsigned char>(word[0]))) {
      i_ = start;
      error("an integer, a symbol, '(', max or min");
    }
    if (word == "max" || word == "min") {
      skip();
      if (!eat("(")) error("'(' after " + word);
      SymExpr a = expr();
      skip();
      if (!eat(",")) error("','");
      SymExpr b = expr();
      skip();
      if (!eat(")")) error("')'");
      return word == "max" ? max(a, b) : min(a, b);
    }
    return SymExpr::symbol(word);
  }

  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(const char* tok) {
    const std::string t(tok);
    if (s_.compare(i_, t.size(), t) != 0) return false;
    if (t == "*" && s_.compare(i_, 2, "**") == 0) return false;  // not an operator of the grammar
    i_ += t.size();
    return true;
  }
  [[noreturn]] void error(const std::string& expected) {
    fail("symbolic size '" + s_ + "': expected " + expected + " at position " + std::to_string(i_));
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace

SymExpr::SymExpr() : SymExpr(int64_t(0)) {}

SymExpr::SymExpr(int64_t value) {
  auto n = std::make_shared<Node>();
  n->value = value;
  n_ = std::move(n);
}

SymExpr SymExpr::symbol(const std::string& name) {
  if (!is_identifier(name)) fail("symbolic size: '" + name + "' is not a symbol name (an identifier, not max/min)");
  auto n = std::make_shared<Node>();
  n->op = Op::kSymbol;
  n->name = name;
  return SymExpr(std::shared_ptr<const Node>(std::move(n)));
}

SymExpr SymExpr::parse(const std::string& text) { return Parser(text).whole(); }

SymExpr::Op SymExpr::op() const { return n_->op; }

int64_t SymExpr::constant() const {
  if (!is_constant()) fail("symbolic size '" + str() + "' is not a constant");
  return n_->value;
}

const std::string& SymExpr::name() const {
  if (op() != Op::kSymbol) fail("symbolic size '" + str() + "' is not a symbol");
  return n_->name;
}

void SymExpr::symbols(std::set<std::string>* out) const {
  if (op() == Op::kSymbol) out->insert(n_->name);
  if (n_->a) SymExpr(n_->a).symbols(out);
  if (n_->b) SymExpr(n_->b).symbols(out);
}

SymExpr SymExpr::make(Op op, const SymExpr& a, const SymExpr& b) {
  int64_t v = 0;
  if (a.is_constant() && b.is_constant() && apply(op, a.n_->value, b.n_->value, &v)) return SymExpr(v);
  // Identities that cannot hide an error of the other operand.
  const auto is = [](const SymExpr& e, int64_t c) { return e.is_constant() && e.n_->value == c; };
  if ((op == Op::kAdd && is(b, 0)) || (op == Op::kSub && is(b, 0)) || (op == Op::kMul && is(b, 1)) ||
      (op == Op::kFloorDiv && is(b, 1)))
    return a;
  if ((op == Op::kAdd && is(a, 0)) || (op == Op::kMul && is(a, 1))) return b;
  auto n = std::make_shared<Node>();
  n->op = op;
  n->a = a.n_;
  n->b = b.n_;
  return SymExpr(std::shared_ptr<const Node>(std::move(n)));
}

SymExpr operator+(const SymExpr& a, const SymExpr& b) { return SymExpr::make(SymExpr::Op::kAdd, a, b); }
SymExpr operator-(const SymExpr& a, const SymExpr& b) { return SymExpr::make(SymExpr::Op::kSub, a, b); }
SymExpr operator*(const SymExpr& a, const SymExpr& b) { return SymExpr::make(SymExpr::Op::kMul, a, b); }
SymExpr floordiv(const SymExpr& a, const SymExpr& b) { return SymExpr::make(SymExpr::Op::kFloorDiv, a, b); }
SymExpr mod(const SymExpr& a, const SymExpr& b) { return SymExpr::make(SymExpr::Op::kMod, a, b); }
SymExpr max(const SymExpr& a, const SymExpr& b) { return SymExpr::make(SymExpr::Op::kMax, a, b); }
SymExpr min(const SymExpr& a, const SymExpr& b) { return SymExpr::make(SymExpr::Op::kMin, a, b); }

int64_t SymExpr::evaluate(const SymBindings& b) const {
  const Node& n = *n_;
  if (n.op == Op::kConst) return n.value;
  if (n.op == Op::kSymbol) {
    const auto it = b.find(n.name);
    if (it == b.end()) fail("symbolic size '" + str() + "': no value for " + n.name);
    return it->second;
  }
  const int64_t x = SymExpr(n.a).evaluate(b), y = SymExpr(n.b).evaluate(b);
  int64_t v = 0;
  if (!apply(n.op, x, y, &v))
    fail("symbolic size '" + str() + "' with " + std::to_string(x) + " and " + std::to_string(y) +
         (y == 0 && (n.op == Op::kFloorDiv || n.op == Op::kMod) ? ": division by zero" : ": overflows 64 bits"));
  return v;
}

SymExpr SymExpr::substitute(const SymBindings& b) const {
  const Node& n = *n_;
  if (n.op == Op::kConst) return *this;
  if (n.op == Op::kSymbol) {
    const auto it = b.find(n.name);
    return it == b.end() ? *this : SymExpr(it->second);
  }
  return make(n.op, SymExpr(n.a).substitute(b), SymExpr(n.b).substitute(b));
}

std::string SymExpr::str() const {
  std::string out;
  print(*n_, &out);
  return out;
}

bool SymExpr::operator==(const SymExpr& o) const { return equal(*n_, *o.n_); }

}  // namespace tensorforge::ir
