// CPU concat and split: both see each tensor as [outer, extent along the axis × inner] and move one
// contiguous block per (outer index, piece) with memcpy, so they are dtype-agnostic.
#include <cstring>

#include "kernels/cpu/shape.h"

namespace tensorforge::cpu {

namespace {

// Bytes of each piece's block per outer index, and the outer count, for pieces along `axis`.
struct Blocks {
  int64_t outer = 1;
  std::vector<size_t> piece_bytes;
  size_t total_bytes = 0;  ///< Sum of piece_bytes: the whole tensor's block per outer index.
};

Blocks plan(const std::vector<const ir::TensorDesc*>& pieces, int64_t axis_attr) {
  Blocks b;
  const Dims& d = pieces[0]->dims;
  int axis = static_cast<int>(axis_attr < 0 ? axis_attr + d.rank() : axis_attr);
  int64_t inner = 1;
  for (int k = 0; k < axis; ++k) b.outer *= d[k];
  for (int k = axis + 1; k < d.rank(); ++k) inner *= d[k];
  size_t elem = element_size(pieces[0]->dtype);
  for (const ir::TensorDesc* p : pieces) {
    b.piece_bytes.push_back(static_cast<size_t>(p->dims[axis] * inner) * elem);
    b.total_bytes += b.piece_bytes.back();
  }
  return b;
}

class ConcatKernel : public Kernel {
 public:
  explicit ConcatKernel(Blocks b) : b_(std::move(b)) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    uint8_t* dst = out[0].as<uint8_t>();
    for (int64_t o = 0; o < b_.outer; ++o)
      for (size_t k = 0; k < b_.piece_bytes.size(); ++k) {
        size_t n = b_.piece_bytes[k];
        if (n) std::memcpy(dst, in[k].as<const uint8_t>() + o * n, n);
        dst += n;
      }
  }

 private:
  Blocks b_;
};

class SplitKernel : public Kernel {
 public:
  explicit SplitKernel(Blocks b) : b_(std::move(b)) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const uint8_t* src = in[0].as<const uint8_t>();
    for (int64_t o = 0; o < b_.outer; ++o)
      for (size_t k = 0; k < b_.piece_bytes.size(); ++k) {
        size_t n = b_.piece_bytes[k];
        if (n) std::memcpy(out[k].as<uint8_t>() + o * n, src, n);
        src += n;
      }
  }

 private:
  Blocks b_;
};

}  // namespace

std::unique_ptr<Kernel> create_concat(const KernelSpec& s) {
  return std::make_unique<ConcatKernel>(plan(s.inputs, ir::attr_int(s.layer, "axis")));
}

std::unique_ptr<Kernel> create_split(const KernelSpec& s) {
  return std::make_unique<SplitKernel>(plan(s.outputs, ir::attr_int(s.layer, "axis")));
}

}  // namespace tensorforge::cpu
