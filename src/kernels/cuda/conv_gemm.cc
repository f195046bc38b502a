// A 1x1 convolution over channels-last tensors is a matrix multiply (see conv.h): the layer's
// tensors are read as y[P, Cout] = x[P, Cin] w[Cout, Cin]^T with P the batch times the spatial
// positions, through the matmul kernel (cuBLASLt, matmul.cu) made for a matmul layer of those
// shapes, which this object keeps (the kernel refers to its layer). Bias, residual and relu go into
// the matmul's epilogue; silu and hardswish run in our bias/activation pass after it.
#include <memory>

#include "ir/graph.h"
#include "ir/layout.h"
#include "kernels/cuda/conv.h"
#include "kernels/layer_attrs.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_matmul(const KernelSpec& s);

struct ConvGemm {
  ir::Layer layer{LayerKind::kMatMul, "", {}, {}, {}, {}};
  ir::TensorDesc x, w, bias, residual, y;
  std::unique_ptr<Kernel> matmul;
  DataType dtype = DataType::kFloat32;
  ConvActivation act = ConvActivation::kNone;
  bool epilogue_in_matmul = false;  // else our pass adds bias and residual and activates
  bool has_bias = false, has_residual = false;
  int64_t positions = 0, cin = 0, cout = 0;
};

std::shared_ptr<ConvGemm> create_conv_gemm(const KernelSpec& s) {
  if (!ir::is_channels_last(s.layer) || s.inputs.size() < 2 || !s.inputs[0] || !s.inputs[1]) return nullptr;
  const DataType t = s.inputs[0]->dtype;
  if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16) return nullptr;
  const Dims &x = s.inputs[0]->dims, &w = s.inputs[1]->dims, &y = s.outputs[0]->dims;
  const int rank = x.rank();
  if (rank < 3 || w.rank() != rank || y.rank() != rank) return nullptr;
  // 1x1 kernel, stride 1, no padding, ungrouped: every spatial extent of y equals x's.
  for (int d = 1; d < rank - 1; ++d)
    if (w[d] != 1 || y[d] != x[d]) return nullptr;
  if (w[rank - 1] != x[rank - 1] || w[0] != y[rank - 1] || y[0] != x[0]) return nullptr;
  for (int64_t stride : ir::attr_ints(s.layer, "stride"))
    if (stride != 1) return nullptr;
  for (int64_t pad : ir::attr_ints(s.layer, "padding"))
    if (pad != 0) return nullptr;
  auto g = std::make_shared<ConvGemm>();
  g->dtype = t;
  g->cin = x[rank - 1];
  g->cout = y[rank - 1];
  g->positions = x.volume() / g->cin;
  g->act = conv_activation(s);
  g->has_bias = s.inputs.size() > 2 && s.inputs[2];
  g->has_residual = s.inputs.size() > 3 && s.inputs[3];
  g->epilogue_in_matmul = g->act == ConvActivation::kNone || g->act == ConvActivation::kRelu;
  g->x = {"x", t, Dims{g->positions, g->cin}};
  g->w = {"w", t, Dims{g->cout, g->cin}};
  g->bias = {"bias", t, Dims{g->cout}};
  g->residual = {"residual", t, Dims{g->positions, g->cout}};
  g->y = {"y", t, Dims{g->positions, g->cout}};
  g->layer.name = s.layer.name;
  g->layer.attrs["transpose_a"] = int64_t(0);
  g->layer.attrs["transpose_b"] = int64_t(1);
  g->layer.attrs["activation"] = std::string(g->epilogue_in_matmul && g->act == ConvActivation::kRelu ? "relu" : "none");
  KernelSpec spec{g->layer, {&g->x, &g->w}, {&g->y}, s.config, s.hints};
  if (g->epilogue_in_matmul) {
    spec.inputs.push_back(g->has_bias ? &g->bias : nullptr);
    spec.inputs.push_back(g->has_residual ? &g->residual : nullptr);
  }
  try {
    g->matmul = create_matmul(spec);
  } catch (const Error&) {
    return nullptr;  // cuBLASLt offers no algorithm: not a candidate
  }
  return g->matmul ? g : nullptr;
}

size_t conv_gemm_workspace(const ConvGemm& g) { return g.matmul->workspace_size(); }

void run_conv_gemm(const ConvGemm& g, const void* x, const void* w, const void* bias, const void* residual, void* y,
                   void* workspace) {
  TensorView in[4] = {{const_cast<void*>(x), g.dtype, g.x.dims},
                      {const_cast<void*>(w), g.dtype, g.w.dims},
                      {const_cast<void*>(bias), g.dtype, g.bias.dims},
                      {const_cast<void*>(residual), g.dtype, g.residual.dims}};
  TensorView out[1] = {{y, g.dtype, g.y.dims}};
  g.matmul->run(in, out, workspace);
  if (!g.epilogue_in_matmul)
    conv_bias_act(g.dtype, y, g.has_bias ? bias : nullptr, g.y.dims, g.act, g.has_residual ? residual : nullptr);
}

}  // namespace tensorforge::cuda
