// StridedCopy: plan (drop extents of 1, merge contiguous dims) and an odometer over the outer dims
// around a 2-D inner copy (row memcpy when the inner stride is 1, 32x32 tiles otherwise).
#include "kernels/cpu/strided_copy.h"

#include <algorithm>
#include <cstring>

namespace tensorforge::cpu {

namespace {

constexpr int64_t kTile = 32;

template <class T>
void copy_block(const T* in, T* out, int64_t rows, int64_t cols, int64_t s_row, int64_t s_col) {
  if (rows == 1 || cols < kTile) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = in[i * s_row + j * s_col];
    return;
  }
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    int64_t i1 = std::min(rows, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      int64_t j1 = std::min(cols, j0 + kTile);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) out[i * cols + j] = in[i * s_row + j * s_col];
    }
  }
}

void copy_block_bytes(const uint8_t* in, uint8_t* out, int64_t rows, int64_t cols, int64_t s_row, int64_t s_col,
                      size_t elem) {
  if (s_col == 1) {
    for (int64_t i = 0; i < rows; ++i) std::memcpy(out + i * cols * elem, in + i * s_row * elem, cols * elem);
    return;
  }
  switch (elem) {
    case 1: return copy_block(in, out, rows, cols, s_row, s_col);
    case 2:
      return copy_block(reinterpret_cast<const uint16_t*>(in), reinterpret_cast<uint16_t*>(out), rows, cols, s_row,
                        s_col);
    case 4:
      return copy_block(reinterpret_cast<const uint32_t*>(in), reinterpret_cast<uint32_t*>(out), rows, cols, s_row,
                        s_col);
    default:
      return copy_block(reinterpret_cast<const uint64_t*>(in), reinterpret_cast<uint64_t*>(out), rows, cols, s_row,
                        s_col);
  }
}

}  // namespace

StridedCopy::StridedCopy(const Dims& out_dims, const std::vector<int64_t>& in_strides, int64_t in_offset, size_t elem)
    : offset_(in_offset), elem_(elem), empty_(out_dims.volume() == 0) {
  std::vector<int64_t> d, s;
  for (int k = 0; k < out_dims.rank(); ++k) {
    if (out_dims[k] == 1) continue;
    if (!d.empty() && s.back() == in_strides[k] * out_dims[k]) {  // contiguous with the previous dim: merge
      d.back() *= out_dims[k];
      s.back() = in_strides[k];
      continue;
    }
    d.push_back(out_dims[k]);
    s.push_back(in_strides[k]);
  }
  while (d.size() < 2) {
    d.insert(d.begin(), 1);
    s.insert(s.begin(), 0);
  }
  rank_ = static_cast<int>(d.size());
  std::copy(d.begin(), d.end(), dims_);
  std::copy(s.begin(), s.end(), strides_);
}

void StridedCopy::run(const void* in, void* out) const {
  if (empty_) return;
  const uint8_t* src = static_cast<const uint8_t*>(in) + offset_ * static_cast<int64_t>(elem_);
  uint8_t* dst = static_cast<uint8_t*>(out);
  const int outer = rank_ - 2;
  const int64_t rows = dims_[rank_ - 2], cols = dims_[rank_ - 1];
  const int64_t s_row = strides_[rank_ - 2], s_col = strides_[rank_ - 1];
  const size_t block = static_cast<size_t>(rows * cols) * elem_;
  int64_t idx[kMaxDims] = {};
  int64_t off = 0;
  for (;;) {
    copy_block_bytes(src + off * static_cast<int64_t>(elem_), dst, rows, cols, s_row, s_col, elem_);
    dst += block;
    int k = outer - 1;
    for (; k >= 0; --k) {
      if (++idx[k] < dims_[k]) {
        off += strides_[k];
        break;
      }
      off -= strides_[k] * (dims_[k] - 1);
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

}  // namespace tensorforge::cpu
