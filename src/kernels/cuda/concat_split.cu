// CUDA concat and split: both see each tensor as [outer, extent along the axis x inner]; one launch
// per piece copies its [outer, block] rows between the piece and its column range of the whole
// tensor (dst[o * dst_stride + j] = src[o * src_stride + j]), as whole elements of the element's
// size, so any dtype works. Empty pieces launch nothing.
#include <vector>

#include "kernels/cuda/concat_split.cuh"
#include "kernels/cuda/copy_views.cuh"

namespace tensorforge::cuda {

namespace {

template <class W>
__global__ void copy_rows_kernel(const W* __restrict__ src, W* __restrict__ dst, int64_t rows, int64_t block,
                                 int64_t src_stride, int64_t dst_stride) {
  int64_t n = rows * block;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = i / block, j = i - o * block;
    dst[o * dst_stride + j] = src[o * src_stride + j];
  }
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
        copy_rows_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[k].as<const W>(), out[0].as<W>() + b_.start[k],
                                                                   b_.outer, b_.piece[k], b_.piece[k], b_.total);
        check_launch("launching concat");
      } else {
        copy_rows_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0].as<const W>() + b_.start[k], out[k].as<W>(),
                                                                   b_.outer, b_.piece[k], b_.total, b_.piece[k]);
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
