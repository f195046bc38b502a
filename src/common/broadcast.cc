// Broadcast shape and stride helpers.
#include "common/broadcast.h"

#include <algorithm>

namespace tensorforge {

bool broadcast_shape(const Dims& a, const Dims& b, Dims& out) {
  int r = std::max(a.rank(), b.rank());
  std::vector<int64_t> d(r);
  for (int i = 0; i < r; ++i) {
    int ia = a.rank() - r + i, ib = b.rank() - r + i;
    int64_t x = ia >= 0 ? a[ia] : 1, y = ib >= 0 ? b[ib] : 1;
    if (x != y && x != 1 && y != 1) return false;
    d[i] = x == 1 ? y : x;
  }
  out = Dims(d);
  return true;
}

std::vector<int64_t> contiguous_strides(const Dims& d) {
  std::vector<int64_t> s(d.rank());
  int64_t acc = 1;
  for (int i = d.rank() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= d[i];
  }
  return s;
}

std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out) {
  std::vector<int64_t> cs = contiguous_strides(in), s(out.rank(), 0);
  for (int i = 0; i < in.rank(); ++i) {
    int o = out.rank() - in.rank() + i;
    s[o] = in[i] == 1 ? 0 : cs[i];
  }
  return s;
}

BroadcastIter::BroadcastIter(const Dims& out, std::vector<std::vector<int64_t>> strides)
    : out_(out), strides_(std::move(strides)), index_(out.rank(), 0), offsets_(strides_.size(), 0) {
  done_ = out.volume() == 0;
}

BroadcastIter::BroadcastIter(const Dims& out, std::vector<std::vector<int64_t>> strides, int64_t start)
    : BroadcastIter(out, std::move(strides)) {
  if (start >= out.volume()) {
    done_ = true;
    return;
  }
  for (int d = out_.rank() - 1; d >= 0 && start > 0; --d) {
    index_[d] = start % out_[d];
    start /= out_[d];
    for (size_t k = 0; k < strides_.size(); ++k) offsets_[k] += strides_[k][d] * index_[d];
  }
}

void BroadcastIter::next() {
  for (int d = out_.rank() - 1; d >= 0; --d) {
    if (++index_[d] < out_[d]) {
      for (size_t k = 0; k < strides_.size(); ++k) offsets_[k] += strides_[k][d];
      return;
    }
    for (size_t k = 0; k < strides_.size(); ++k) offsets_[k] -= strides_[k][d] * (out_[d] - 1);
    index_[d] = 0;
  }
  done_ = true;
}

}  // namespace tensorforge
