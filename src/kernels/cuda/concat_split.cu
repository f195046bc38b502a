// CUDA concat and split: both see each tensor as [outer, extent along the axis x inner]; one launch
// per piece copies its [outer, block] rows between the piece and its column range of the whole
// tensor (dst[o * dst_stride + j] = src[o * src_stride + j]), as whole elements of the element's
// size, so any dtype works. Empty pieces launch nothing.
#include <algorithm>
#include <vector>

#include "kernels/cuda/concat_split.cuh"
#include "kernels/cuda/copy_views.cuh"

namespace tensorforge::cuda {

namespace {

// I is the index type: 32-bit math when every index fits.
template <class W, class I>
__global__ void copy_rows_kernel(const W* __restrict__ src, W* __restrict__ dst, I rows, I block, I src_stride,
                                 I dst_stride) {
  I n = rows * block;
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    I o = i / block, j = i - o * block;
    dst[o * dst_stride + j] = src[o * src_stride + j];
  }
}

// Copies rows x block elements of W between strided rows; 16 bytes at a time when the block, both
// strides and both pointers allow it.
template <class W>
void copy_rows(const W* src, W* dst, int64_t rows, int64_t block, int64_t src_stride, int64_t dst_stride) {
  constexpr int64_t k = sizeof(W) < 16 ? 16 / sizeof(W) : 1;
  if (k > 1 && block % k == 0 && src_stride % k == 0 && dst_stride % k == 0 &&
      reinterpret_cast<uintptr_t>(src) % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
    copy_rows(reinterpret_cast<const uint4*>(src), reinterpret_cast<uint4*>(dst), rows, block / k, src_stride / k,
              dst_stride / k);
    return;
  }
  const int64_t n = rows * block, span = rows * std::max(src_stride, dst_stride);
  if (n < (int64_t(1) << 31) && span < (int64_t(1) << 31))
    copy_rows_kernel<W, uint32_t><<<blocks_for(n), kThreads, 0, stream()>>>(
        src, dst, static_cast<uint32_t>(rows), static_cast<uint32_t>(block), static_cast<uint32_t>(src_stride),
        static_cast<uint32_t>(dst_stride));
  else
    copy_rows_kernel<W, int64_t><<<blocks_for(n), kThreads, 0, stream()>>>(src, dst, rows, block, src_stride,
                                                                           dst_stride);
}

// Elements of each piece's block per outer index, and the outer count, for pieces along `axis`.
struct Blocks {
  int64_t outer = 1;
  std::vector<int64_t> piece;   ///< block of piece k (elements)
  std::vector<int64_t> start;   ///< its first column in the whole tensor's block
  int64_t total = 0;            ///< the whole tensor's block
};

Blocks plan(const std::vector<const ir::TensorDesc*>& pieces, int64_t axis_attr) {
  Blocks b;
  const Dims& d = pieces[0]->dims;
  int axis = static_cast<int>(axis_attr < 0 ? axis_attr + d.rank() : axis_attr);
  int64_t inner = 1;
  for (int k = 0; k < axis; ++k) b.outer *= d[k];
  for (int k = axis + 1; k < d.rank(); ++k) inner *= d[k];
  for (const ir::TensorDesc* p : pieces) {
    b.start.push_back(b.total);
    b.piece.push_back(p->dims[axis] * inner);
    b.total += b.piece.back();
  }
  return b;
}

template <class W, bool kConcat>
class ConcatSplitKernel : public Kernel {
 public:
  explicit ConcatSplitKernel(Blocks b) : b_(std::move(b)) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (b_.outer == 0) return;
    for (size_t k = 0; k < b_.piece.size(); ++k) {
      int64_t n = b_.outer * b_.piece[k];
      if (!n) continue;
      if constexpr (kConcat) {
        copy_rows(in[k].as<const W>(), out[0].as<W>() + b_.start[k], b_.outer, b_.piece[k], b_.piece[k], b_.total);
        check_launch("launching concat");
      } else {
        copy_rows(in[0].as<const W>() + b_.start[k], out[k].as<W>(), b_.outer, b_.piece[k], b_.total, b_.piece[k]);
        check_launch("launching split");
      }
    }
  }

 private:
  Blocks b_;
};

template <bool kConcat>
std::unique_ptr<Kernel> make(const KernelSpec& s, const std::vector<const ir::TensorDesc*>& pieces) {
  Blocks b = plan(pieces, ir::attr_int(s.layer, "axis"));
  return dispatch_bytes(element_size(pieces[0]->dtype), [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<ConcatSplitKernel<typename decltype(tag)::type, kConcat>>(b);
  });
}

}  // namespace

std::unique_ptr<Kernel> create_concat(const KernelSpec& s) { return make<true>(s, s.inputs); }

std::unique_ptr<Kernel> create_split(const KernelSpec& s) { return make<false>(s, s.outputs); }

}  // namespace tensorforge::cuda
