// CPU max and average pooling over 1-3 spatial dims with PyTorch's window rules: padding, dilation
// (max), ceil_mode (sizes fixed by inference), count_include_pad and divisor_override (avg). Max
// propagates NaN like PyTorch. Accumulates in float32 whatever the storage type. Max pooling also
// takes int8 (compared exactly in float32).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/spatial.h"

namespace tensorforge::cpu {

namespace {

// A pooled value in storage type T; for int8 (max pooling), a window wholly in the padding (-inf)
// gives the lowest value.
template <class T>
T pooled(float v) {
  if constexpr (std::is_same_v<T, int8_t>)
    return static_cast<int8_t>(v < -128.0f ? -128.0f : v);
  else
    return store_as<T>(v);
}

// y[p, o] = f(plane p of x, o) for every output position o of every plane p (batch x channel),
// planes split over the CPU threads.
template <class T, class F>
void each_output(const TensorView* in, const TensorView* out, int64_t planes, const Spatial3& g, F f) {
  const int64_t iv = g.in_volume(), ov = g.out_volume();
  parallel_for(planes, row_grain(iv), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* x = in[0].as<T>() + p * iv;
      T* y = out[0].as<T>() + p * ov;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            const int64_t o[3] = {od, oh, ow};
            *y++ = pooled<T>(f(x, o));
          }
    }
  });
}

template <class T>
class PoolingKernel : public Kernel {
 public:
  explicit PoolingKernel(const KernelSpec& s) {
    const Dims& x = s.inputs[0]->dims;
    planes_ = x[0] * x[1];
    spatial_extents(x, g_.in);
    spatial_extents(s.outputs[0]->dims, g_.out);
    spatial_attr(s.layer, "kernel", g_.k);
    for (int i = 0; i < 3; ++i) g_.stride[i] = g_.k[i];
    spatial_attr(s.layer, "stride", g_.stride);
    spatial_attr(s.layer, "padding", g_.pad);
    spatial_attr(s.layer, "dilation", g_.dil);
    max_ = ir::attr_string(s.layer, "mode") == "max";
    count_include_pad_ = ir::attr_int(s.layer, "count_include_pad") != 0;
    divisor_override_ = ir::attr_int(s.layer, "divisor_override");
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (max_ && g_.in[0] == 1 && g_.k[0] == 1 && g_.pad[0] == 0 && g_.dil[1] == 1 && g_.dil[2] == 1) {
      planar_max(in[0].as<T>(), out[0].as<T>());
      return;
    }
    each_output<T>(in, out, planes_, g_,
                   [&](const T* x, const int64_t o[3]) { return max_ ? window_max(x, o) : window_avg(x, o); });
  }

 private:
  // a, or b when b is larger or NaN: a NaN stays once met, as in window_max.
  static float max_nan(float a, float b) { return (b > a || b != b) ? b : a; }

  // Undilated 2-D max pooling (a ResNet stem's 3x3/2): for each output row the window's input rows
  // are first combined column by column (a loop the compiler vectorizes), then each output takes
  // the maximum of its window's columns of that row: about a third of window_max's loads, and no
  // bounds checks per tap.
  void planar_max(const T* x, T* y) const {
    const int64_t ih_n = g_.in[1], iw_n = g_.in[2], oh_n = g_.out[1], ow_n = g_.out[2];
    parallel_for(planes_, row_grain(ih_n * iw_n), [&](int64_t p0, int64_t p1) {
      std::vector<float> column(static_cast<size_t>(iw_n));
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = x + p * ih_n * iw_n;
        T* yp = y + p * oh_n * ow_n;
        for (int64_t oh = 0; oh < oh_n; ++oh) {
          const int64_t start = oh * g_.stride[1] - g_.pad[1];
          const int64_t lo = std::max<int64_t>(start, 0), hi = std::min(start + g_.k[1], ih_n);
          float* c = column.data();
          if (lo >= hi) {  // a window wholly in the padding (ceil_mode): -inf, as window_max gives
            const T neg_inf = pooled<T>(-std::numeric_limits<float>::infinity());
            for (int64_t ow = 0; ow < ow_n; ++ow) yp[oh * ow_n + ow] = neg_inf;
            continue;
          }
          const T* r = xp + lo * iw_n;
          for (int64_t iw = 0; iw < iw_n; ++iw) c[iw] = load(r, iw);
          for (int64_t ih = lo + 1; ih < hi; ++ih) {
            r = xp + ih * iw_n;
            for (int64_t iw = 0; iw < iw_n; ++iw) c[iw] = max_nan(c[iw], load(r, iw));
          }
          for (int64_t ow = 0; ow < ow_n; ++ow) {
            const int64_t w0 = ow * g_.stride[2] - g_.pad[2];
            const int64_t a = std::max<int64_t>(w0, 0), b = std::min(w0 + g_.k[2], iw_n);
            float m = -std::numeric_limits<float>::infinity();
            for (int64_t iw = a; iw < b; ++iw) m = max_nan(m, c[iw]);
            yp[oh * ow_n + ow] = pooled<T>(m);
          }
        }
      }
    });
  }

  float window_max(const T* x, const int64_t o[3]) const {
    if (g_.dil[0] == 1 && g_.dil[1] == 1 && g_.dil[2] == 1) return dense_window_max(x, o);
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t kd = 0; kd < g_.k[0]; ++kd) {
      const int64_t id = o[0] * g_.stride[0] - g_.pad[0] + kd * g_.dil[0];
      if (id < 0 || id >= g_.in[0]) continue;
      for (int64_t kh = 0; kh < g_.k[1]; ++kh) {
        const int64_t ih = o[1] * g_.stride[1] - g_.pad[1] + kh * g_.dil[1];
        if (ih < 0 || ih >= g_.in[1]) continue;
        const int64_t row = (id * g_.in[1] + ih) * g_.in[2];
        for (int64_t kw = 0; kw < g_.k[2]; ++kw) {
          const int64_t iw = o[2] * g_.stride[2] - g_.pad[2] + kw * g_.dil[2];
          if (iw < 0 || iw >= g_.in[2]) continue;
          const float v = load(x, row + iw);
          if (v > m || std::isnan(v)) m = v;
        }
      }
    }
    return m;
  }

  // Undilated windows: the part inside the input is a box, so the taps run without bounds checks.
  float dense_window_max(const T* x, const int64_t o[3]) const {
    int64_t lo[3], hi[3];
    for (int i = 0; i < 3; ++i) {
      const int64_t start = o[i] * g_.stride[i] - g_.pad[i];
      lo[i] = std::max<int64_t>(start, 0);
      hi[i] = std::min(start + g_.k[i], g_.in[i]);
    }
    float m = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (int64_t id = lo[0]; id < hi[0]; ++id)
      for (int64_t ih = lo[1]; ih < hi[1]; ++ih) {
        const T* row = x + (id * g_.in[1] + ih) * g_.in[2];
        for (int64_t iw = lo[2]; iw < hi[2]; ++iw) {
          const float v = load(row, iw);
          nan |= v != v;
          m = v > m ? v : m;
        }
      }
    return nan ? std::numeric_limits<float>::quiet_NaN() : m;
  }

  float window_avg(const T* x, const int64_t o[3]) const {
    int64_t lo[3], hi[3], pool_size = 1, count = 1;
    for (int i = 0; i < 3; ++i) {
      lo[i] = o[i] * g_.stride[i] - g_.pad[i];
      hi[i] = std::min(lo[i] + g_.k[i], g_.in[i] + g_.pad[i]);
      pool_size *= hi[i] - lo[i];
      lo[i] = std::max<int64_t>(lo[i], 0);
      hi[i] = std::min(hi[i], g_.in[i]);
      if (lo[i] >= hi[i]) return 0.0f;
      count *= hi[i] - lo[i];
    }
    float sum = 0.0f;
    for (int64_t id = lo[0]; id < hi[0]; ++id)
      for (int64_t ih = lo[1]; ih < hi[1]; ++ih) {
        const int64_t row = (id * g_.in[1] + ih) * g_.in[2];
        for (int64_t iw = lo[2]; iw < hi[2]; ++iw) sum += load(x, row + iw);
      }
    const int64_t div = divisor_override_ ? divisor_override_ : count_include_pad_ ? pool_size : count;
    return sum / static_cast<float>(div);
  }

  Spatial3 g_;
  int64_t planes_ = 0, divisor_override_ = 0;
  bool max_ = true, count_include_pad_ = true;
};

template <class T>
class AdaptivePoolingKernel : public Kernel {
 public:
  explicit AdaptivePoolingKernel(const KernelSpec& s) {
    const Dims& x = s.inputs[0]->dims;
    planes_ = x[0] * x[1];
    spatial_extents(x, g_.in);
    spatial_extents(s.outputs[0]->dims, g_.out);
    max_ = ir::attr_string(s.layer, "mode") == "max";
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    each_output<T>(in, out, planes_, g_, [&](const T* x, const int64_t o[3]) { return bin(x, o); });
  }

 private:
  // PyTorch's bins: floor(i * in / out) to ceil((i + 1) * in / out) along each dim.
  float bin(const T* x, const int64_t o[3]) const {
    int64_t lo[3], hi[3];
    for (int i = 0; i < 3; ++i) {
      lo[i] = o[i] * g_.in[i] / g_.out[i];
      hi[i] = ((o[i] + 1) * g_.in[i] + g_.out[i] - 1) / g_.out[i];
    }
    float acc = max_ ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (int64_t id = lo[0]; id < hi[0]; ++id)
      for (int64_t ih = lo[1]; ih < hi[1]; ++ih) {
        const int64_t row = (id * g_.in[1] + ih) * g_.in[2];
        for (int64_t iw = lo[2]; iw < hi[2]; ++iw) {
          const float v = load(x, row + iw);
          if (!max_)
            acc += v;
          else if (v > acc || std::isnan(v))
            acc = v;
        }
      }
    if (!max_) acc /= static_cast<float>((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]));
    return acc;
  }

  Spatial3 g_;
  int64_t planes_ = 0;
  bool max_ = false;
};

}  // namespace

std::unique_ptr<Kernel> create_pooling(const KernelSpec& s) {
  if (s.inputs[0]->dtype == DataType::kInt8)  // max only (inference refuses int8 averages)
    return std::make_unique<PoolingKernel<int8_t>>(s);
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<PoolingKernel<typename decltype(tag)::type>>(s);
  });
}

std::unique_ptr<Kernel> create_adaptive_pooling(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<AdaptivePoolingKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
