// CUDA softmax / log-softmax along one axis, in float32 with the row maximum subtracted (NaN
// propagates as on the CPU): three passes over each row (max, sum of exponentials, write). The input
// is seen as outer x extent x inner: for inner == 1 one block per row (coalesced, block reductions),
// otherwise one thread per (outer, inner) column looping over the axis (coalesced across threads).
#include "kernels/common/axis_view.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/cuda/softmax.cuh"

namespace tensorforge::cuda {

namespace {

template <class T>
__global__ void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = MaxNanOp{}(mx, load(xr, j));
    mx = block_reduce(mx, MaxNanOp{}, -INFINITY);
    float sum = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) sum += expf(load(xr, j) - mx);
    sum = block_reduce(sum, SumOp{}, 0.0f);
    if (log) {
      const float shift = mx + logf(sum);
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = store_as<T>(load(xr, j) - shift);
    } else {
      const float inv = 1.0f / sum;
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = store_as<T>(expf(load(xr, j) - mx) * inv);
    }
  }
}

template <class T>
__global__ void softmax_columns(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  const int64_t total = outer * inner;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < total; c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = c / inner, base = o * n * inner + (c - o * inner);
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      float v = load(x, base + j * inner);
      mx = MaxNanOp{}(mx, v);
      if (v != v) break;
    }
    float sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += expf(load(x, base + j * inner) - mx);
    if (log) {
      const float shift = mx + logf(sum);
      for (int64_t j = 0; j < n; ++j) y[base + j * inner] = store_as<T>(load(x, base + j * inner) - shift);
    } else {
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < n; ++j) y[base + j * inner] = store_as<T>(expf(load(x, base + j * inner) - mx) * inv);
    }
  }
}

template <class T>
class SoftmaxKernel : public Kernel {
 public:
  explicit SoftmaxKernel(const KernelSpec& s)
      : v_(axis_view(s.inputs[0]->dims, norm_axis(ir::attr_int(s.layer, "axis"), s.inputs[0]->dims.rank()))),
        log_(ir::attr_int(s.layer, "log") != 0) {}

  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (v_.outer * v_.extent * v_.inner == 0) return;
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    if (v_.inner == 1) {
      softmax_rows<<<row_blocks(v_.outer), row_threads(v_.extent), 0, stream()>>>(x, y, v_.outer, v_.extent, log_);
      check_launch("launching softmax_rows");
    } else {
      softmax_columns<<<blocks_for(v_.outer * v_.inner), kThreads, 0, stream()>>>(x, y, v_.outer, v_.extent, v_.inner,
                                                                                 log_);
      check_launch("launching softmax_columns");
    }
  }

 private:
  AxisView v_;
  bool log_;
};

}  // namespace

std::unique_ptr<Kernel> create_softmax(const KernelSpec& s) {
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>)
      return std::make_unique<SoftmaxKernel<T>>(s);
    else
      return nullptr;
  });
}

}  // namespace tensorforge::cuda
