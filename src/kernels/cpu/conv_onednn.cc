// CPU convolution through oneDNN (`cpu.conv.onednn`, in builds that found it: TENSORFORGE_ONEDNN),
// preferred over im2col + BLAS for float32 2-D convolutions whose weight is a constant of the graph.
// The weight is reordered once, at creation, into the layout oneDNN's fastest implementation for
// the layer wants (a blocked one). NCHW activations are reordered into and out of the
// implementation's layout through the workspace around each call when it wants another one, as its
// own NHWC or blocked kernels are about twice as fast as its NCHW path (a 64-channel 3x3 layer at
// 56x56 on two AVX-512 cores: 0.63 against 1.35 ms; im2col + OpenBLAS 1.56); channels-last layers
// (layout "nhwc", as the channels_last_float32 pass makes them) are read and written in place. The
// bias, the residual (added after the bias: the output starts as the residual, and oneDNN's sum post-op adds
// the convolution to it) and relu/silu/hardswish/relu6 run inside the convolution.
// oneDNN's scratch space comes from the kernel's workspace; calls are thread-safe (primitives are
// only read, each call has its own stream). oneDNN parallelizes with its own (OpenMP) threads.
#include "kernels/cpu/spatial.h"

#ifdef TENSORFORGE_WITH_ONEDNN

#include <algorithm>
#include <unordered_map>

#include "ir/layout.h"
#include "kernels/cpu/onednn.h"
#include "kernels/layer_attrs.h"

namespace tensorforge::cpu {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

size_t align64(size_t n) { return (n + 63) / 64 * 64; }

class OnednnConv : public Kernel {
 public:
  // nullptr where oneDNN does not take the layer (the im2col kernel does).
  static std::unique_ptr<Kernel> create(const KernelSpec& s) {
    const bool has_bias = s.inputs.size() > 2 && s.inputs[2], has_residual = s.inputs.size() > 3 && s.inputs[3];
    if (s.inputs[0]->dtype != DataType::kFloat32 || s.inputs[0]->dims.rank() != 4 || s.constants.size() < 2 ||
        !s.constants[1])
      return nullptr;
    try {
      return std::unique_ptr<Kernel>(new OnednnConv(s, has_bias, has_residual));
    } catch (const dnnl::error&) {  // no implementation takes these post-ops or this geometry
      return nullptr;
    }
  }

  size_t workspace_size() const override {
    return std::max(scratch_off_ + scratch_bytes_, forked_->workspace_size());
  }
  std::string choice() const override { return choice_; }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (ran_fallback_in_forked_child(*forked_, in, out, workspace)) return;
    dnnl::engine& eng = onednn_engine();
    dnnl::stream strm(eng);
    char* ws = static_cast<char*>(workspace);
    memory x_user(x_md_, eng, in[0].data), y_user(y_md_, eng, out[0].data);
    memory x = x_reorder_ ? memory(pd_.src_desc(), eng, ws) : x_user;
    memory y = y_reorder_ ? memory(pd_.dst_desc(), eng, ws + y_off_) : y_user;
    if (x_reorder_) x_reorder_.execute(strm, x_user, x);
    if (has_residual_) {  // the sum post-op adds what the output holds: the residual, in its layout
      memory r(y_md_, eng, in[3].data);
      if (y_reorder_)
        residual_reorder_.execute(strm, r, y);
      else
        start_from_residual(in[3], out[0], y_md_.get_size());
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, y},
                                         {DNNL_ARG_SCRATCHPAD, memory(pd_.scratchpad_desc(), eng, ws + scratch_off_)}};
    if (has_bias_) args.emplace(DNNL_ARG_BIAS, memory(bias_md_, eng, in[2].data));
    conv_.execute(strm, args);
    if (y_reorder_) y_reorder_.execute(strm, y, y_user);
    strm.wait();
  }

 private:
  OnednnConv(const KernelSpec& s, bool has_bias, bool has_residual)
      : has_bias_(has_bias), has_residual_(has_residual), forked_(with_layout(s, create_convolution)) {
    dnnl::engine& eng = onednn_engine();
    // A channels-last layer's x, residual and y are [N, H, W, C], its weight [Cout, kh, kw, Cin / g]:
    // oneDNN takes them as they are (its dims are always channels first, the tag says the order).
    const bool nhwc = ir::is_channels_last(s.layer);
    const Dims xd = ir::channels_first_view(s.inputs[0]->dims, nhwc);
    const Dims wd = ir::channels_first_view(s.inputs[1]->dims, nhwc);
    const Dims yd = ir::channels_first_view(s.outputs[0]->dims, nhwc);
    const Spatial3 g = conv_geometry(s);  // its stride, padding and dilation (extents: xd, wd, yd)
    const int64_t groups = ir::attr_int(s.layer, "groups");
    const memory::dims x_dims{xd[0], xd[1], xd[2], xd[3]}, y_dims{yd[0], yd[1], yd[2], yd[3]};
    const memory::dims w_dims = groups > 1 ? memory::dims{groups, wd[0] / groups, wd[1], wd[2], wd[3]}
                                           : memory::dims{wd[0], wd[1], wd[2], wd[3]};
    const auto f32 = memory::data_type::f32;
    x_md_ = memory::desc(x_dims, f32, nhwc ? Tag::nhwc : Tag::nchw);
    y_md_ = memory::desc(y_dims, f32, nhwc ? Tag::nhwc : Tag::nchw);
    bias_md_ = memory::desc({yd[1]}, f32, Tag::x);
    const Tag w_tag = groups > 1 ? (nhwc ? Tag::gohwi : Tag::goihw) : (nhwc ? Tag::ohwi : Tag::oihw);
    const memory::desc w_user(w_dims, f32, w_tag);
    dnnl::post_ops ops;
    // The residual is added after the bias, before the activation: oneDNN's sum post-op, over an
    // output that holds the residual (a binary post-op reading it in NCHW sent oneDNN to a path
    // eight times slower).
    if (has_residual_) ops.append_sum(1.0f);
    switch (conv_activation(s)) {
      case ConvActivation::kNone: break;
      case ConvActivation::kRelu: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f); break;
      case ConvActivation::kSilu: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f); break;
      case ConvActivation::kHardswish: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_hardswish, 0.0f, 0.0f); break;
      case ConvActivation::kRelu6: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f); break;
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const memory::desc any_x(x_dims, f32, Tag::any), any_w(w_dims, f32, Tag::any), any_y(y_dims, f32, Tag::any);
    const memory::dims strides{g.stride[1], g.stride[2]}, dilation{g.dil[1] - 1, g.dil[2] - 1};
    const memory::dims pad_l{g.pad[1], g.pad[2]};
    // The right padding the last window reaches into: the left one, or less where the last window
    // stops short of the edge (oneDNN's output extent rounds down as ours does).
    memory::dims pad_r(2);
    for (int i = 0; i < 2; ++i)
      pad_r[i] = std::max<int64_t>(
          0, (yd[2 + i] - 1) * g.stride[1 + i] + (wd[2 + i] - 1) * g.dil[1 + i] + 1 - xd[2 + i] - g.pad[1 + i]);
    auto describe = [&](const memory::desc& x, const memory::desc& y) {
      using Desc = dnnl::convolution_forward::desc;
      const auto fwd = dnnl::prop_kind::forward_inference;
      const auto direct = dnnl::algorithm::convolution_direct;
      const auto d = has_bias_ ? Desc(fwd, direct, x, any_w, bias_md_, y, strides, dilation, pad_l, pad_r)
                               : Desc(fwd, direct, x, any_w, y, strides, dilation, pad_l, pad_r);
      return dnnl::convolution_forward::primitive_desc(d, attr, eng);
    };
    // Channels last runs in place (its brgconv kernels read and write NHWC) unless only oneDNN's
    // reference implementation takes NHWC here; channels first lets oneDNN pick (a blocked layout).
    if (nhwc) pd_ = describe(x_md_, y_md_);
    if (!nhwc || std::string(pd_.impl_info_str()).rfind("ref", 0) == 0) pd_ = describe(any_x, any_y);
    conv_ = dnnl::convolution_forward(pd_);
    weights_ = packed_constant(*s.constants[1], w_user, pd_.weights_desc());  // once
    if (pd_.src_desc() != x_md_) x_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, x_md_, eng, pd_.src_desc()));
    if (pd_.dst_desc() != y_md_) {
      y_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, pd_.dst_desc(), eng, y_md_));
      if (has_residual_)
        residual_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, y_md_, eng, pd_.dst_desc()));
    }
    y_off_ = x_reorder_ ? align64(pd_.src_desc().get_size()) : 0;
    scratch_off_ = y_off_ + (y_reorder_ ? align64(pd_.dst_desc().get_size()) : 0);
    scratch_bytes_ = pd_.scratchpad_desc().get_size();
    choice_ = std::string("oneDNN ") + pd_.impl_info_str() + (x_reorder_ || y_reorder_ ? " (activations reordered)" : "");
  }

  bool has_bias_, has_residual_;
  std::unique_ptr<Kernel> forked_;  // im2col, for a forked child
  memory::desc x_md_, y_md_, bias_md_;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward conv_;
  dnnl::reorder x_reorder_, y_reorder_, residual_reorder_;
  memory weights_;
  size_t y_off_ = 0, scratch_off_ = 0, scratch_bytes_ = 0;
  std::string choice_;
};

}  // namespace

dnnl::engine& onednn_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory packed_constant(const Weights& w, const dnnl::memory::desc& user, const dnnl::memory::desc& packed) {
  dnnl::engine& eng = onednn_engine();
  dnnl::memory out(packed, eng), in(user, eng, const_cast<void*>(static_cast<const void*>(w.data())));
  dnnl::stream strm(eng);
  dnnl::reorder(in, out).execute(strm, in, out);
  strm.wait();
  return out;
}

std::unique_ptr<Kernel> create_convolution_onednn(const KernelSpec& s) { return OnednnConv::create(s); }

bool built_with_onednn() { return true; }

}  // namespace tensorforge::cpu

#else

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_convolution_onednn(const KernelSpec&) { return nullptr; }

bool built_with_onednn() { return false; }

}  // namespace tensorforge::cpu

#endif
