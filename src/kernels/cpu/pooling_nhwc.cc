// CPU pooling and adaptive pooling of channels-last float32 2-D layers ([N, H, W, C], layout
// "nhwc", as the channels_last pass makes them between oneDNN's NHWC convolutions), in place: each
// output position reduces its window's pixels channel by channel (a loop over C the compiler
// vectorizes), output positions split over the CPU threads. The window rules are pooling.cc's
// (padding, dilation, count_include_pad, divisor_override; PyTorch's adaptive bins); max keeps NaN.
#include <algorithm>
#include <limits>

#include "ir/layout.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/spatial.h"

namespace tensorforge::cpu {

namespace {

// One window of `taps` pixels (pointers to their C channels) into y[0 .. c).
void reduce_max(const float* const* taps, int64_t n_taps, int64_t c, float* y) {
  std::fill(y, y + c, -std::numeric_limits<float>::infinity());  // a window wholly in the padding
  for (int64_t t = 0; t < n_taps; ++t) {
    const float* x = taps[t];
    for (int64_t j = 0; j < c; ++j) y[j] = (x[j] > y[j] || x[j] != x[j]) ? x[j] : y[j];  // NaN sticks
  }
}

void reduce_mean(const float* const* taps, int64_t n_taps, int64_t c, float divisor, float* y) {
  std::fill(y, y + c, 0.0f);
  if (n_taps == 0) return;  // a window wholly in the padding
  for (int64_t t = 0; t < n_taps; ++t) {
    const float* x = taps[t];
    for (int64_t j = 0; j < c; ++j) y[j] += x[j];
  }
  for (int64_t j = 0; j < c; ++j) y[j] /= divisor;
}

class NhwcPooling : public Kernel {
 public:
  NhwcPooling(const KernelSpec& s, bool adaptive) : adaptive_(adaptive) {
    const Dims& x = s.inputs[0]->dims;
    const Dims& y = s.outputs[0]->dims;
    n_ = x[0], ih_ = x[1], iw_ = x[2], c_ = x[3], oh_ = y[1], ow_ = y[2];
    max_ = ir::attr_string(s.layer, "mode") == "max";
    if (adaptive_) return;
    Spatial3 g;
    spatial_attr(s.layer, "kernel", g.k);
    for (int i = 0; i < 3; ++i) g.stride[i] = g.k[i];
    spatial_attr(s.layer, "stride", g.stride);
    spatial_attr(s.layer, "padding", g.pad);
    spatial_attr(s.layer, "dilation", g.dil);
    g_ = g;
    count_include_pad_ = ir::attr_int(s.layer, "count_include_pad") != 0;
    divisor_override_ = ir::attr_int(s.layer, "divisor_override");
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const float* x = in[0].as<float>();
    float* y = out[0].as<float>();
    parallel_for(n_ * oh_ * ow_, row_grain(c_ * 4), [&](int64_t p0, int64_t p1) {
      std::vector<const float*> taps;
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / (oh_ * ow_), oh = p / ow_ % oh_, ow = p % ow_;
        const float* xn = x + n * ih_ * iw_ * c_;
        float divisor = 1.0f;
        window(xn, oh, ow, taps, divisor);
        if (max_)
          reduce_max(taps.data(), static_cast<int64_t>(taps.size()), c_, y + p * c_);
        else
          reduce_mean(taps.data(), static_cast<int64_t>(taps.size()), c_, divisor, y + p * c_);
      }
    });
  }

 private:
  // The pixels of output (oh, ow)'s window, and an average's divisor.
  void window(const float* xn, int64_t oh, int64_t ow, std::vector<const float*>& taps, float& divisor) const {
    taps.clear();
    if (adaptive_) {  // PyTorch's bins: floor(i * in / out) to ceil((i + 1) * in / out)
      const int64_t h0 = oh * ih_ / oh_, h1 = ((oh + 1) * ih_ + oh_ - 1) / oh_;
      const int64_t w0 = ow * iw_ / ow_, w1 = ((ow + 1) * iw_ + ow_ - 1) / ow_;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) taps.push_back(xn + (h * iw_ + w) * c_);
      divisor = static_cast<float>((h1 - h0) * (w1 - w0));
      return;
    }
    const int64_t hs = oh * g_.stride[1] - g_.pad[1], ws = ow * g_.stride[2] - g_.pad[2];
    for (int64_t kh = 0; kh < g_.k[1]; ++kh) {
      const int64_t h = hs + kh * g_.dil[1];
      if (h < 0 || h >= ih_) continue;
      for (int64_t kw = 0; kw < g_.k[2]; ++kw) {
        const int64_t w = ws + kw * g_.dil[2];
        if (w >= 0 && w < iw_) taps.push_back(xn + (h * iw_ + w) * c_);
      }
    }
    if (max_) return;
    // Average (undilated): the window clipped to the padded input for count_include_pad, to the input otherwise.
    const int64_t ph = std::min(hs + g_.k[1], ih_ + g_.pad[1]) - hs, pw = std::min(ws + g_.k[2], iw_ + g_.pad[2]) - ws;
    const int64_t count = static_cast<int64_t>(taps.size());
    divisor = static_cast<float>(divisor_override_ ? divisor_override_ : count_include_pad_ ? ph * pw : count);
  }

  bool adaptive_, max_ = true, count_include_pad_ = true;
  int64_t n_ = 0, ih_ = 0, iw_ = 0, c_ = 0, oh_ = 0, ow_ = 0, divisor_override_ = 0;
  Spatial3 g_;
};

bool takes(const KernelSpec& s) {
  return ir::is_channels_last(s.layer) && s.inputs[0]->dtype == DataType::kFloat32 && s.inputs[0]->dims.rank() == 4;
}

}  // namespace

std::unique_ptr<Kernel> create_pooling_nhwc(const KernelSpec& s) {
  return takes(s) ? std::make_unique<NhwcPooling>(s, false) : nullptr;
}

std::unique_ptr<Kernel> create_adaptive_pooling_nhwc(const KernelSpec& s) {
  return takes(s) ? std::make_unique<NhwcPooling>(s, true) : nullptr;
}

}  // namespace tensorforge::cpu
