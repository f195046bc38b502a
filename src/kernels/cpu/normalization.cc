// CPU batch_norm (inference form), layer_norm, group_norm and rms_norm. Statistics are two-pass (mean,
// then mean of squared deviations) with double accumulators over float32 values, never E[x²] - E[x]²;
// float16/bfloat16 are loaded as float and rounded once on store.
#include "kernels/layer_attrs.h"
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/common/axis_view.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_math.h"

namespace tensorforge::cpu {

namespace {

/// Optional parameter input `slot` (weight, bias): element i, or `fallback` when the layer has none.
/// Presence is decided at build time from the spec (the slot may be absent, past the given inputs, or -1).
struct OptionalParam {
  OptionalParam(const KernelSpec& s, int slot, float fallback)
      : slot(slot), present(slot >= 0 && slot < static_cast<int>(s.inputs.size()) && s.inputs[slot]), fallback(fallback) {}
  template <class T>
  float get(const TensorView* in, int64_t i) const {
    return present ? static_cast<float>(load(in[slot].as<T>(), i)) : fallback;
  }
  int slot;
  bool present;
  float fallback;
};

/// Mean and 1/sqrt(variance + eps) of x[0 .. n) (two passes); n > 0.
template <class T>
void mean_rstd(const T* x, int64_t n, double eps, float& mean, float& rstd) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += load(x, j);
  const float m = static_cast<float>(s / n);
  double q = 0;
  for (int64_t j = 0; j < n; ++j) {
    double d = static_cast<float>(load(x, j)) - m;
    q += d * d;
  }
  mean = m;
  rstd = static_cast<float>(1.0 / std::sqrt(q / n + eps));
}

template <class T>
class BatchNormKernel : public Kernel {
 public:
  explicit BatchNormKernel(const KernelSpec& s)
      : v_(axis_view(s.inputs[0]->dims, 1)), eps_(ir::attr_float(s.layer, "eps")), w_(s, 3, 1.0f), b_(s, 4, 0.0f) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    for (int64_t c = 0; c < v_.extent; ++c) {
      const float mean = load(in[1].as<T>(), c), var = load(in[2].as<T>(), c);
      const float scale = static_cast<float>(w_.get<T>(in, c) / std::sqrt(static_cast<double>(var) + eps_));
      const float shift = b_.get<T>(in, c);
      for (int64_t o = 0; o < v_.outer; ++o) {
        const int64_t base = v_.offset(o, c, 0);
        for (int64_t i = 0; i < v_.inner; ++i)
          y[base + i] = store_as<T>((load(x, base + i) - mean) * scale + shift);
      }
    }
  }

 private:
  AxisView v_;
  double eps_;
  OptionalParam w_, b_;
};

/// layer_norm and rms_norm: each of `outer` rows of `inner` elements normalized, weight/bias per element.
template <class T>
class RowNormKernel : public Kernel {
 public:
  RowNormKernel(const KernelSpec& s, bool rms, double eps)
      : v_(split_view(s.inputs[0]->dims,
                      s.inputs[0]->dims.rank() - static_cast<int>(ir::attr_int(s.layer, "normalized_rank")))),
        rms_(rms),
        eps_(eps),
        w_(s, 1, 1.0f),
        b_(s, rms ? -1 : 2, 0.0f) {}  // rms_norm has no bias
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t n = v_.inner;
    if (n == 0) return;
    parallel_for(v_.outer, row_grain(n), [&](int64_t o0, int64_t o1) { rows(in, out, o0, o1); });
  }

 private:
  void rows(const TensorView* in, const TensorView* out, int64_t o0, int64_t o1) const {
    const int64_t n = v_.inner;
    if constexpr (std::is_same_v<T, float>) {  // the vectorized loops
      const float* w = w_.present ? in[w_.slot].as<float>() : nullptr;
      const float* b = b_.present ? in[b_.slot].as<float>() : nullptr;
      for (int64_t o = o0; o < o1; ++o) {
        const float* x = in[0].as<float>() + o * n;
        float mean, rstd;
        row_moments(x, n, eps_, rms_, mean, rstd);
        normalize_row(x, out[0].as<float>() + o * n, n, mean, rstd, w, b);
      }
      return;
    }
    for (int64_t o = o0; o < o1; ++o) {
      const T* x = in[0].as<T>() + o * n;
      T* y = out[0].as<T>() + o * n;
      float mean = 0, rstd;
      if (rms_) {
        double q = 0;
        for (int64_t j = 0; j < n; ++j) {
          double v = load(x, j);
          q += v * v;
        }
        rstd = static_cast<float>(1.0 / std::sqrt(q / n + eps_));
      } else {
        mean_rstd(x, n, eps_, mean, rstd);
      }
      for (int64_t j = 0; j < n; ++j)
        y[j] = store_as<T>((load(x, j) - mean) * rstd * w_.get<T>(in, j) + b_.get<T>(in, j));
    }
  }

  AxisView v_;
  bool rms_;
  double eps_;
  OptionalParam w_, b_;
};

template <class T>
class GroupNormKernel : public Kernel {
 public:
  explicit GroupNormKernel(const KernelSpec& s) : eps_(ir::attr_float(s.layer, "eps")), w_(s, 1, 1.0f), b_(s, 2, 0.0f) {
    const Dims& d = s.inputs[0]->dims;
    AxisView v = axis_view(d, 1);
    groups_ = ir::attr_int(s.layer, "num_groups");
    batch_ = v.outer;
    channels_ = d[1];
    spatial_ = v.inner;
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t cpg = channels_ / groups_, block = cpg * spatial_;
    if (block == 0) return;
    for (int64_t ng = 0; ng < batch_ * groups_; ++ng) {
      const T* x = in[0].as<T>() + ng * block;
      T* y = out[0].as<T>() + ng * block;
      float mean, rstd;
      mean_rstd(x, block, eps_, mean, rstd);
      for (int64_t cl = 0; cl < cpg; ++cl) {
        const int64_t c = (ng % groups_) * cpg + cl;
        const float scale = rstd * w_.get<T>(in, c), shift = b_.get<T>(in, c);
        for (int64_t i = cl * spatial_; i < (cl + 1) * spatial_; ++i) y[i] = store_as<T>((load(x, i) - mean) * scale + shift);
      }
    }
  }

 private:
  double eps_;
  OptionalParam w_, b_;
  int64_t groups_, batch_, channels_, spatial_;
};

template <template <class> class K, class... Args>
std::unique_ptr<Kernel> make_floating(const KernelSpec& s, Args... args) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<K<typename decltype(tag)::type>>(s, args...);
  });
}

}  // namespace

std::unique_ptr<Kernel> create_batch_norm(const KernelSpec& s) { return make_floating<BatchNormKernel>(s); }
std::unique_ptr<Kernel> create_layer_norm(const KernelSpec& s) {
  return make_floating<RowNormKernel>(s, false, ir::attr_float(s.layer, "eps"));
}
std::unique_ptr<Kernel> create_group_norm(const KernelSpec& s) { return make_floating<GroupNormKernel>(s); }
std::unique_ptr<Kernel> create_rms_norm(const KernelSpec& s) { return make_floating<RowNormKernel>(s, true, rms_eps(s)); }

}  // namespace tensorforge::cpu
