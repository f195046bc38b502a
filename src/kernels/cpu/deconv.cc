// CPU transposed convolution (weight [Cin, Cout/groups, *k]): per batch item and group one sgemm
// W^T x gives a column matrix [(c, kd, kh, kw)][input position] that col2im scatter-adds into the
// output (initialized with the bias). float16/bfloat16 are staged as float32 in the workspace.
#include <type_traits>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/spatial.h"

namespace tensorforge::cpu {

namespace {

// Adds col[(c, kd, kh, kw)][input position] into y at output position i * stride - pad + k * dilation.
void col2im_add(const float* col, int64_t channels, const Spatial3& g, float* y) {
  const int64_t ov = g.out_volume(), iv = g.in_volume();
  for (int64_t c = 0; c < channels; ++c) {
    float* yc = y + c * ov;
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw) {
          const float* row = col + (((c * g.k[0] + kd) * g.k[1] + kh) * g.k[2] + kw) * iv;
          const int64_t ow0 = kw * g.dil[2] - g.pad[2];
          for (int64_t id = 0; id < g.in[0]; ++id) {
            const int64_t od = id * g.stride[0] - g.pad[0] + kd * g.dil[0];
            for (int64_t ih = 0; ih < g.in[1]; ++ih, row += g.in[2]) {
              const int64_t oh = ih * g.stride[1] - g.pad[1] + kh * g.dil[1];
              if (od < 0 || od >= g.out[0] || oh < 0 || oh >= g.out[1]) continue;
              float* yr = yc + (od * g.out[1] + oh) * g.out[2];
              for (int64_t iw = 0; iw < g.in[2]; ++iw) {
                const int64_t ow = iw * g.stride[2] + ow0;
                if (ow >= 0 && ow < g.out[2]) yr[ow] += row[iw];
              }
            }
          }
        }
  }
}

template <class T>
class DeconvKernel : public Kernel {
 public:
  explicit DeconvKernel(const KernelSpec& s) {
    const Dims& x = s.inputs[0]->dims;
    const Dims& w = s.inputs[1]->dims;
    g_ = conv_geometry(s);
    batch_ = x[0];
    groups_ = ir::attr_int(s.layer, "groups");
    cin_g_ = x[1] / groups_;
    cout_g_ = w[1];
    has_bias_ = s.inputs.size() > 2 && s.inputs[2] != nullptr;
  }

  size_t workspace_size() const override {
    return align64(sizeof(float) * cout_g_ * g_.k_volume() * g_.in_volume()) +
           FloatStaging<T>::workspace_size(groups_ * cin_g_ * g_.in_volume(), groups_ * cin_g_ * cout_g_ * g_.k_volume(),
                                           groups_ * cout_g_ * g_.out_volume());
  }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const int64_t iv = g_.in_volume(), ov = g_.out_volume();
    const int64_t cin = groups_ * cin_g_, cout = groups_ * cout_g_, rows = cout_g_ * g_.k_volume();
    FloatCarver ws(workspace);
    float* col = ws.take(rows * iv);
    const FloatStaging<T> st(ws, in, out, cin * iv, cin * rows, cout * ov);
    const T* bias = has_bias_ ? in[2].as<T>() : nullptr;
    for (int64_t n = 0; n < batch_; ++n) {
      const float* xn = st.input(n);
      float* yn = st.output(n);
      for (int64_t c = 0; c < cout; ++c) {
        const float b = bias ? static_cast<float>(load(bias, c)) : 0.0f;
        for (int64_t i = 0; i < ov; ++i) yn[c * ov + i] = b;
      }
      for (int64_t g = 0; g < groups_; ++g) {
        sgemm(true, false, rows, iv, cin_g_, 1.0f, st.weight() + g * cin_g_ * rows, rows, xn + g * cin_g_ * iv, iv,
              0.0f, col, iv);
        col2im_add(col, cout_g_, g_, yn + g * cout_g_ * ov);
      }
      st.store_output(n);
    }
  }

 private:
  Spatial3 g_;
  int64_t batch_ = 0, groups_ = 1, cin_g_ = 0, cout_g_ = 0;
  bool has_bias_ = false;
};

}  // namespace

std::unique_ptr<Kernel> create_deconvolution(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<DeconvKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
