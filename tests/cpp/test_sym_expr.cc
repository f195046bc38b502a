// Symbolic sizes (ir/sym_expr.h): text round trips, evaluation with Python's floor division and
// modulo against hand-computed values, folding, substitution, and every error (syntax with its
// position, unbound symbol, division by zero, overflow).
#include <gtest/gtest.h>

#include <climits>
#include <functional>

#include "ir/sym_expr.h"
#include "tensorforge/types.h"

using tensorforge::Error;
using tensorforge::ErrorCode;
using tensorforge::ir::SymBindings;
using tensorforge::ir::SymExpr;

namespace {

// Python's // and % on int64 (the reference the evaluator must match).
int64_t py_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t py_mod(int64_t a, int64_t b) { return a - py_div(a, b) * b; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

}  // namespace

TEST(SymExpr, TextRoundTripsAndEvaluates) {
  struct Case {
    const char* text;
    std::function<int64_t(int64_t, int64_t)> ref;  // of s0, s1
  };
  const Case cases[] = {
      {"s0*12", [](int64_t a, int64_t) { return a * 12; }},
      {"(s0 - 1)//2 + 1", [](int64_t a, int64_t) { return py_div(a - 1, 2) + 1; }},
      {"(s0 + 2*1 - 3)//s1 + 1", [](int64_t a, int64_t b) { return py_div(a + 2 - 3, b) + 1; }},
      {"max(s0, 1)", [](int64_t a, int64_t) { return a > 1 ? a : 1; }},
      {"min(max(s0, 1), 64)*3", [](int64_t a, int64_t) { return (a < 1 ? 1 : (a > 64 ? 64 : a)) * 3; }},
      {"s0 - (s1 - 2)", [](int64_t a, int64_t b) { return a - (b - 2); }},
      {"s0 - s1 - 2", [](int64_t a, int64_t b) { return a - b - 2; }},
      {"-s0 + 3", [](int64_t a, int64_t) { return -a + 3; }},
      {"-(s0 + s1)", [](int64_t a, int64_t b) { return -(a + b); }},
      {"s0%8 + s1%-3", [](int64_t a, int64_t b) { return py_mod(a, 8) + py_mod(b, -3); }},
      {"2*(s0 + 1)*s1", [](int64_t a, int64_t b) { return 2 * (a + 1) * b; }},
      {"s0//(s1//2)", [](int64_t a, int64_t b) { return py_div(a, py_div(b, 2)); }},
      {"s0*-5 - -7", [](int64_t a, int64_t) { return a * -5 + 7; }},
      {"  s0  *  s1  ", [](int64_t a, int64_t b) { return a * b; }},
  };
  const int64_t values[] = {-9, -7, -1, 1, 2, 7, 64, 100, 1023};
  for (const Case& c : cases) {
    const SymExpr e = SymExpr::parse(c.text);
    const SymExpr again = SymExpr::parse(e.str());
    EXPECT_EQ(again, e) << c.text << " printed as " << e.str() << ", read back as " << again.str();
    EXPECT_EQ(again.str(), e.str()) << c.text;
    for (int64_t a : values)
      for (int64_t b : values) {
        if ((std::string(c.text).find("//s1") != std::string::npos && b == 0) ||
            (std::string(c.text).find("(s1//2)") != std::string::npos && py_div(b, 2) == 0))
          continue;  // division by zero: its own test
        EXPECT_EQ(e.evaluate({{"s0", a}, {"s1", b}}), c.ref(a, b)) << c.text << " at s0=" << a << ", s1=" << b;
      }
  }
}

TEST(SymExpr, PythonFloorDivisionAndModulo) {
  const SymExpr div = SymExpr::parse("s0//s1"), rem = SymExpr::parse("s0%s1");
  const int64_t pairs[][4] = {{-7, 2, -4, 1}, {7, -2, -4, -1}, {-7, -2, 3, -1}, {7, 2, 3, 1}, {-8, 2, -4, 0},
                              {INT64_MIN, -1, 0, 0}};
  for (const auto& p : pairs) {
    const SymBindings b{{"s0", p[0]}, {"s1", p[1]}};
    if (p[0] != INT64_MIN) EXPECT_EQ(div.evaluate(b), p[2]) << p[0] << " // " << p[1];
    EXPECT_EQ(rem.evaluate(b), p[3]) << p[0] << " % " << p[1];
  }
  // INT64_MIN // -1 does not fit: an error, not a wrapped value.
  EXPECT_NE(error_of([&] { div.evaluate({{"s0", INT64_MIN}, {"s1", -1}}); }).find("overflows"), std::string::npos);
}

TEST(SymExpr, FoldsConstantsAndIdentities) {
  EXPECT_TRUE(SymExpr::parse("2*3 + 4").is_constant());
  EXPECT_EQ(SymExpr::parse("2*3 + 4").constant(), 10);
  EXPECT_EQ(SymExpr::parse("(0 - 7)//2").constant(), -4);
  EXPECT_EQ(SymExpr::parse("max(3, min(9, 5))").constant(), 5);
  EXPECT_EQ(SymExpr::parse("s0*1 + 0"), SymExpr::symbol("s0"));
  EXPECT_EQ(SymExpr::parse("1*s0//1 - 0").str(), "s0");
  EXPECT_EQ(SymExpr::parse("(s0 + 1)*(2 + 2)").str(), "(s0 + 1)*4");
  // x*0 is not folded: it would hide an error inside x.
  EXPECT_FALSE(SymExpr::parse("(s0//s1)*0").is_constant());
  // A constant division by zero stays unfolded and fails when evaluated.
  const SymExpr z = SymExpr::parse("5//0");
  EXPECT_FALSE(z.is_constant());
  EXPECT_NE(error_of([&] { z.evaluate({}); }).find("division by zero"), std::string::npos);
}

TEST(SymExpr, SubstitutesAndListsSymbols) {
  const SymExpr e = SymExpr::parse("s0*s1 + batch//2");
  std::set<std::string> names;
  e.symbols(&names);
  EXPECT_EQ(names, (std::set<std::string>{"batch", "s0", "s1"}));
  const SymExpr part = e.substitute({{"s0", 3}});
  EXPECT_EQ(part, SymExpr::parse("3*s1 + batch//2"));
  const SymExpr whole = e.substitute({{"s0", 3}, {"s1", 4}, {"batch", 9}});
  ASSERT_TRUE(whole.is_constant());
  EXPECT_EQ(whole.constant(), 16);
  EXPECT_EQ(e.evaluate({{"s0", 3}, {"s1", 4}, {"batch", 9}}), 16);
  EXPECT_EQ(SymExpr::symbol("batch").name(), "batch");
  EXPECT_EQ(SymExpr(42).constant(), 42);
}

TEST(SymExpr, ErrorsSayWhatAndWhere) {
  struct Bad {
    const char* text;
    const char* expected;
  };
  const Bad bad[] = {
      {"s0 +", "expected an integer, a symbol, '(', max or min at position 4"},
      {"2**3", "expected an operator or the end at position 1"},
      {"(s0 + 1", "expected ')' at position 7"},
      {"max(s0)", "expected ',' at position 6"},
      {"max s0", "expected '(' after max at position 4"},
      {"99999999999999999999", "expected an integer within 64 bits"},
      {"s0 s1", "expected an operator or the end at position 3"},
      {"3x", "expected an operator or the end at position 1"},
      {"", "expected an integer, a symbol, '(', max or min at position 0"},
      {"s0 + $", "at position 5"},
  };
  for (const Bad& b : bad) {
    const std::string what = error_of([&] { SymExpr::parse(b.text); });
    EXPECT_NE(what.find(b.expected), std::string::npos) << "'" << b.text << "': " << what;
    EXPECT_NE(what.find("symbolic size '" + std::string(b.text) + "'"), std::string::npos) << what;
  }
  EXPECT_NE(error_of([] { SymExpr::symbol("max"); }).find("not a symbol name"), std::string::npos);
  EXPECT_NE(error_of([] { SymExpr::symbol("2x"); }).find("not a symbol name"), std::string::npos);
  const SymExpr e = SymExpr::parse("s0*s1");
  EXPECT_NE(error_of([&] { e.evaluate({{"s0", 2}}); }).find("no value for s1"), std::string::npos);
  EXPECT_NE(error_of([&] { e.evaluate({{"s0", int64_t(1) << 40}, {"s1", int64_t(1) << 40}}); }).find("overflows"),
            std::string::npos);
  EXPECT_NE(error_of([] { SymExpr::parse("s0%s1").evaluate({{"s0", 3}, {"s1", 0}}); }).find("division by zero"),
            std::string::npos);
  EXPECT_NE(error_of([&] { e.constant(); }).find("is not a constant"), std::string::npos);
  EXPECT_NE(error_of([&] { e.name(); }).find("is not a symbol"), std::string::npos);
}
