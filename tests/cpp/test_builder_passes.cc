// The builder's graph passes (batch-norm folding, epilogue fusion): which layers they fold, which
// they leave, and that the rewritten graph computes what the original does (both run by the CPU
// kernels).
#include "opt/fold_batch_norm.h"
#include "opt/fuse_epilogues.h"
#include "opt/rebuild.h"
#include "common/half.h"

#include <algorithm>

#include "runtime/engine_impl.h"
#include "test_util.h"

namespace tft {
namespace {

// Runs `g` on the CPU kernels (no passes) and returns the outputs.
std::vector<HostTensor> run_graph(const ir::Graph& g, const std::vector<HostTensor>& inputs) {
  return run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), inputs);
}

std::vector<LayerKind> kinds(const ir::Graph& g) {
  std::vector<LayerKind> k;
  for (const ir::Layer& l : g.layers)
    if (l.kind != LayerKind::kConstant) k.push_back(l.kind);
  return k;
}

const ir::Layer& only(const ir::Graph& g, LayerKind kind) {
  for (const ir::Layer& l : g.layers)
    if (l.kind == kind) return l;
  throw std::runtime_error("no such layer");
}

void expect_same_outputs(const Network& net, const ir::Graph& fused, const std::vector<HostTensor>& inputs,
                         double tol = 1e-5) {
  std::vector<HostTensor> want = run_graph(net.graph(), inputs), got = run_graph(fused, inputs);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i].dims, want[i].values(), tol, "output");
}

TEST(FuseEpilogues, LinearBiasGeluBecomesOneMatmul) {
  for (const char* act : {"relu", "gelu_erf", "gelu_tanh"}) {
    Network net;
    Tensor x = net.add_input("x", DataType::kFloat32, Dims{5, 7});
    Tensor w = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{3, 7}, 1)), "w");
    Tensor y = net.add_matmul(x, w, false, true, Tensor(), "none", "fc");
    Tensor b = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{3}, 2)), "b");
    Tensor z = net.add_elementwise(b, y, "add", "bias");  // bias first, as addmm converts
    net.mark_output(net.add_activation(z, act, 0.0, 0.0, "act"), "out");
    ir::Graph fused = fuse_epilogues(net.graph());
    EXPECT_EQ(kinds(fused), std::vector<LayerKind>{LayerKind::kMatMul}) << act;
    const ir::Layer& mm = only(fused, LayerKind::kMatMul);
    ASSERT_EQ(mm.inputs.size(), 3u);
    EXPECT_EQ(fused.tensors[mm.inputs[2]].name, "b");
    std::string expected = std::string(act) == "gelu_erf" ? "gelu" : act;
    EXPECT_EQ(ir::attr_string(mm, "activation"), expected);
    EXPECT_EQ(fused.tensors[fused.outputs[0]].name, "out");
    expect_same_outputs(net, fused, {random_tensor(DataType::kFloat32, Dims{5, 7}, 3)});
  }
}

TEST(FuseEpilogues, ConvolutionReluTakesTheActivation) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, Dims{1, 2, 6, 6});
  Tensor w = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{4, 2, 3, 3}, 4)), "w");
  Tensor b = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{4}, 5)), "b");
  Tensor y = net.add_convolution(x, w, b, {1, 1}, {1, 1});
  net.mark_output(net.add_activation(y, "relu"), "out");
  ir::Graph fused = fuse_epilogues(net.graph());
  EXPECT_EQ(kinds(fused), std::vector<LayerKind>{LayerKind::kConvolution});
  EXPECT_EQ(ir::attr_string(only(fused, LayerKind::kConvolution), "activation"), "relu");
  expect_same_outputs(net, fused, {random_tensor(DataType::kFloat32, Dims{1, 2, 6, 6}, 6)});
}

TEST(FuseEpilogues, LeavesChainsWhoseMiddleIsReadElsewhere) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, Dims{4, 4});
  Tensor w = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{4, 4}, 7)), "w");
  Tensor y = net.add_matmul(x, w);
  Tensor b = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{4}, 8)), "b");
  Tensor z = net.add_elementwise(y, b, "add");
  net.mark_output(net.add_activation(z, "relu"), "out");
  net.mark_output(z, "pre_activation");  // an output: the add's result must stay
  ir::Graph fused = fuse_epilogues(net.graph());
  EXPECT_EQ(kinds(fused), (std::vector<LayerKind>{LayerKind::kMatMul, LayerKind::kActivation}));
  EXPECT_EQ(only(fused, LayerKind::kMatMul).inputs.size(), 3u);
  expect_same_outputs(net, fused, {random_tensor(DataType::kFloat32, Dims{4, 4}, 9)});
}

TEST(FuseEpilogues, TakesResidualsLeavesNonBiasAddsAndOtherActivations) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, Dims{3, 4});
  Tensor r = net.add_input("r", DataType::kFloat32, Dims{3, 4});
  Tensor w = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{4, 4}, 10)), "w");
  Tensor y = net.add_elementwise(net.add_matmul(x, w), r, "add");  // a residual: the matmul's 4th input
  Tensor b2 = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{3, 1}, 11)), "col");
  Tensor z = net.add_elementwise(net.add_matmul(y, w), b2, "add");  // broadcast over rows, not a bias
  net.mark_output(net.add_activation(z, "sigmoid"), "out");
  ir::Graph fused = fuse_epilogues(net.graph());
  std::vector<LayerKind> want = kinds(net.graph());
  want.erase(std::find(want.begin(), want.end(), LayerKind::kElementwise));
  EXPECT_EQ(kinds(fused), want);
  auto first = std::find_if(fused.layers.begin(), fused.layers.end(),
                            [](const ir::Layer& l) { return l.kind == LayerKind::kMatMul; });
  ASSERT_NE(first, fused.layers.end());
  EXPECT_TRUE(first->inputs.size() > 3 && first->inputs[3] >= 0) << "x @ w + r takes r as its residual";
  expect_same_outputs(net, fused,
                      {random_tensor(DataType::kFloat32, Dims{3, 4}, 12), random_tensor(DataType::kFloat32, Dims{3, 4}, 13)});
}

Tensor constant(Network& net, Dims d, unsigned seed, double lo, double hi) {
  return net.add_constant(to_weights(random_tensor(DataType::kFloat32, d, seed, lo, hi)));
}

TEST(FoldBatchNorm, ConvolutionBatchNormReluBecomesOneConvolution) {
  for (bool conv_bias : {false, true}) {
    Network net;
    Tensor x = net.add_input("x", DataType::kFloat32, Dims{2, 3, 7, 7});
    Tensor w = constant(net, Dims{5, 3, 3, 3}, 20, -1, 1);
    Tensor b = conv_bias ? constant(net, Dims{5}, 21, -1, 1) : Tensor();
    Tensor y = net.add_convolution(x, w, b, {2, 2}, {1, 1});
    Tensor bn = net.add_batch_norm(y, constant(net, Dims{5}, 22, -1, 1), constant(net, Dims{5}, 23, 0.5, 2),
                                   constant(net, Dims{5}, 24, -2, 2), constant(net, Dims{5}, 25, -1, 1), 1e-3);
    net.mark_output(net.add_activation(bn, "relu"), "out");
    ir::Graph folded = fuse_epilogues(fold_batch_norm(net.graph()));
    EXPECT_EQ(kinds(folded), std::vector<LayerKind>{LayerKind::kConvolution});
    EXPECT_EQ(ir::attr_string(only(folded, LayerKind::kConvolution), "activation"), "relu");
    expect_same_outputs(net, folded, {random_tensor(DataType::kFloat32, Dims{2, 3, 7, 7}, 26)}, 1e-4);
  }
}

TEST(FoldBatchNorm, LeavesNormsWithRuntimeStatisticsOrSharedInputs) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, Dims{1, 2, 5, 5});
  Tensor mean = net.add_input("mean", DataType::kFloat32, Dims{2});
  Tensor y = net.add_convolution(x, constant(net, Dims{2, 2, 1, 1}, 30, -1, 1), Tensor());
  Tensor one = constant(net, Dims{2}, 31, 0.5, 1);
  net.mark_output(net.add_batch_norm(y, mean, one, one, one), "a");  // mean is an input
  Tensor z = net.add_convolution(x, constant(net, Dims{2, 2, 1, 1}, 32, -1, 1), Tensor());
  net.mark_output(net.add_batch_norm(z, one, one, one, one), "b");
  net.mark_output(z, "z");  // the convolution's output is read twice
  ir::Graph folded = fold_batch_norm(net.graph());
  EXPECT_EQ(kinds(folded), kinds(net.graph()));
}

TEST(ReshapeAlias, ReshapesShareTheirInputsMemoryUnlessTheyAreOutputs) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, Dims{4, 6});
  Tensor a = net.add_activation(x, "relu", 0, 0, "a");
  Tensor r = net.add_reshape(net.add_reshape(a, {2, 12}, "r1"), {24}, "r2");  // a chain of aliases
  Tensor y = net.add_unary(r, "neg", "y");
  net.mark_output(y, "y");
  net.mark_output(net.add_reshape(y, {6, 4}, "r3"), "z");  // an output: copied into the caller's buffer
  net.mark_output(net.add_reshape(x, {24}, "r4"), "flat_x");  // of an input, and an output: copied
  for (bool roundtrip : {false, true}) {
    Engine engine = Builder().build(net);
    if (roundtrip) {
      std::vector<uint8_t> bytes = engine.serialize();
      engine = Engine::deserialize(bytes.data(), bytes.size());
    }
    std::string text = engine.inspect();
    EXPECT_NE(text.find("r1 [reshape] tactic=alias"), std::string::npos) << text;
    EXPECT_NE(text.find("r2 [reshape] tactic=alias"), std::string::npos) << text;
    EXPECT_EQ(text.find("r3 [reshape] tactic=alias"), std::string::npos) << text;
    EXPECT_EQ(text.find("r4 [reshape] tactic=alias"), std::string::npos) << text;
  }
  HostTensor in = random_tensor(DataType::kFloat32, Dims{4, 6}, 40);
  std::vector<HostTensor> out = run(net, {in}, true);
  std::vector<double> want;
  for (double v : in.values()) want.push_back(-std::max(v, 0.0));
  expect_close(out[0], Dims{24}, want, 0, "y");
  expect_close(out[1], Dims{6, 4}, want, 0, "z");
  expect_close(out[2], Dims{24}, in.values(), 0, "flat_x");
}

}  // namespace
}  // namespace tft

// scaled_weights (batch-norm and channel-scale folding) splits large weights over threads: every
// element of a weight large enough to be split equals the one-element-at-a-time result, in each
// dtype, with blocks that do not divide evenly among the threads.
TEST(ScaledWeights, LargeWeightsMatchTheElementwiseResultInEveryDtype) {
  using namespace tensorforge;
  const int64_t cout = 1031, inner = 3 * 3 * 97;  // 0.9M elements: split over threads
  std::vector<double> scale(cout);
  for (int64_t o = 0; o < cout; ++o) scale[o] = 0.25 + 0.003 * static_cast<double>(o % 517) - (o % 7 == 0 ? 1.5 : 0.0);
  const size_t n = static_cast<size_t>(cout * inner);
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = static_cast<float>(static_cast<int64_t>((i * 2654435761u) % 20001) - 10000) / 977.0f;
  std::vector<half_t> h(n);
  std::vector<bfloat16_t> b(n);
  for (size_t i = 0; i < n; ++i) {
    h[i] = to_half(f[i]);
    b[i] = to_bfloat16(f[i]);
  }
  const Dims dims{cout, 97, 3, 3};
  const Weights wf = scaled_weights(Weights(DataType::kFloat32, dims, f.data()), scale, inner);
  const Weights wh = scaled_weights(Weights(DataType::kFloat16, dims, h.data()), scale, inner);
  const Weights wb = scaled_weights(Weights(DataType::kBFloat16, dims, b.data()), scale, inner);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) {
    const double s = scale[i / static_cast<size_t>(inner)];
    wrong += static_cast<const float*>(wf.data())[i] != static_cast<float>(static_cast<double>(f[i]) * s);
    wrong += static_cast<const half_t*>(wh.data())[i].bits != to_half(static_cast<float>(to_float(h[i]) * s)).bits;
    wrong += static_cast<const bfloat16_t*>(wb.data())[i].bits !=
             to_bfloat16(static_cast<float>(to_float(b[i]) * s)).bits;
  }
  EXPECT_EQ(wrong, 0u);
}
