// CUDA resize of the spatial dims with the CPU kernel's rules (src/kernels/cpu/resize.cc): PyTorch's
// legacy 'nearest' (src = floor(dst * scale), with its in == out and out == 2 * in shortcuts) and
// (bi/tri)linear with align_corners or the half-pixel rule. One thread per output element; each
// computes its source indices and weights with the CPU's float32 formulas, every multiply and add
// rounded separately (no fused multiply-add), so indices, weights and results equal the CPU's.
#include <cmath>

#include "kernels/common/spatial_geometry.h"
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

namespace {

struct ResizeGeom {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  float scale[3] = {0, 0, 0};  // nearest / half-pixel: the input/output ratio; align_corners: (in-1)/(out-1)
  int nsp = 1;
  bool align = false;
};

struct Tap {
  int64_t i0, i1;
  float l0, l1;
};

__device__ __forceinline__ Tap nearest_tap(const ResizeGeom& g, int d, int64_t o) {
  const int64_t in = g.in[d], out = g.out[d];
  int64_t i = out == in       ? o
              : out == 2 * in ? o >> 1
                              : min(static_cast<int64_t>(floorf(__fmul_rn(static_cast<float>(o), g.scale[d]))), in - 1);
  return {i, i, 1.0f, 0.0f};
}

__device__ __forceinline__ Tap linear_tap(const ResizeGeom& g, int d, int64_t o) {
  const int64_t in = g.in[d];
  if (in == g.out[d]) return {o, o, 1.0f, 0.0f};
  const float s = g.scale[d], fo = static_cast<float>(o);
  const float src = g.align ? __fmul_rn(s, fo) : fmaxf(__fsub_rn(__fmul_rn(s, __fadd_rn(fo, 0.5f)), 0.5f), 0.0f);
  Tap t;
  t.i0 = min(static_cast<int64_t>(floorf(src)), in - 1);
  t.l1 = fminf(fmaxf(__fsub_rn(src, static_cast<float>(t.i0)), 0.0f), 1.0f);
  t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
  t.l0 = __fsub_rn(1.0f, t.l1);
  return t;
}

/// a * la + b * lb, each product rounded, as the CPU computes it.
__device__ __forceinline__ float blend(float a, float la, float b, float lb) {
  return __fadd_rn(__fmul_rn(a, la), __fmul_rn(b, lb));
}

// I: the index type, 32 bits when every index (plus a grid stride) stays below 2^31.
template <class T, class I>
__global__ void resize_kernel(const T* __restrict__ x, T* __restrict__ y, I total, ResizeGeom g, bool linear) {
  const I iv = I(g.in[0] * g.in[1] * g.in[2]);
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * I(blockDim.x)) {
    I q = i, o[3];
    for (int d = 2; d >= 0; --d) {
      o[d] = q % I(g.out[d]);
      q /= I(g.out[d]);
    }
    const T* xp = x + q * iv;
    if (!linear) {
      const Tap td = nearest_tap(g, 0, o[0]), th = nearest_tap(g, 1, o[1]), tw = nearest_tap(g, 2, o[2]);
      y[i] = xp[(td.i0 * g.in[1] + th.i0) * g.in[2] + tw.i0];
      continue;
    }
    const Tap td = linear_tap(g, 0, o[0]), th = linear_tap(g, 1, o[1]), tw = linear_tap(g, 2, o[2]);
    auto along_w = [&](int64_t d, int64_t h) {
      const T* row = xp + (d * g.in[1] + h) * g.in[2];
      return blend(load(row, tw.i0), tw.l0, load(row, tw.i1), tw.l1);
    };
    auto along_hw = [&](int64_t d) {
      return g.nsp < 2 ? along_w(d, th.i0) : blend(along_w(d, th.i0), th.l0, along_w(d, th.i1), th.l1);
    };
    y[i] = store_as<T>(g.nsp < 3 ? along_hw(td.i0) : blend(along_hw(td.i0), td.l0, along_hw(td.i1), td.l1));
  }
}

template <class T>
class ResizeKernel : public Kernel {
 public:
  ResizeKernel(const ResizeGeom& g, bool linear, bool narrow) : g_(g), linear_(linear), narrow_(narrow) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = out[0].numel();
    if (!total) return;
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    if (narrow_)
      resize_kernel<T, int32_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, int32_t(total), g_, linear_);
    else
      resize_kernel<T, int64_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, total, g_, linear_);
    check_launch("launching resize");
  }

 private:
  ResizeGeom g_;
  bool linear_, narrow_;
};

}  // namespace

std::unique_ptr<Kernel> create_resize(const KernelSpec& s) {
  ResizeGeom g;
  const Dims& x = s.inputs[0]->dims;
  g.nsp = x.rank() - 2;
  spatial_extents(x, g.in);
  spatial_extents(s.outputs[0]->dims, g.out);
  const bool linear = ir::attr_string(s.layer, "mode") == "linear";
  g.align = linear && ir::attr_int(s.layer, "align_corners") != 0;
  const auto& scales = ir::attr_floats(s.layer, "scales");
  for (int i = 0; i < 3; ++i) {
    const int sp = i - (3 - g.nsp);  // index into the spatial attributes, < 0 for a padded unit dim
    const double scale = sp >= 0 && !scales.empty() ? scales[sp] : 0.0;
    const int64_t in = g.in[i], out = g.out[i];
    if (g.align)
      g.scale[i] = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
    else  // PyTorch's compute_scales_value: the given ratio, else in / out
      g.scale[i] = scale > 0 ? static_cast<float>(scale) : static_cast<float>(in) / static_cast<float>(out);
  }
  const int64_t limit = int64_t(1) << 30;
  const bool narrow = x.volume() < limit && s.outputs[0]->dims.volume() < limit;
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>)
      return std::make_unique<ResizeKernel<T>>(g, linear, narrow);
    else
      return nullptr;  // inference admits floating-point inputs only
  });
}

}  // namespace tensorforge::cuda
