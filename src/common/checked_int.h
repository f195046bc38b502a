// Checked 64-bit integer arithmetic for shapes, sizes and offsets computed from untrusted values
// (attributes and extents from users or engine files): an expression is written as usual on
// CheckedInt operands, and ok() afterwards says whether any step overflowed (or divided by zero).
#pragma once

#include <cstdint>

namespace tensorforge {

class CheckedInt {
 public:
  /// A valid value.
  constexpr CheckedInt(int64_t v = 0) : v_(v) {}  // NOLINT: implicit, so plain ints mix in
  /// False once any operation that produced this value overflowed.
  bool ok() const { return ok_; }
  /// The value (meaningless unless ok()).
  int64_t value() const { return v_; }

  friend CheckedInt operator+(CheckedInt a, CheckedInt b) {
    CheckedInt r;
    r.ok_ = a.ok_ && b.ok_ && !__builtin_add_overflow(a.v_, b.v_, &r.v_);
    return r;
  }
  friend CheckedInt operator-(CheckedInt a, CheckedInt b) {
    CheckedInt r;
    r.ok_ = a.ok_ && b.ok_ && !__builtin_sub_overflow(a.v_, b.v_, &r.v_);
    return r;
  }
  friend CheckedInt operator*(CheckedInt a, CheckedInt b) {
    CheckedInt r;
    r.ok_ = a.ok_ && b.ok_ && !__builtin_mul_overflow(a.v_, b.v_, &r.v_);
    return r;
  }
  /// Truncating division, as C++'s; division by zero and INT64_MIN / -1 are failures.
  friend CheckedInt operator/(CheckedInt a, CheckedInt b) {
    CheckedInt r;
    r.ok_ = a.ok_ && b.ok_ && b.v_ != 0 && !(a.v_ == INT64_MIN && b.v_ == -1);
    r.v_ = r.ok_ ? a.v_ / b.v_ : 0;
    return r;
  }

 private:
  int64_t v_ = 0;
  bool ok_ = true;
};

}  // namespace tensorforge
