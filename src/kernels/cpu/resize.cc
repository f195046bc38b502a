// CPU resize of the spatial dims: PyTorch's legacy 'nearest' (src = floor(dst * scale)) and
// (bi/tri)linear with align_corners or the half-pixel rule, index and weight tables computed once
// per dim with PyTorch's float32 formulas (including its in == out and out == 2 * in shortcuts).
#include <algorithm>
#include <cmath>

#include "kernels/cpu/spatial.h"

namespace tensorforge::cpu {

namespace {

// Source indices and weights of one output index along one dim.
struct Tap {
  int64_t i0 = 0, i1 = 0;
  float l0 = 1.0f, l1 = 0.0f;
};

// PyTorch's compute_scales_value: the given input/output ratio, else in / out.
float scale_value(double scale, int64_t in, int64_t out) {
  return scale > 0 ? static_cast<float>(scale) : static_cast<float>(in) / static_cast<float>(out);
}

std::vector<Tap> nearest_taps(int64_t in, int64_t out, double scale) {
  std::vector<Tap> taps(out);
  const float s = scale_value(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i = out == in ? o : out == 2 * in ? o >> 1 : std::min(static_cast<int64_t>(std::floor(o * s)), in - 1);
    taps[o].i0 = taps[o].i1 = i;
  }
  return taps;
}

std::vector<Tap> linear_taps(int64_t in, int64_t out, double scale, bool align_corners) {
  std::vector<Tap> taps(out);
  float s = align_corners ? (out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f)
                          : scale_value(scale, in, out);
  for (int64_t o = 0; o < out; ++o) {
    Tap& t = taps[o];
    if (in == out) {
      t.i0 = t.i1 = o;
      continue;
    }
    float src = align_corners ? s * static_cast<float>(o) : std::max(s * (static_cast<float>(o) + 0.5f) - 0.5f, 0.0f);
    t.i0 = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
    t.l1 = std::min(std::max(src - static_cast<float>(t.i0), 0.0f), 1.0f);
    t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
    t.l0 = 1.0f - t.l1;
  }
  return taps;
}

template <class T>
class ResizeKernel : public Kernel {
 public:
  explicit ResizeKernel(const KernelSpec& s) {
    const Dims& x = s.inputs[0]->dims;
    planes_ = x[0] * x[1];
    nsp_ = x.rank() - 2;
    spatial_extents(x, g_.in);
    spatial_extents(s.outputs[0]->dims, g_.out);
    linear_ = ir::attr_string(s.layer, "mode") == "linear";
    const bool align = ir::attr_int(s.layer, "align_corners") != 0;
    const auto& scales = ir::attr_floats(s.layer, "scales");
    for (int i = 0; i < 3; ++i) {
      const int sp = i - (3 - nsp_);  // index into the spatial attributes, < 0 for a padded unit dim
      const double scale = sp >= 0 && !scales.empty() ? scales[sp] : 0.0;
      taps_[i] = linear_ ? linear_taps(g_.in[i], g_.out[i], scale, align) : nearest_taps(g_.in[i], g_.out[i], scale);
    }
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t iv = g_.in_volume(), ov = g_.out_volume();
    for (int64_t p = 0; p < planes_; ++p) {
      const T* x = in[0].as<T>() + p * iv;
      T* y = out[0].as<T>() + p * ov;
      for (const Tap& td : taps_[0])
        for (const Tap& th : taps_[1])
          for (const Tap& tw : taps_[2]) {
            if (!linear_) {
              *y++ = x[(td.i0 * g_.in[1] + th.i0) * g_.in[2] + tw.i0];
              continue;
            }
            auto along_w = [&](int64_t d, int64_t h) {
              const int64_t row = (d * g_.in[1] + h) * g_.in[2];
              return static_cast<float>(load(x, row + tw.i0)) * tw.l0 + static_cast<float>(load(x, row + tw.i1)) * tw.l1;
            };
            auto along_hw = [&](int64_t d) {
              return nsp_ < 2 ? along_w(d, th.i0) : along_w(d, th.i0) * th.l0 + along_w(d, th.i1) * th.l1;
            };
            const float v = nsp_ < 3 ? along_hw(td.i0) : along_hw(td.i0) * td.l0 + along_hw(td.i1) * td.l1;
            *y++ = store_as<T>(v);
          }
    }
  }

 private:
  Spatial3 g_;
  int64_t planes_ = 0;
  int nsp_ = 1;
  bool linear_ = false;
  std::vector<Tap> taps_[3];
};

}  // namespace

std::unique_ptr<Kernel> create_resize(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<ResizeKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
