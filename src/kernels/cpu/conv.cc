// CPU convolution (1-D to 3-D, strides, symmetric padding, dilation, groups, optional bias, optional
// residual added after the bias, optional activation after both: relu, silu, hardswish or relu6): im2col
// into the workspace (channels split over the CPU threads), then one sgemm per batch item and group; a
// 1x1 stride-1 unpadded convolution multiplies the input directly. float16/bfloat16 are staged as
// float32 in the workspace.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/spatial.h"
#include "kernels/layer_attrs.h"

namespace tensorforge::cpu {

namespace {

// Unfolds `channels` channels of x into col[(c, kd, kh, kw)][out position], zero outside the input.
void im2col(const float* x, int64_t channels, const Spatial3& g, float* col) {
  const int64_t ov = g.out_volume(), iv = g.in_volume();
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * iv;
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw) {
          float* row = col + (((c * g.k[0] + kd) * g.k[1] + kh) * g.k[2] + kw) * ov;
          const int64_t iw0 = kw * g.dil[2] - g.pad[2];
          for (int64_t od = 0; od < g.out[0]; ++od) {
            const int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
            for (int64_t oh = 0; oh < g.out[1]; ++oh, row += g.out[2]) {
              const int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dil[1];
              if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
                std::memset(row, 0, sizeof(float) * g.out[2]);
                continue;
              }
              const float* xr = xc + (id * g.in[1] + ih) * g.in[2];
              if (g.stride[2] == 1) {
                int64_t lo = std::min(std::max<int64_t>(0, -iw0), g.out[2]);
                int64_t hi = std::max(lo, std::min(g.out[2], g.in[2] - iw0));
                std::memset(row, 0, sizeof(float) * lo);
                std::memcpy(row + lo, xr + lo + iw0, sizeof(float) * (hi - lo));
                std::memset(row + hi, 0, sizeof(float) * (g.out[2] - hi));
              } else {
                for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                  const int64_t iw = ow * g.stride[2] + iw0;
                  row[ow] = iw >= 0 && iw < g.in[2] ? xr[iw] : 0.0f;
                }
              }
            }
          }
        }
  }
}

template <class T>
class ConvKernel : public Kernel {
 public:
  explicit ConvKernel(const KernelSpec& s) {
    const Dims& x = s.inputs[0]->dims;
    const Dims& w = s.inputs[1]->dims;
    g_ = conv_geometry(s);
    batch_ = x[0];
    groups_ = ir::attr_int(s.layer, "groups");
    cin_g_ = x[1] / groups_;
    cout_g_ = w[0] / groups_;
    has_bias_ = s.inputs.size() > 2 && s.inputs[2] != nullptr;
    has_residual_ = s.inputs.size() > 3 && s.inputs[3] != nullptr;
    act_ = conv_activation(s);
    direct_ = g_.k_volume() == 1;
    for (int i = 0; i < 3; ++i) direct_ = direct_ && g_.stride[i] == 1 && g_.pad[i] == 0;
    col_ = direct_ ? 0 : cin_g_ * g_.k_volume() * g_.out_volume();
  }

  size_t workspace_size() const override {
    return align64(sizeof(float) * col_) +
           FloatStaging<T>::workspace_size(groups_ * cin_g_ * g_.in_volume(), groups_ * cout_g_ * cin_g_ * g_.k_volume(),
                                           groups_ * cout_g_ * g_.out_volume());
  }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const int64_t iv = g_.in_volume(), ov = g_.out_volume();
    const int64_t cin = groups_ * cin_g_, cout = groups_ * cout_g_, kdim = cin_g_ * g_.k_volume();
    FloatCarver ws(workspace);
    float* col = ws.take(col_);
    const FloatStaging<T> st(ws, in, out, cin * iv, cout * kdim, cout * ov);
    const T* bias = has_bias_ ? in[2].as<T>() : nullptr;
    const T* residual = has_residual_ ? in[3].as<T>() : nullptr;
    for (int64_t n = 0; n < batch_; ++n) {
      const float* xn = st.input(n);
      float* yn = st.output(n);
      for (int64_t g = 0; g < groups_; ++g) {
        const float* xg = xn + g * cin_g_ * iv;
        if (!direct_)  // channels split over the CPU threads
          parallel_for(cin_g_, row_grain(g_.k_volume() * ov), [&](int64_t c0, int64_t c1) {
            im2col(xg + c0 * iv, c1 - c0, g_, col + c0 * g_.k_volume() * ov);
          });
        sgemm(false, false, cout_g_, ov, kdim, 1.0f, st.weight() + g * cout_g_ * kdim, kdim, direct_ ? xg : col, ov,
              0.0f, yn + g * cout_g_ * ov, ov);
      }
      // Bias, residual and activation channel by channel while the channel is in cache, each a
      // plain loop the compiler vectorizes; channels split over the CPU threads.
      if (bias || residual || act_ != ConvActivation::kNone)
        parallel_for(cout, row_grain(ov), [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c) {
            float* yc = yn + c * ov;
            if (bias) {
              const float b = load(bias, c);
              for (int64_t i = 0; i < ov; ++i) yc[i] += b;
            }
            if (residual) {
              const T* r = residual + (n * cout + c) * ov;
              for (int64_t i = 0; i < ov; ++i) yc[i] += load(r, i);
            }
            activate_all(yc, ov);
          }
        });
      st.store_output(n);
    }
  }

 private:
  void activate_all(float* y, int64_t n) const {
    switch (act_) {
      case ConvActivation::kNone: break;
      case ConvActivation::kRelu:
        for (int64_t i = 0; i < n; ++i) y[i] = conv_activate(ConvActivation::kRelu, y[i]);
        break;
      case ConvActivation::kSilu:
        for (int64_t i = 0; i < n; ++i) y[i] = conv_activate(ConvActivation::kSilu, y[i]);
        break;
      case ConvActivation::kHardswish:
        for (int64_t i = 0; i < n; ++i) y[i] = conv_activate(ConvActivation::kHardswish, y[i]);
        break;
      case ConvActivation::kRelu6:
        for (int64_t i = 0; i < n; ++i) y[i] = conv_activate(ConvActivation::kRelu6, y[i]);
        break;
    }
  }

  Spatial3 g_;
  int64_t batch_ = 0, groups_ = 1, cin_g_ = 0, cout_g_ = 0, col_ = 0;
  bool has_bias_ = false, has_residual_ = false, direct_ = false;
  ConvActivation act_ = ConvActivation::kNone;
};

}  // namespace

std::unique_ptr<Kernel> create_convolution(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<ConvKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
