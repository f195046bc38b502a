// CPU matrix multiply through oneDNN (`cpu.matmul.onednn`, in builds that found it), preferred over
// OpenBLAS for float32 products by a constant 2-D matrix (a linear layer's weight): the weight is
// reordered once, at creation, into the blocked layout of oneDNN's brgemm kernels, which then run at
// about 360 GF/s on two AVX-512 cores against OpenBLAS's 260 (a 128x256 by 256x1024 product). The
// rows of every batch matrix of `a` form one product. The bias, the residual (the output starts as
// it, and the sum post-op adds the product) and relu/GELU run inside the product. Calls are
// thread-safe; oneDNN's scratch space comes from the kernel's workspace.
#include "kernels/cpu/matrix.h"

#ifdef TENSORFORGE_WITH_ONEDNN

#include <algorithm>
#include <unordered_map>

#include "kernels/cpu/onednn.h"
#include "kernels/matmul_shape.h"

namespace tensorforge::cpu {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

class OnednnMatMul : public Kernel {
 public:
  // nullptr where oneDNN does not take the layer (the sgemm kernel does).
  static std::unique_ptr<Kernel> create(const KernelSpec& s) {
    const MatMulShape p(s);
    for (const ir::TensorDesc* t : s.inputs)
      if (t && t->dtype != DataType::kFloat32) return nullptr;
    if (s.outputs[0]->dtype != DataType::kFloat32 || s.constants.size() < 2 || !s.constants[1] || !p.b_shared ||
        p.ta || p.a_batches != p.batches || p.m * p.batches == 0 || p.n == 0 || p.k == 0)
      return nullptr;
    try {
      return std::unique_ptr<Kernel>(new OnednnMatMul(s, p));
    } catch (const dnnl::error&) {
      return nullptr;
    }
  }

  size_t workspace_size() const override {
    return std::max(pd_.scratchpad_desc().get_size(), forked_->workspace_size());
  }
  std::string choice() const override { return std::string("oneDNN ") + pd_.impl_info_str(); }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (ran_fallback_in_forked_child(*forked_, in, out, workspace)) return;
    dnnl::engine& eng = onednn_engine();
    dnnl::stream strm(eng);
    if (has_residual_) start_from_residual(in[3], out[0], c_md_.get_size());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(a_md_, eng, in[0].data)},
                                         {DNNL_ARG_WEIGHTS, weights_},
                                         {DNNL_ARG_DST, memory(c_md_, eng, out[0].data)},
                                         {DNNL_ARG_SCRATCHPAD, memory(pd_.scratchpad_desc(), eng, workspace)}};
    if (has_bias_) args.emplace(DNNL_ARG_BIAS, memory(bias_md_, eng, in[2].data));
    prim_.execute(strm, args);
    strm.wait();
  }

 private:
  OnednnMatMul(const KernelSpec& s, const MatMulShape& p)
      : has_bias_(p.has_bias), has_residual_(p.has_residual), forked_(create_matmul(s)) {
    const int64_t rows = p.batches * p.m;
    const auto f32 = memory::data_type::f32;
    a_md_ = memory::desc({rows, p.k}, f32, Tag::ab);
    c_md_ = memory::desc({rows, p.n}, f32, Tag::ab);
    bias_md_ = memory::desc({1, p.n}, f32, Tag::ab);
    const memory::desc b_user({p.k, p.n}, f32, p.tb ? Tag::ba : Tag::ab), b_any({p.k, p.n}, f32, Tag::any);
    dnnl::post_ops ops;
    if (has_residual_) ops.append_sum(1.0f);
    switch (p.activation) {
      case MatMulActivation::kNone: break;
      case MatMulActivation::kRelu: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f); break;
      case MatMulActivation::kGelu: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f); break;
      case MatMulActivation::kGeluTanh: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f); break;
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto d = has_bias_ ? dnnl::matmul::desc(a_md_, b_any, bias_md_, c_md_) : dnnl::matmul::desc(a_md_, b_any, c_md_);
    pd_ = dnnl::matmul::primitive_desc(d, attr, onednn_engine());
    prim_ = dnnl::matmul(pd_);
    weights_ = packed_constant(*s.constants[1], b_user, pd_.weights_desc());
  }

  bool has_bias_, has_residual_;
  std::unique_ptr<Kernel> forked_;  // sgemm, for a forked child
  memory::desc a_md_, c_md_, bias_md_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  memory weights_;
};

}  // namespace

std::unique_ptr<Kernel> create_matmul_onednn(const KernelSpec& s) { return OnednnMatMul::create(s); }

}  // namespace tensorforge::cpu

#else

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_matmul_onednn(const KernelSpec&) { return nullptr; }

}  // namespace tensorforge::cpu

#endif
