// CUDA reshape (a device-to-device copy on the stream), and transpose, expand and slice as one
// strided-copy kernel whose input strides and offset are worked out at creation (permuted strides,
// 0 on broadcast dims, step-scaled strides from the start), as in the CPU kernels; a transpose that
// interleaves 2-4 planes (an image's NCHW -> NHWC) moves a pixel's elements a thread.
#include <algorithm>
#include <cstdlib>

#include "kernels/cuda/copy_views.cuh"
#include "kernels/view_strides.h"

namespace tensorforge::cuda {

namespace {

// I is the index type: 32-bit arithmetic when every index fits (the division per dim is the cost).
template <class W, class I>
__global__ void strided_copy_kernel(const W* __restrict__ in, W* __restrict__ out, int64_t n, StridedPlan p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    I j = static_cast<I>(i), off = static_cast<I>(p.offset);
    for (int d = p.rank - 1; d >= 0; --d) {
      I q = j / static_cast<I>(p.dims[d]);
      off += (j - q * static_cast<I>(p.dims[d])) * static_cast<I>(p.strides[d]);
      j = q;
    }
    out[i] = in[off];
  }
}

bool fits_32_bits(const StridedPlan& p, int64_t n);

// An interleaving copy (NCHW -> NHWC of an image's few channels: a stem's input): the output's
// innermost dim has C (2-4) elements strided apart in the input, the one before it is contiguous
// there. A thread takes one output pixel: one index split for C elements, C loads each coalesced
// across the warp (neighbouring pixels of a plane), C adjacent stores.
template <class W, int C, class I>
__global__ void interleave_kernel(const W* __restrict__ in, W* __restrict__ out, int64_t pixels, StridedPlan p) {
  const int r = p.rank;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < pixels; i += int64_t(gridDim.x) * blockDim.x) {
    I j = static_cast<I>(i), off = static_cast<I>(p.offset);
    for (int d = r - 2; d >= 0; --d) {
      I q = j / static_cast<I>(p.dims[d]);
      off += (j - q * static_cast<I>(p.dims[d])) * static_cast<I>(p.strides[d]);
      j = q;
    }
    const I step = static_cast<I>(p.strides[r - 1]);
    W v[C];
#pragma unroll
    for (int c = 0; c < C; ++c) v[c] = in[off + c * step];
#pragma unroll
    for (int c = 0; c < C; ++c) out[i * C + c] = v[c];
  }
}

// The channel count when `p` is such a copy (2-4), else 0.
int interleaved_channels(const StridedPlan& p) {
  if (p.rank < 2 || p.strides[p.rank - 2] != 1 || p.strides[p.rank - 1] <= 1) return 0;
  const int64_t c = p.dims[p.rank - 1];
  return c >= 2 && c <= 4 ? static_cast<int>(c) : 0;
}

template <class W, int C>
void launch_interleave(const void* in, void* out, int64_t n, const StridedPlan& p) {
  const int64_t pixels = n / C;
  if (fits_32_bits(p, n))
    interleave_kernel<W, C, uint32_t><<<blocks_for(pixels), kThreads, 0, stream()>>>(static_cast<const W*>(in),
                                                                                    static_cast<W*>(out), pixels, p);
  else
    interleave_kernel<W, C, int64_t><<<blocks_for(pixels), kThreads, 0, stream()>>>(static_cast<const W*>(in),
                                                                                   static_cast<W*>(out), pixels, p);
  check_launch("launching an interleaving copy (NCHW -> NHWC of few channels)");
}

// The plan in units of `factor` elements: valid when the innermost dim is contiguous, its extent,
// every other stride and the offset divide by `factor`.
bool widen(StridedPlan& p, int64_t& n, int64_t factor) {
  if (p.rank == 0 || p.strides[p.rank - 1] != 1 || p.dims[p.rank - 1] % factor || p.offset % factor) return false;
  for (int d = 0; d < p.rank - 1; ++d)
    if (p.strides[d] % factor) return false;
  p.dims[p.rank - 1] /= factor;
  for (int d = 0; d < p.rank - 1; ++d) p.strides[d] /= factor;
  p.offset /= factor;
  n /= factor;
  return true;
}

bool fits_32_bits(const StridedPlan& p, int64_t n) {
  int64_t last = p.offset;
  for (int d = 0; d < p.rank; ++d) last += (p.dims[d] - 1) * std::abs(p.strides[d]);
  return n < (int64_t(1) << 31) && last < (int64_t(1) << 31);
}

template <class W>
void launch_copy(const void* in, void* out, int64_t n, const StridedPlan& p) {
  if (fits_32_bits(p, n))
    strided_copy_kernel<W, uint32_t><<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<const W*>(in),
                                                                               static_cast<W*>(out), n, p);
  else
    strided_copy_kernel<W, int64_t><<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<const W*>(in),
                                                                              static_cast<W*>(out), n, p);
  check_launch("launching a strided copy (transpose/expand/slice)");
}

// Moves whole elements (W: unsigned word of the element's size) or, when the innermost dim is
// contiguous and the pointers are 16-byte aligned, 16 bytes at a time.
template <class W>
class StridedViewKernel : public Kernel {
 public:
  StridedViewKernel(StridedPlan p, int64_t n) : p_(p), wide_(p), n_(n), wide_n_(n) {
    wide_ok_ = sizeof(W) < 16 && widen(wide_, wide_n_, 16 / sizeof(W));
    channels_ = wide_ok_ ? 0 : interleaved_channels(p_);
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (!n_) return;
    if (channels_ == 3) return launch_interleave<W, 3>(in[0].data, out[0].data, n_, p_);
    if (channels_ == 4) return launch_interleave<W, 4>(in[0].data, out[0].data, n_, p_);
    if (channels_ == 2) return launch_interleave<W, 2>(in[0].data, out[0].data, n_, p_);
    bool aligned = reinterpret_cast<uintptr_t>(in[0].data) % 16 == 0 && reinterpret_cast<uintptr_t>(out[0].data) % 16 == 0;
    if (wide_ok_ && aligned)
      launch_copy<uint4>(in[0].data, out[0].data, wide_n_, wide_);
    else
      launch_copy<W>(in[0].data, out[0].data, n_, p_);
  }

 private:
  StridedPlan p_, wide_;
  int64_t n_, wide_n_;
  bool wide_ok_ = false;
  int channels_ = 0;  // an interleaving copy of this many channels (interleave_kernel), or 0
};

std::unique_ptr<Kernel> make(const KernelSpec& s, const std::vector<int64_t>& strides, int64_t offset) {
  const ir::TensorDesc& o = *s.outputs[0];
  StridedPlan p = plan_strided(o.dims, strides, offset);
  return dispatch_bytes(element_size(o.dtype), [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<StridedViewKernel<typename decltype(tag)::type>>(p, o.dims.volume());
  });
}

class ReshapeKernel : public Kernel {
 public:
  explicit ReshapeKernel(size_t bytes) : bytes_(bytes) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (!bytes_ || in[0].data == out[0].data) return;
    check(cudaMemcpyAsync(out[0].data, in[0].data, bytes_, cudaMemcpyDeviceToDevice, stream()), "copying a reshape");
  }

 private:
  size_t bytes_;
};

}  // namespace

std::unique_ptr<Kernel> create_reshape(const KernelSpec& s) {
  const ir::TensorDesc& o = *s.outputs[0];
  return std::make_unique<ReshapeKernel>(static_cast<size_t>(o.dims.volume()) * element_size(o.dtype));
}

std::unique_ptr<Kernel> create_transpose(const KernelSpec& s) {
  ViewStrides v = transpose_strides(s);
  return make(s, v.strides, v.offset);
}

std::unique_ptr<Kernel> create_expand(const KernelSpec& s) {
  ViewStrides v = expand_strides(s);
  return make(s, v.strides, v.offset);
}

std::unique_ptr<Kernel> create_slice(const KernelSpec& s) {
  ViewStrides v = slice_strides(s);
  return make(s, v.strides, v.offset);
}

std::unique_ptr<Kernel> create_as_strided(const KernelSpec& s) {
  ViewStrides v = as_strided_strides(s);
  return make(s, v.strides, v.offset);
}

}  // namespace tensorforge::cuda
