// CUDA gather. "take" sees x as [outer, n, inner] and writes out[o, j, c] = x[o, index[j], c]
// (index_select, embedding, x[idx]), each slice x[o, index[j], :] in words of up to 16 bytes; "elements" (torch.gather) writes out[p] = x[p with its axis
// coordinate replaced by index[p]]. Both move whole elements, so any dtype; int32 or int64 indices,
// negative ones counting from the end.
// Out-of-range indices: the CPU kernel raises a runtime error, but a device cannot raise, so on CUDA
// an index outside [-n, n) writes 0 (all-zero bits: 0, 0.0 or false) at that output position.
#include "common/broadcast.h"
#include "kernels/cuda/copy_views.cuh"
#include "kernels/cuda/gather.cuh"

namespace tensorforge::cuda {

namespace {

template <class I>
__device__ __forceinline__ int64_t fix_index(const I* index, int64_t j, int64_t n) {
  int64_t v = static_cast<int64_t>(index[j]);
  if (v < -n || v >= n) return -1;
  return v < 0 ? v + n : v;
}

// N: the index arithmetic's type, uint32_t when the output has fewer than 2^31 elements (a 64-bit
// division per element costs several times a 32-bit one); inner == 1 (a gather along the last axis,
// as rotary embeddings' rotate_half) skips its division.
template <class W, class I, class N>
__global__ void take_kernel(const W* __restrict__ x, const I* __restrict__ index, W* __restrict__ y, N total, N m,
                            int64_t n, N inner) {
  for (N i = blockIdx.x * N(blockDim.x) + threadIdx.x; i < total; i += N(gridDim.x) * blockDim.x) {
    const N r = inner == 1 ? i : i / inner, c = i - r * inner;  // r = o * m + j
    const N o = r / m, j = r - o * m;
    const int64_t v = fix_index(index, static_cast<int64_t>(j), n);
    y[i] = v < 0 ? W{} : x[(static_cast<int64_t>(o) * n + v) * static_cast<int64_t>(inner) + static_cast<int64_t>(c)];
  }
}

struct ElementsPlan {
  int rank = 0;
  int64_t dims[kMaxDims] = {};      // the index's (and output's) shape
  int64_t x_strides[kMaxDims] = {};  // x's contiguous strides, 0 on the axis
  int64_t axis_stride = 1, n = 1;
};

template <class W, class I>
__global__ void elements_kernel(const W* __restrict__ x, const I* __restrict__ index, W* __restrict__ y, int64_t total,
                                ElementsPlan p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off = 0, q = i;
    for (int d = p.rank - 1; d >= 0; --d) {
      int64_t t = q / p.dims[d];
      off += (q - t * p.dims[d]) * p.x_strides[d];
      q = t;
    }
    int64_t v = fix_index(index, i, p.n);
    y[i] = v < 0 ? W(0) : x[off + v * p.axis_stride];
  }
}

// Launches take_kernel moving words of type U (as wide as the slices and pointers allow).
template <class U, class I>
void launch_take(const void* x, const I* index, void* y, int64_t total, int64_t m, int64_t n, int64_t inner) {
  if (total < (int64_t(1) << 31))  // the grid-stride loop's i + stride stays below 2^32
    take_kernel<U, I, uint32_t><<<blocks_for(total), kThreads, 0, stream()>>>(
        static_cast<const U*>(x), index, static_cast<U*>(y), static_cast<uint32_t>(total), static_cast<uint32_t>(m), n,
        static_cast<uint32_t>(inner));
  else
    take_kernel<U, I, int64_t><<<blocks_for(total), kThreads, 0, stream()>>>(static_cast<const U*>(x), index,
                                                                            static_cast<U*>(y), total, m, n, inner);
}

template <class W, class I>
class TakeKernel : public Kernel {
 public:
  TakeKernel(int64_t m, int64_t n, int64_t inner) : m_(m), n_(n), inner_(inner) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    int64_t total = out[0].numel();
    if (!total) return;
    const void* x = in[0].data;
    void* y = out[0].data;
    const I* index = in[1].as<const I>();
    // Each slice x[o, index[j], :] is inner contiguous elements: move it in the widest words (16, 8
    // or 4 bytes) that divide its size and both pointers (an embedding row of 512 float16 values is
    // 64 words of 16 bytes, not 512 of 2).
    const int64_t slice = inner_ * static_cast<int64_t>(sizeof(W));
    const uintptr_t bits = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y) | uintptr_t(slice);
    const int64_t slices = total / inner_;
    if (bits % 16 == 0)
      launch_take<uint4>(x, index, y, slices * (slice / 16), m_, n_, slice / 16);
    else if (bits % 8 == 0 && sizeof(W) < 8)
      launch_take<uint2>(x, index, y, slices * (slice / 8), m_, n_, slice / 8);
    else if (bits % 4 == 0 && sizeof(W) < 4)
      launch_take<uint32_t>(x, index, y, slices * (slice / 4), m_, n_, slice / 4);
    else
      launch_take<W>(x, index, y, total, m_, n_, inner_);
    check_launch("launching gather (take)");
  }

 private:
  int64_t m_, n_, inner_;
};

template <class W, class I>
class ElementsKernel : public Kernel {
 public:
  explicit ElementsKernel(ElementsPlan p) : p_(p) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    int64_t total = out[0].numel();
    if (!total) return;
    elements_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(in[0].as<const W>(), in[1].as<const I>(),
                                                                  out[0].as<W>(), total, p_);
    check_launch("launching gather (elements)");
  }

 private:
  ElementsPlan p_;
};

template <template <class, class> class K, class... A>
std::unique_ptr<Kernel> make(const KernelSpec& s, A... args) {
  bool is64 = s.inputs[1]->dtype == DataType::kInt64;
  return dispatch_bytes(element_size(s.inputs[0]->dtype), [&](auto tag) -> std::unique_ptr<Kernel> {
    using W = typename decltype(tag)::type;
    if (is64) return std::make_unique<K<W, int64_t>>(args...);
    return std::make_unique<K<W, int32_t>>(args...);
  });
}

}  // namespace

std::unique_ptr<Kernel> create_gather(const KernelSpec& s) {
  const Dims& x = s.inputs[0]->dims;
  int64_t a = ir::attr_int(s.layer, "axis");
  int axis = static_cast<int>(a < 0 ? a + x.rank() : a);
  if (ir::attr_string(s.layer, "mode") == "take") {
    int64_t inner = 1;
    for (int k = axis + 1; k < x.rank(); ++k) inner *= x[k];
    int64_t m = s.inputs[1]->dims.volume();
    // m or inner 0 means an empty output (never launched); keep the divisors non-zero anyway.
    return make<TakeKernel>(s, m ? m : 1, x[axis], inner ? inner : 1);
  }
  ElementsPlan p;
  const Dims& idx = s.inputs[1]->dims;
  std::vector<int64_t> cs = contiguous_strides(x);
  p.rank = idx.rank();
  for (int k = 0; k < idx.rank(); ++k) {
    p.dims[k] = idx[k];
    p.x_strides[k] = k == axis ? 0 : cs[k];
  }
  p.axis_stride = cs[axis];
  p.n = x[axis];
  return make<ElementsKernel>(s, p);
}

}  // namespace tensorforge::cuda
