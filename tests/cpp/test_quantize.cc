// Quantize and dequantize layers against hand-computed values: rounding half to even, the zero
// point, saturation to the dtype and to a narrower [qmin, qmax], NaN, per-channel scales broadcast
// along an axis, uint8, float16 results; the errors of malformed layers; quantized_matmul against
// hand-computed products; and fuse_quantized_matmul against the dequantize + float matmul it replaces.
#include <cmath>
#include <limits>
#include <set>

#include "ir/printer.h"
#include "opt/eliminate_dead_layers.h"
#include "opt/fold_constant_dequantize.h"
#include "opt/fuse_epilogues.h"
#include "opt/fuse_quantized_matmul.h"
#include "opt/fuse_weight_only_matmul.h"
#include "opt/merge_parallel_matmuls.h"
#include "opt/pass.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

using namespace tft;

namespace {

HostTensor values(DataType t, Dims d, const std::vector<double>& v) { return host_values(t, d, v); }

Tensor constant(Network& net, DataType t, Dims d, const std::vector<double>& v) {
  return net.add_constant(to_weights(values(t, d, v)));
}

// n int8 values spread over [-127, 127]: element i is (i * step) % 255 - 127.
std::vector<double> int8_pattern(int n, int step) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back((i * step) % 255 - 127);
  return v;
}
}  // namespace

TEST(Quantize, PerTensorRoundsHalfToEvenAddsZeroPointAndSaturates) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {9});
  Tensor q = net.add_quantize(x, constant(net, DataType::kFloat32, {}, {0.5}),
                              constant(net, DataType::kInt32, {}, {3}), DataType::kInt8);
  net.mark_output(q, "q");
  net.mark_output(net.add_dequantize(q, constant(net, DataType::kFloat32, {}, {0.5}),
                                     constant(net, DataType::kInt32, {}, {3})), "y");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // x / 0.5: 0.5 -> 0 (tie to even), 1.5 -> 2, 2.5 -> 2, -0.5 -> -0 ... then + 3
  auto out = run(net, {values(DataType::kFloat32, {9}, {0.25, 0.75, 1.25, -0.25, -1.3, 100.0, -100.0, nan, 0.0})});
  ASSERT_EQ(out[0].dtype, DataType::kInt8);
  expect_close(out[0], {9}, {3, 5, 5, 3, 0, 127, -128, 3, 3}, 0, "q");
  expect_close(out[1], {9}, {0.0, 1.0, 1.0, 0.0, -1.5, 62.0, -65.5, 0.0, 0.0}, 0, "dequantized");
}

TEST(Quantize, NarrowRangeAndUInt8) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {4});
  Tensor scale = constant(net, DataType::kFloat32, {1}, {1.0});
  net.mark_output(net.add_quantize(x, scale, Tensor(), DataType::kInt8, -127, 127), "narrow");
  net.mark_output(net.add_quantize(x, scale, constant(net, DataType::kInt32, {1}, {128}), DataType::kUInt8), "u8");
  auto out = run(net, {values(DataType::kFloat32, {4}, {-300.0, -127.6, 5.5, 200.0})});
  expect_close(out[0], {4}, {-127, -127, 6, 127}, 0, "narrow");
  ASSERT_EQ(out[1].dtype, DataType::kUInt8);
  expect_close(out[1], {4}, {0, 0, 134, 255}, 0, "uint8");
}

TEST(Quantize, PerChannelScalesBroadcastAlongTheirAxis) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat16, {2, 3});
  Tensor scale = constant(net, DataType::kFloat32, {1, 3}, {0.5, 1.0, 2.0});
  Tensor zero = constant(net, DataType::kInt32, {1, 3}, {0, -1, 1});
  Tensor q = net.add_quantize(x, scale, zero, DataType::kInt8);
  net.mark_output(q, "q");
  net.mark_output(net.add_dequantize(q, scale, zero, DataType::kFloat16), "y");
  auto out = run(net, {values(DataType::kFloat16, {2, 3}, {1.0, 1.0, 1.0, -3.0, 4.5, 7.0})});
  // column 0: x / 0.5; column 1: x - 1 (4.5 ties to 4, then -1); column 2: x / 2 + 1 (3.5 ties to 4)
  expect_close(out[0], {2, 3}, {2, 0, 1, -6, 3, 5}, 0, "q");
  ASSERT_EQ(out[1].dtype, DataType::kFloat16);
  expect_close(out[1], {2, 3}, {1.0, 1.0, 0.0, -3.0, 4.0, 8.0}, 0, "dequantized");
}

TEST(Quantize, MalformedLayersAreClearErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  Tensor i = net.add_input("i", DataType::kInt32, {2, 3});
  Tensor scale = constant(net, DataType::kFloat32, {1}, {1.0});
  expect_error([&] { net.add_quantize(i, scale, Tensor(), DataType::kInt8); }, ErrorCode::kInvalidNetwork,
               {"floating-point input"});
  expect_error([&] { net.add_quantize(x, scale, Tensor(), DataType::kInt32); }, ErrorCode::kInvalidNetwork,
               {"int8, uint8 or float8_e4m3fn"});
  expect_error([&] { net.add_quantize(x, scale, Tensor(), DataType::kInt8, -200); }, ErrorCode::kInvalidNetwork,
               {"qmin -200 is outside int8's range"});
  expect_error([&] { net.add_quantize(x, scale, Tensor(), DataType::kUInt8, 10, 5); }, ErrorCode::kInvalidNetwork,
               {"qmin must not exceed qmax"});
  expect_error([&] { net.add_quantize(x, constant(net, DataType::kFloat32, {2}, {1, 2}), Tensor(), DataType::kInt8); },
               ErrorCode::kInvalidNetwork, {"the scale [2] must broadcast to the data's shape [2,3]"});
  expect_error([&] { net.add_quantize(x, constant(net, DataType::kFloat16, {1}, {1}), Tensor(), DataType::kInt8); },
               ErrorCode::kInvalidNetwork, {"the scale must be float32"});
  expect_error([&] { net.add_quantize(x, scale, constant(net, DataType::kInt64, {1}, {0}), DataType::kInt8); },
               ErrorCode::kInvalidNetwork, {"the zero point must be int32"});
  expect_error([&] { net.add_dequantize(x, scale, Tensor()); }, ErrorCode::kInvalidNetwork,
               {"int8, uint8 or float8_e4m3fn"});
  Tensor q = net.add_quantize(x, scale, Tensor(), DataType::kInt8);
  expect_error([&] { net.add_dequantize(q, scale, Tensor(), DataType::kInt32); }, ErrorCode::kInvalidNetwork,
               {"floating-point dtype"});
}

TEST(QuantizedMatMul, MatchesHandComputedProducts) {
  for (bool transposed : {false, true}) {
    SCOPED_TRACE(transposed ? "b [N, K]" : "b [K, N]");
    Network net;
    Tensor a = net.add_input("a", DataType::kInt8, {2, 3});
    // b = [[1, -2], [3, 4], [-5, 6]] as [K, N] (or its transpose)
    Tensor b = transposed ? constant(net, DataType::kInt8, {2, 3}, {1, 3, -5, -2, 4, 6})
                          : constant(net, DataType::kInt8, {3, 2}, {1, -2, 3, 4, -5, 6});
    Tensor scale = constant(net, DataType::kFloat32, {2}, {0.5, 0.25});
    Tensor bias = constant(net, DataType::kFloat32, {2}, {1.0, -100.0});
    net.mark_output(net.add_quantized_matmul(a, b, scale, bias, transposed, "relu", DataType::kFloat16), "y");
    auto out = run(net, {values(DataType::kInt8, {2, 3}, {127, -128, 2, 1, 1, 1})});
    // row 0: [127 - 384 - 10, -254 - 512 + 12] = [-267, -754]; row 1: [-1, 8]
    ASSERT_EQ(out[0].dtype, DataType::kFloat16);
    expect_close(out[0], {2, 2}, {0.0, 0.0, 0.5, 0.0}, 0, "relu(acc * scale + bias)");
  }
}

TEST(FuseQuantizedMatMul, DequantizedOperandsBecomeOneInt8Layer) {
  auto network = [](int32_t weight_zero) {
    Network net;
    Tensor x = net.add_input("x", DataType::kFloat32, {4, 8});
    Tensor sa = constant(net, DataType::kFloat32, {}, {0.05});
    Tensor za = constant(net, DataType::kInt32, {}, {3});
    Tensor xd = net.add_dequantize(net.add_quantize(x, sa, za, DataType::kInt8), sa, za);
    Tensor wd = net.add_dequantize(constant(net, DataType::kInt8, {8, 5}, int8_pattern(40, 37)),
                                   constant(net, DataType::kFloat32, {1, 5}, {0.01, 0.02, 0.03, 0.04, 0.05}),
                                   constant(net, DataType::kInt32, {1, 5}, {0, 0, weight_zero, 0, 0}));
    net.mark_output(net.add_matmul(xd, wd, false, false, constant(net, DataType::kFloat32, {5}, {1, 2, 3, 4, 5}),
                                   "relu"), "y");
    return net.graph();
  };
  const ir::Graph g = network(0);
  const ir::Graph fused = eliminate_dead_layers(fold_constant_dequantize(fuse_quantized_matmul(g)));
  std::multiset<LayerKind> kinds;
  for (const auto& l : fused.layers) kinds.insert(l.kind);
  EXPECT_EQ(kinds.count(LayerKind::kQuantizedMatMul), 1u) << ir::to_text(fused);
  EXPECT_EQ(kinds.count(LayerKind::kMatMul) + kinds.count(LayerKind::kDequantize), 0u) << ir::to_text(fused);
  std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, {4, 8}, 5)};
  auto run_graph = [&](const ir::Graph& graph) {
    return run_engine(Engine(assemble_engine(graph, BuilderConfig{}, {})), in);
  };
  const auto want = run_graph(g), got = run_graph(fused);
  expect_close(got[0], want[0].dims, want[0].values(), 1e-5, "fused against dequantize + float matmul");
  // A weight zero point other than 0 is not this pattern: the graph stays as it was.
  const ir::Graph other = network(2);
  EXPECT_EQ(ir::to_text(fuse_quantized_matmul(other)), ir::to_text(other));
}

TEST(FuseQuantizedMatMul, UInt8ActivationsThroughAReshape) {
  // A uint8 activation with zero point 128 (PT2E's X86 quantizer), viewed from [2, 3, 8] as [6, 8].
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 8});
  Tensor sa = constant(net, DataType::kFloat32, {}, {0.03});
  Tensor za = constant(net, DataType::kInt32, {}, {128});
  Tensor xd = net.add_dequantize(net.add_quantize(x, sa, za, DataType::kUInt8), sa, za);
  Tensor wd = net.add_dequantize(constant(net, DataType::kInt8, {4, 8}, int8_pattern(32, 53)),
                                 constant(net, DataType::kFloat32, {4, 1}, {0.01, 0.02, 0.03, 0.04}), Tensor());
  net.mark_output(net.add_matmul(net.add_reshape(xd, {6, 8}), wd, false, true), "y");
  const ir::Graph g = net.graph();
  const ir::Graph fused = eliminate_dead_layers(fold_constant_dequantize(fuse_quantized_matmul(g)));
  int quantized = 0;
  for (const auto& l : fused.layers) quantized += l.kind == LayerKind::kQuantizedMatMul;
  EXPECT_EQ(quantized, 1) << ir::to_text(fused);
  std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, {2, 3, 8}, 6)};
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(fused, BuilderConfig{}, {})), in);
  expect_close(got[0], want[0].dims, want[0].values(), 1e-5, "uint8 through a reshape");
}

TEST(FoldConstantDequantize, KeepsTheWeightsOfMatMulsWithDequantizedInt8Activations) {
  // y1 = x · dequantize(W1) (a float activation of more rows than fuse_weight_only_matmul takes:
  // folded first), y2 = dequantize(quantize(x)) · dequantize(W2) (kept for fuse_quantized_matmul,
  // which writes W2 [K, N] as [N, K]).
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {kWeightOnlyMaxRows + 1, 4});
  Tensor s = constant(net, DataType::kFloat32, {}, {0.1});
  Tensor w1 = net.add_dequantize(constant(net, DataType::kInt8, {4, 2}, int8_pattern(8, 29)), s, Tensor());
  Tensor w2 = net.add_dequantize(constant(net, DataType::kInt8, {4, 2}, int8_pattern(8, 31)), s, Tensor());
  Tensor xd = net.add_dequantize(net.add_quantize(x, s, Tensor(), DataType::kInt8), s, Tensor());
  net.mark_output(net.add_matmul(x, w1, false, false), "y1");
  net.mark_output(net.add_matmul(xd, w2, false, false), "y2");
  const ir::Graph g = net.graph();
  const ir::Graph early = fold_constant_dequantize_outside_matmuls(g);
  std::multiset<LayerKind> kinds;
  for (const auto& l : early.layers) kinds.insert(l.kind);
  EXPECT_EQ(kinds.count(LayerKind::kDequantize), 2u) << ir::to_text(early);  // x's and W2's
  const ir::Graph fused = eliminate_dead_layers(fold_constant_dequantize(fuse_quantized_matmul(early)));
  const ir::Layer* q = nullptr;
  for (const auto& l : fused.layers)
    if (l.kind == LayerKind::kQuantizedMatMul) q = &l;
  ASSERT_NE(q, nullptr) << ir::to_text(fused);
  EXPECT_EQ(ir::attr_int(*q, "transpose_b"), 1);
  EXPECT_EQ(fused.tensors[q->inputs[1]].dims, (Dims{2, 4}));
  std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, {kWeightOnlyMaxRows + 1, 4}, 7)};
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(fused, BuilderConfig{}, {})), in);
  for (int i = 0; i < 2; ++i) expect_close(got[i], want[i].dims, want[i].values(), 1e-5, "after the passes");
}

TEST(FoldConstantDequantize, LeavesDequantizesNothingReads) {
  // After a fusion took its int8 weight, a dequantize is read by nothing: folding it would compute a
  // float copy of the weight only for eliminate_dead_layers to drop. The one y reads is folded.
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 4});
  Tensor s = constant(net, DataType::kFloat32, {}, {0.5});
  net.add_dequantize(constant(net, DataType::kInt8, {4, 2}, int8_pattern(8, 29)), s, Tensor());  // unread
  Tensor w = net.add_dequantize(constant(net, DataType::kInt8, {4, 2}, int8_pattern(8, 31)), s, Tensor());
  net.mark_output(net.add_matmul(x, w, false, false), "y");
  const ir::Graph folded = fold_constant_dequantize(net.graph());
  std::vector<std::string> dequantized;
  for (const auto& l : folded.layers)
    if (l.kind == LayerKind::kDequantize) dequantized.push_back(folded.tensors[l.outputs[0]].name);
  ASSERT_EQ(dequantized.size(), 1u) << ir::to_text(folded);
  for (const auto& l : folded.layers)  // the remaining dequantize is the unread one
    for (int id : l.inputs) EXPECT_NE(folded.tensors[id].name, dequantized[0]) << ir::to_text(folded);
  EXPECT_EQ(eliminate_dead_layers(folded).layers.size(), 2u) << ir::to_text(folded);  // the folded weight, the matmul
}

TEST(FuseWeightOnlyMatMul, FewFloatRowsReadTheInt8Weight) {
  // A linear layer of 2 float16 rows by a per-channel int8 weight [K, N] with a bias and relu
  // becomes one quantized_matmul of the float rows (weight [N, K], the weight's scales); 17 rows
  // stay a float matmul.
  auto network = [](int64_t rows) {
    Network net;
    Tensor x = net.add_input("x", DataType::kFloat16, {rows, 8});
    Tensor w = net.add_dequantize(constant(net, DataType::kInt8, {8, 3}, int8_pattern(24, 41)),
                                  constant(net, DataType::kFloat32, {1, 3}, {0.01, 0.02, 0.03}), Tensor(),
                                  DataType::kFloat16);
    net.mark_output(net.add_matmul(x, w, false, false, constant(net, DataType::kFloat16, {3}, {0.5, -0.5, 0.25}),
                                   "relu"), "y");
    return net.graph();
  };
  const ir::Graph g = network(2);
  const ir::Graph early = fold_constant_dequantize_outside_matmuls(g);
  const ir::Graph fused = eliminate_dead_layers(fold_constant_dequantize(fuse_weight_only_matmul(early)));
  ASSERT_EQ(fused.layers.back().kind, LayerKind::kQuantizedMatMul) << ir::to_text(fused);
  const ir::Layer& q = fused.layers.back();
  EXPECT_EQ(fused.tensors[q.inputs[0]].dtype, DataType::kFloat16);
  EXPECT_EQ(fused.tensors[q.inputs[1]].dims, (Dims{3, 8}));
  EXPECT_EQ(ir::attr_string(q, "activation"), "relu");
  std::vector<HostTensor> in = {random_tensor(DataType::kFloat16, {2, 8}, 8)};
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(fused, BuilderConfig{}, {})), in);
  expect_close(got[0], want[0].dims, want[0].values(), 2e-3, "weight only against the dequantized weight");
  const ir::Graph tall = network(kWeightOnlyMaxRows + 1);
  EXPECT_EQ(ir::to_text(fuse_weight_only_matmul(tall)), ir::to_text(tall));
}

TEST(FuseQuantizedMatMul, TakesTheResidualAndGeluEpilogues) {
  // dequantize(quantize(x)) · dequantize(W) + bias, then a GELU (either form) or a residual r added:
  // fuse_epilogues folds them into the matmul, and the fusion keeps them.
  for (const char* act : {"gelu_erf", "gelu_tanh", "residual"}) {
    SCOPED_TRACE(act);
    const bool residual = std::string(act) == "residual";
    Network net;
    Tensor x = net.add_input("x", DataType::kFloat32, {4, 8});
    Tensor r = net.add_input("r", DataType::kFloat32, {4, 5});
    Tensor sa = constant(net, DataType::kFloat32, {}, {0.05});
    Tensor xd = net.add_dequantize(net.add_quantize(x, sa, Tensor(), DataType::kInt8), sa, Tensor());
    Tensor wd = net.add_dequantize(constant(net, DataType::kInt8, {8, 5}, int8_pattern(40, 43)),
                                   constant(net, DataType::kFloat32, {1, 5}, {0.01, 0.02, 0.03, 0.04, 0.05}), Tensor());
    Tensor y = net.add_matmul(xd, wd, false, false, constant(net, DataType::kFloat32, {5}, {1, -2, 3, -4, 5}));
    net.mark_output(residual ? net.add_elementwise(y, r, "add") : net.add_activation(y, act), "y");
    const ir::Graph g = net.graph();
    const ir::Graph fused = eliminate_dead_layers(
        fold_constant_dequantize(fuse_quantized_matmul(fuse_epilogues(fold_constant_dequantize_outside_matmuls(g)))));
    ASSERT_EQ(fused.layers.back().kind, LayerKind::kQuantizedMatMul) << ir::to_text(fused);
    const ir::Layer& q = fused.layers.back();
    ASSERT_EQ(q.inputs.size(), residual ? 5u : 4u) << ir::to_text(fused);
    if (residual) EXPECT_EQ(fused.tensors[q.inputs[4]].name, "r");
    EXPECT_EQ(ir::attr_string(q, "activation"), residual ? "none" : std::string(act) == "gelu_erf" ? "gelu" : "gelu_tanh");
    std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, {4, 8}, 9),
                                  random_tensor(DataType::kFloat32, {4, 5}, 10)};
    const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
    const auto got = run_engine(Engine(assemble_engine(fused, BuilderConfig{}, {})), in);
    expect_close(got[0], want[0].dims, want[0].values(), 1e-5, "fused against dequantize + float matmul");
  }
}

TEST(FuseWeightOnlyMatMul, RunsOnCudaAndCanBeSwitchedOff) {
  // The CUDA pipeline makes a weight-only product one quantized_matmul reading the int8 weight;
  // TENSORFORGE_DISABLE_PASSES (OptimizeOptions::disabled) leaves it in float, the weight folded.
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat16, {1, 16});
  Tensor w = net.add_dequantize(constant(net, DataType::kInt8, {4, 16}, int8_pattern(64, 37)),
                                constant(net, DataType::kFloat32, {4, 1}, {0.01, 0.02, 0.03, 0.04}), Tensor(),
                                DataType::kFloat16);
  net.mark_output(net.add_matmul(x, w, false, true), "y");
  BuilderConfig cuda;
  cuda.device = DeviceKind::kCUDA;
  auto count = [](const ir::Graph& g, LayerKind kind) {
    int n = 0;
    for (const auto& l : g.layers) n += l.kind == kind;
    return n;
  };
  const ir::Graph fused = opt::optimize(net.graph(), cuda, {});
  EXPECT_EQ(count(fused, LayerKind::kQuantizedMatMul), 1) << ir::to_text(fused);
  EXPECT_EQ(count(fused, LayerKind::kDequantize), 0) << ir::to_text(fused);
  opt::OptimizeOptions off;
  off.disabled = {"fuse_weight_only_matmul"};
  const ir::Graph plain = opt::optimize(net.graph(), cuda, off);
  EXPECT_EQ(count(plain, LayerKind::kQuantizedMatMul), 0) << ir::to_text(plain);
  EXPECT_EQ(count(plain, LayerKind::kMatMul), 1) << ir::to_text(plain);
}


TEST(MergeParallelQuantizedMatMuls, WeightOnlyProjectionsOfOneRowBecomeOne) {
  // Three weight-only products of one float row with biases (query, key, value) become one
  // quantized_matmul over their int8 weights, scales and biases concatenated, and a split; a fourth
  // with another epilogue (relu) stays apart. The outputs are those of the unmerged layers, exactly
  // (each column is summed as before).
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat16, {1, 16});
  const int64_t ns[4] = {4, 6, 4, 3};
  for (int i = 0; i < 4; ++i) {
    std::vector<double> scales, bias;
    for (int64_t j = 0; j < ns[i]; ++j) {
      scales.push_back(0.01 * static_cast<double>(j + 1 + i));
      bias.push_back(0.25 * static_cast<double>(j) - 0.5);
    }
    Tensor w = net.add_dequantize(constant(net, DataType::kInt8, {ns[i], 16}, int8_pattern(static_cast<int>(ns[i]) * 16,
                                                                                          37 + 2 * i)),
                                  constant(net, DataType::kFloat32, {ns[i], 1}, scales), Tensor(), DataType::kFloat16);
    net.mark_output(net.add_matmul(x, w, false, true, constant(net, DataType::kFloat16, {ns[i]}, bias),
                                   i == 3 ? "relu" : "none"),
                    "y" + std::to_string(i));
  }
  const ir::Graph g = net.graph();
  const ir::Graph fused = eliminate_dead_layers(
      fold_constant_dequantize(fuse_weight_only_matmul(fold_constant_dequantize_outside_matmuls(g))));
  const ir::Graph merged = eliminate_dead_layers(merge_parallel_quantized_matmuls(fused));
  auto count = [](const ir::Graph& graph, LayerKind kind) {
    int n = 0;
    for (const auto& l : graph.layers) n += l.kind == kind;
    return n;
  };
  ASSERT_EQ(count(fused, LayerKind::kQuantizedMatMul), 4) << ir::to_text(fused);
  EXPECT_EQ(count(merged, LayerKind::kQuantizedMatMul), 2) << ir::to_text(merged);
  EXPECT_EQ(count(merged, LayerKind::kSplit), 1) << ir::to_text(merged);
  for (const auto& l : merged.layers)
    if (l.kind == LayerKind::kQuantizedMatMul && ir::attr_string(l, "activation") == "none") {
      EXPECT_EQ(merged.tensors[l.inputs[1]].dims, (Dims{14, 16}));
      EXPECT_EQ(merged.tensors[l.inputs[2]].dims, (Dims{14}));
      EXPECT_EQ(merged.tensors[l.inputs[3]].dims, (Dims{14}));
    }
  std::vector<HostTensor> in = {random_tensor(DataType::kFloat16, {1, 16}, 12)};
  const auto want = run_engine(Engine(assemble_engine(fused, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(merged, BuilderConfig{}, {})), in);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < 4; ++i) expect_close(got[i], want[i].dims, want[i].values(), 0, "merged against unmerged");
}
