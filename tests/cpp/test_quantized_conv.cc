// quantized_convolution: the CPU kernel against the float convolution of the same integers (exact
// in float32) followed by the epilogue as separate layers, in both layouts, with groups, stride,
// padding, dilation, bias, residual and relu; the layer's errors; and fuse_quantized_conv as a
// golden test (text in, text out, both graphs run) with the patterns it must leave alone.
#include "ir/parser.h"
#include "ir/printer.h"
#include "opt/eliminate_dead_layers.h"
#include "opt/fuse_quantized_conv.h"
#include "opt/pass.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

using namespace tft;

namespace {

HostTensor values(DataType t, Dims d, const std::vector<double>& v) { return host_values(t, d, v); }

Tensor constant(Network& net, const HostTensor& h) { return net.add_constant(to_weights(h)); }

// A window every test below uses: 3x3, stride 2, padding 1, dilation 1 or 2, two groups.
Attributes window(bool nhwc, int64_t dilation) {
  return {{"stride", std::vector<int64_t>{2, 2}},  {"padding", std::vector<int64_t>{1, 1}},
          {"dilation", std::vector<int64_t>{dilation, dilation}}, {"groups", int64_t(2)},
          {"layout", std::string(nhwc ? "nhwc" : "nchw")}};
}

}  // namespace

TEST(QuantizedConvolution, EqualsTheFloatConvolutionOfItsIntegersThenTheEpilogue) {
  for (bool nhwc : {false, true})
    for (int64_t dil : {1, 2}) {
      const Dims xd = nhwc ? Dims{2, 7, 6, 4} : Dims{2, 4, 7, 6}, wd = nhwc ? Dims{6, 3, 3, 2} : Dims{6, 2, 3, 3};
      const HostTensor xq = random_tensor(DataType::kInt8, xd, 3, -128, 127);
      const HostTensor wq = random_tensor(DataType::kInt8, wd, 4, -127, 127);
      const HostTensor scale = values(DataType::kFloat32, {6}, {0.01, 0.02, 0.005, 0.03, 0.001, 0.0125});
      const HostTensor bias = values(DataType::kFloat32, {6}, {0.5, -1, 0.25, 2, -0.75, 0});
      // The quantized layer: int8 x and weight, scale, bias, residual (an input), relu.
      Network q;
      Tensor x = q.add_input("x", DataType::kInt8, xd);
      Attributes attrs = window(nhwc, dil);
      attrs["activation"] = std::string("relu");
      attrs["dtype"] = std::string("float32");
      Tensor probe = q.add_layer(LayerKind::kQuantizedConvolution, {x, constant(q, wq), constant(q, scale), constant(q, bias)},
                                 attrs)[0];
      const Dims yd = q.graph().tensors[probe.id()].dims;
      Tensor r = q.add_input("r", DataType::kFloat32, yd);
      q.mark_output(q.add_layer(LayerKind::kQuantizedConvolution,
                                {x, constant(q, wq), constant(q, scale), constant(q, bias), r}, attrs)[0], "y");
      // The reference: the float convolution of the same integers (exact: sums below 2^24), then
      // * scale, + bias, + residual, relu as layers of their own, in that order.
      Network f;
      Tensor fx = f.add_input("x", DataType::kInt8, xd);
      Tensor conv = f.add_layer(LayerKind::kConvolution,
                                {f.add_cast(fx, DataType::kFloat32), f.add_cast(constant(f, wq), DataType::kFloat32)},
                                window(nhwc, dil))[0];
      const Dims per_channel = nhwc ? Dims{1, 1, 1, 6} : Dims{1, 6, 1, 1};
      HostTensor s4 = scale, b4 = bias;
      s4.dims = b4.dims = per_channel;
      Tensor fr = f.add_input("r", DataType::kFloat32, yd);
      Tensor v = f.add_elementwise(f.add_elementwise(conv, constant(f, s4), "mul"), constant(f, b4), "add");
      f.mark_output(f.add_activation(f.add_elementwise(v, fr, "add"), "relu"), "y");
      const std::vector<HostTensor> in = {xq, random_tensor(DataType::kFloat32, yd, 5)};
      const auto want = run(f, in), got = run(q, in);
      expect_close(got[0], want[0].dims, want[0].values(), 0, nhwc ? "nhwc" : "nchw");
    }
}

TEST(QuantizedConvolution, Int8OutputsRoundHalfToEvenAndSaturate) {
  // Without a residual the layer may write int8: act(sum * scale + bias) rounded half to even and
  // saturated, as a quantize with scale 1 of the float result computes it.
  const Dims xd{1, 5, 5, 8}, wd{4, 3, 3, 8};
  const HostTensor xq = random_tensor(DataType::kInt8, xd, 6, -128, 127);
  const HostTensor wq = random_tensor(DataType::kInt8, wd, 7, -127, 127);
  const HostTensor scale = values(DataType::kFloat32, {4}, {0.001, 0.01, 0.0005, 0.004});  // some saturate
  const HostTensor bias = values(DataType::kFloat32, {4}, {0.5, -1.5, 2.5, 0});
  const Attributes conv = {{"padding", std::vector<int64_t>{1, 1}}, {"layout", std::string("nhwc")}};
  Network q;
  Tensor x = q.add_input("x", DataType::kInt8, xd);
  Attributes attrs = conv;
  attrs["dtype"] = std::string("int8");
  q.mark_output(q.add_layer(LayerKind::kQuantizedConvolution, {x, constant(q, wq), constant(q, scale), constant(q, bias)},
                            attrs)[0], "y");
  Network f;
  Tensor fx = f.add_input("x", DataType::kInt8, xd);
  Tensor c = f.add_layer(LayerKind::kConvolution,
                         {f.add_cast(fx, DataType::kFloat32), f.add_cast(constant(f, wq), DataType::kFloat32)}, conv)[0];
  HostTensor s4 = scale, b4 = bias;
  s4.dims = b4.dims = Dims{1, 1, 1, 4};
  Tensor v = f.add_elementwise(f.add_elementwise(c, constant(f, s4), "mul"), constant(f, b4), "add");
  f.mark_output(f.add_quantize(v, constant(f, values(DataType::kFloat32, {}, {1.0})), Tensor(), DataType::kInt8), "y");
  const auto want = run(f, {xq}), got = run(q, {xq});
  ASSERT_EQ(got[0].dtype, DataType::kInt8);
  expect_close(got[0], want[0].dims, want[0].values(), 0, "int8 output");
  int saturated = 0;
  for (double e : want[0].values()) saturated += e == 127 || e == -128;
  EXPECT_GT(saturated, 0) << "the case should reach the int8 range's ends";
}

TEST(QuantizedConvolution, AnInt8ResidualIsScaledByItsResidualScale) {
  // act(sum * scale + bias + r * rs) for an int8 residual r, into float16 and into int8.
  const Dims xd{2, 4, 5, 8}, wd{8, 3, 3, 8};
  const HostTensor xq = random_tensor(DataType::kInt8, xd, 9, -128, 127);
  const HostTensor wq = random_tensor(DataType::kInt8, wd, 10, -127, 127);
  const HostTensor rq = random_tensor(DataType::kInt8, {2, 4, 5, 8}, 11, -128, 127);
  const HostTensor scale = values(DataType::kFloat32, {8}, {0.001, 0.002, 0.0005, 0.004, 0.003, 0.001, 0.002, 0.0025});
  const HostTensor bias = values(DataType::kFloat32, {8}, {0.5, -1.5, 2.5, 0, 1, -1, 0.25, 3});
  const HostTensor rs = values(DataType::kFloat32, {}, {0.0625});
  const Attributes conv = {{"padding", std::vector<int64_t>{1, 1}}, {"layout", std::string("nhwc")},
                           {"activation", std::string("relu")}};
  for (DataType out : {DataType::kFloat32, DataType::kInt8}) {
    Network q;
    Tensor x = q.add_input("x", DataType::kInt8, xd);
    Tensor r = q.add_input("r", DataType::kInt8, rq.dims);
    Attributes attrs = conv;
    attrs["dtype"] = std::string(to_string(out));
    q.mark_output(q.add_layer(LayerKind::kQuantizedConvolution,
                              {x, constant(q, wq), constant(q, scale), constant(q, bias), r, constant(q, rs)}, attrs)[0],
                  "y");
    Network f;
    Tensor fx = f.add_input("x", DataType::kInt8, xd);
    Tensor fr = f.add_input("r", DataType::kInt8, rq.dims);
    Attributes plain = conv;
    plain.erase("activation");
    Tensor c = f.add_layer(LayerKind::kConvolution,
                           {f.add_cast(fx, DataType::kFloat32), f.add_cast(constant(f, wq), DataType::kFloat32)}, plain)[0];
    HostTensor s4 = scale, b4 = bias;
    s4.dims = b4.dims = Dims{1, 1, 1, 8};
    Tensor v = f.add_elementwise(f.add_elementwise(c, constant(f, s4), "mul"), constant(f, b4), "add");
    Tensor res = f.add_elementwise(f.add_cast(fr, DataType::kFloat32), constant(f, rs), "mul");
    Tensor y = f.add_activation(f.add_elementwise(v, res, "add"), "relu");
    if (out == DataType::kInt8)
      y = f.add_quantize(y, constant(f, values(DataType::kFloat32, {}, {1.0})), Tensor(), DataType::kInt8);
    f.mark_output(y, "y");
    const std::vector<HostTensor> in = {xq, rq};
    const auto want = run(f, in), got = run(q, in);
    expect_close(got[0], want[0].dims, want[0].values(), 0, to_string(out));
  }
}

TEST(QuantizedConvolution, ErrorsSayWhatIsWrong) {
  auto layer = [](DataType xt, Dims xd, const std::string& act, Dims scale) {
    Network net;
    Tensor x = net.add_input("x", xt, xd);
    Tensor w = constant(net, HostTensor(DataType::kInt8, {4, 4, 1, 1}));
    net.add_layer(LayerKind::kQuantizedConvolution, {x, w, constant(net, HostTensor(DataType::kFloat32, scale))},
                  {{"activation", act}, {"dtype", std::string("float16")}});
  };
  expect_error([&] { layer(DataType::kUInt8, {1, 4, 2, 2}, "none", {4}); }, ErrorCode::kInvalidNetwork,
               {"x and the weight must be int8"});
  expect_error([&] { layer(DataType::kInt8, {1, 4, 2}, "none", {4}); }, ErrorCode::kInvalidNetwork,
               {"2-D", "rank 4"});
  expect_error([&] { layer(DataType::kInt8, {1, 4, 2, 2}, "silu", {4}); }, ErrorCode::kInvalidNetwork,
               {"activation must be \"none\" or \"relu\""});
  expect_error([&] { layer(DataType::kInt8, {1, 4, 2, 2}, "none", {1}); }, ErrorCode::kInvalidNetwork,
               {"scale must be float32 [Cout] = [4]"});
  // An int8 residual needs its scale.
  Network net;
  Tensor x = net.add_input("x", DataType::kInt8, {1, 2, 2, 4});
  Tensor r = net.add_input("r", DataType::kInt8, {1, 2, 2, 4});
  expect_error([&] {
    net.add_layer(LayerKind::kQuantizedConvolution,
                  {x, constant(net, HostTensor(DataType::kInt8, {4, 1, 1, 4})),
                   constant(net, HostTensor(DataType::kFloat32, {4})), Tensor(), r},
                  {{"layout", std::string("nhwc")}, {"dtype", std::string("int8")}});
  }, ErrorCode::kInvalidNetwork, {"the residual must be int8 with a residual_scale"});
}

namespace {

ir::Graph fuse_and_clean(const ir::Graph& g) { return eliminate_dead_layers(fuse_quantized_conv(g)); }

// A channels-last block: quantize, dequantize, a 3x3 convolution with bias, residual and `act`.
std::string block(const char* act, const char* zero_point = "none", int64_t cout = 8) {
  const std::string c = std::to_string(cout);
  return std::string("input %x: float32[2,6,6,8]\n"
                     "input %r: float32[2,6,6,") + c + "]\n"
         "%s: float32[] = constant \"s\" () {value=float32[]{0.03125}}\n"
         "%z: int32[] = constant \"z\" () {value=int32[]{3}}\n"
         "%xq: int8[2,6,6,8] = quantize \"xq\" (%x, %s, " + zero_point + ") {dtype=\"int8\"}\n"
         "%xd: float32[2,6,6,8] = dequantize \"xd\" (%xq, %s, " + zero_point + ")\n"
         "%w: float32[" + c + ",3,3,8] = constant \"w\" () {value=float32[" + c + ",3,3,8]}\n"
         "%b: float32[" + c + "] = constant \"b\" () {value=float32[" + c + "]}\n"
         "%y: float32[2,6,6," + c + "] = convolution \"c\" (%xd, %w, %b, %r) {activation=\"" + act +
         "\", layout=\"nhwc\", padding=[1, 1]}\n"
         "output %y\n";
}

}  // namespace

TEST(PassGolden, FuseQuantizedConvTakesTheInt8Activation) {
  // The weight (the parser's pattern: k/32 in [-1, 1), -1 in every output channel) quantized per
  // output channel with scale 1/127: the results differ from the float convolution's by that
  // rounding alone.
  const std::string after =
      "input %x: float32[2,6,6,8]\n"
      "input %r: float32[2,6,6,8]\n"
      "%s: float32[] = constant \"s\" () {value=float32[]{0.03125}}\n"
      "%xq: int8[2,6,6,8] = quantize \"xq\" (%x, %s, none) {dtype=\"int8\"}\n"
      "%c.qweight: int8[8,3,3,8] = constant \"c.qweight\" () {value=int8[8,3,3,8]}\n"
      "%c.scale: float32[8] = constant \"c.scale\" () {value=float32[8]{0.000246062991, 0.000246062991, "
      "0.000246062991, 0.000246062991, 0.000246062991, 0.000246062991, 0.000246062991, 0.000246062991}}\n"
      "%c.bias: float32[8] = constant \"c.bias\" () {value=float32[8]}\n"
      "%y: float32[2,6,6,8] = quantized_convolution \"c\" (%xq, %c.qweight, %c.scale, %c.bias, %r) "
      "{activation=\"relu\", dtype=\"float32\", layout=\"nhwc\", padding=[1, 1]}\n"
      "output %y\n";
  const ir::Graph g = ir::parse_text(block("relu"));
  const ir::Graph out = fuse_and_clean(g);
  EXPECT_EQ(ir::to_text(out), ir::to_text(ir::parse_text(after)));
  // The scales: the activation's 1/32 times each channel's 1/127.
  for (const ir::Layer& l : out.layers)
    if (l.name == "c.scale") {
      const float* sc = static_cast<const float*>(ir::attr_weights(l, "value").data());
      for (int k = 0; k < 8; ++k) EXPECT_FLOAT_EQ(sc[k], static_cast<float>(0.03125 / 127)) << k;
    }
  std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, {2, 6, 6, 8}, 1),
                                random_tensor(DataType::kFloat32, {2, 6, 6, 8}, 2)};
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(out, BuilderConfig{}, {})), in);
  // Each weight moves by at most half a step (1/254) and x's are at most 4 in size over 72 terms:
  // a bound of 72 * 4 / 254 ≈ 1.2, far above the typical error; assert a tight relative one.
  expect_within_fraction(got[0], want[0], 0.02);
  // Without the residual, the quantize that alone reads the result folds in: the layer writes int8,
  // its scales and bias divided by the quantize's 0.5.
  std::string chain = block("relu");
  chain.replace(chain.find(", %r) {activation"), 5, ")");
  chain.replace(chain.find("input %r: float32[2,6,6,8]\n"), 27, "");
  chain.replace(chain.find("output %y\n"), 10,
                "%h: float32[] = constant \"h\" () {value=float32[]{0.5}}\n"
                "%yq: int8[2,6,6,8] = quantize \"yq\" (%y, %h, none) {dtype=\"int8\"}\n"
                "output %yq\n");
  const ir::Graph cg = ir::parse_text(chain);
  const ir::Graph cout = fuse_and_clean(cg);
  const std::string text = ir::to_text(cout);
  EXPECT_NE(text.find("%yq: int8[2,6,6,8] = quantized_convolution \"c\" (%xq, %c.qweight, %c.scale, %c.bias) "
                      "{activation=\"relu\", dilation=[], dtype=\"int8\""), std::string::npos) << text;
  EXPECT_EQ(text.find(" quantize \"yq\""), std::string::npos) << text;
  for (const ir::Layer& l : cout.layers)
    if (l.name == "c.scale")
      EXPECT_FLOAT_EQ(static_cast<const float*>(ir::attr_weights(l, "value").data())[0],
                      static_cast<float>(0.03125 / 127 / 0.5));
  const std::vector<HostTensor> cin = {random_tensor(DataType::kFloat32, {2, 6, 6, 8}, 3)};
  const auto cw = run_engine(Engine(assemble_engine(cg, BuilderConfig{}, {})), cin);
  const auto cq = run_engine(Engine(assemble_engine(cout, BuilderConfig{}, {})), cin);
  int off = 0;
  for (int64_t i = 0; i < cw[0].numel(); ++i) {
    EXPECT_LE(std::fabs(cq[0].get(i) - cw[0].get(i)), 3) << i;  // the weights' rounding, in steps of 0.5
    off += cq[0].get(i) != cw[0].get(i);
  }
  EXPECT_LT(off, cw[0].numel() / 4) << "int8 results that moved";
  // A residual that is a dequantized int8 tensor is read as int8 with its scale, and then the
  // quantize after the layer folds in too: int8 in, int8 residual, int8 out.
  std::string block_q = block("relu");
  block_q.replace(block_q.find("input %r: float32[2,6,6,8]\n"), 27,
                  "input %r0: float32[2,6,6,8]\n"
                  "%sr: float32[] = constant \"sr\" () {value=float32[]{0.25}}\n"
                  "%rq: int8[2,6,6,8] = quantize \"rq\" (%r0, %sr, none) {dtype=\"int8\"}\n"
                  "%r: float32[2,6,6,8] = dequantize \"rd\" (%rq, %sr, none)\n");
  block_q.replace(block_q.find("output %y\n"), 10,
                  "%h: float32[] = constant \"h\" () {value=float32[]{0.5}}\n"
                  "%yq: int8[2,6,6,8] = quantize \"yq\" (%y, %h, none) {dtype=\"int8\"}\n"
                  "output %yq\n");
  const ir::Graph rg = ir::parse_text(block_q);
  const ir::Graph rout = fuse_and_clean(rg);
  const std::string rtext = ir::to_text(rout);
  EXPECT_NE(rtext.find("%yq: int8[2,6,6,8] = quantized_convolution \"c\" (%xq, %c.qweight, %c.scale, %c.bias, %rq, "
                       "%c.residual_scale)"), std::string::npos) << rtext;
  EXPECT_EQ(rtext.find("dequantize"), std::string::npos) << rtext;
  for (const ir::Layer& l : rout.layers)
    if (l.name == "c.residual_scale")
      EXPECT_FLOAT_EQ(*static_cast<const float*>(ir::attr_weights(l, "value").data()), 0.5f);  // 0.25 / 0.5
  const std::vector<HostTensor> rin = {random_tensor(DataType::kFloat32, {2, 6, 6, 8}, 4),
                                       random_tensor(DataType::kFloat32, {2, 6, 6, 8}, 5)};
  const auto rw = run_engine(Engine(assemble_engine(rg, BuilderConfig{}, {})), rin);
  const auto rq = run_engine(Engine(assemble_engine(rout, BuilderConfig{}, {})), rin);
  for (int64_t i = 0; i < rw[0].numel(); ++i) EXPECT_LE(std::fabs(rq[0].get(i) - rw[0].get(i)), 3) << i;
  // Left alone: a zero point, an activation the int8 kernels do not apply, channel counts that are
  // not multiples of 4.
  for (const std::string& text : {block("relu", "%z"), block("silu"), block("relu", "none", 6)}) {
    const ir::Graph other = ir::parse_text(text);
    EXPECT_EQ(ir::to_text(fuse_quantized_conv(other)), ir::to_text(other)) << text;
  }
}

TEST(PassGolden, FuseQuantizedConvLeavesAThreeChannelStemFloat) {
  // A stem (3 channels) keeps its float form: its float16 space-to-depth plans outrun the int8
  // small-channel kernel on the GPU, whatever its output channels.
  for (const int64_t cout : {8, 16, 64}) {
    const std::string c = std::to_string(cout);
    const std::string text =
        std::string("input %x: float32[2,6,6,3]\n"
                    "%s: float32[] = constant \"s\" () {value=float32[]{0.03125}}\n"
                    "%xq: int8[2,6,6,3] = quantize \"xq\" (%x, %s, none) {dtype=\"int8\"}\n"
                    "%xd: float32[2,6,6,3] = dequantize \"xd\" (%xq, %s, none)\n"
                    "%w: float32[") + c + ",3,3,3] = constant \"w\" () {value=float32[" + c + ",3,3,3]}\n"
        "%y: float32[2,6,6," + c + "] = convolution \"c\" (%xd, %w) {activation=\"relu\", layout=\"nhwc\", "
        "padding=[1, 1]}\n"
        "output %y\n";
    const ir::Graph g = ir::parse_text(text);
    EXPECT_EQ(ir::to_text(fuse_quantized_conv(g)), ir::to_text(g)) << text;
  }
}

TEST(FuseQuantizedConv, TheCudaPipelineKeepsAQuantizedResidualBlockInt8) {
  // A float16 block as tensorforge.quantize(residuals=True) writes it (NCHW, before channels_last):
  // x quantized once for the first convolution and for the residual, the first convolution's relu
  // quantized for the second, whose batch-norm-folded result plus the residual goes through relu to
  // the output. The CUDA pipeline makes both convolutions int8 layers: the first writes int8 for the
  // second (its quantize folded in), the second reads x's int8 as its residual (with the scale) and
  // writes float16; only the input's quantize remains, and no dequantize.
  const std::string text =
      "input %x: float16[2,8,6,6]\n"
      "%s0: float32[] = constant \"s0\" () {value=float32[]{0.03125}}\n"
      "%s1: float32[] = constant \"s1\" () {value=float32[]{0.0625}}\n"
      "%q0: int8[2,8,6,6] = quantize \"q0\" (%x, %s0, none) {dtype=\"int8\"}\n"
      "%d0: float16[2,8,6,6] = dequantize \"d0\" (%q0, %s0, none) {dtype=\"float16\"}\n"
      "%w1: float16[8,8,1,1] = constant \"w1\" () {value=float16[8,8,1,1]}\n"
      "%a: float16[2,8,6,6] = convolution \"c1\" (%d0, %w1, none) {activation=\"relu\"}\n"
      "%q1: int8[2,8,6,6] = quantize \"q1\" (%a, %s1, none) {dtype=\"int8\"}\n"
      "%d1: float16[2,8,6,6] = dequantize \"d1\" (%q1, %s1, none) {dtype=\"float16\"}\n"
      "%w2: float16[8,8,3,3] = constant \"w2\" () {value=float16[8,8,3,3]}\n"
      "%b2: float16[8] = constant \"b2\" () {value=float16[8]}\n"
      "%c: float16[2,8,6,6] = convolution \"c2\" (%d1, %w2, %b2) {padding=[1, 1]}\n"
      "%sum: float16[2,8,6,6] = elementwise \"add\" (%c, %d0) {op=\"add\"}\n"
      "%y: float16[2,8,6,6] = activation \"relu\" (%sum) {op=\"relu\"}\n"
      "output %y\n";
  const ir::Graph g = ir::parse_text(text);
  BuilderConfig cuda;
  cuda.device = DeviceKind::kCUDA;
  const ir::Graph out = opt::optimize(g, cuda, {});
  const std::string printed = ir::to_text(out);
  int convs = 0, int8_outputs = 0, quantizes = 0, dequantizes = 0;
  for (const ir::Layer& l : out.layers) {
    if (l.kind == LayerKind::kQuantizedConvolution) {
      ++convs;
      int8_outputs += out.tensors[l.outputs[0]].dtype == DataType::kInt8;
      if (l.name == "c2") {
        ASSERT_EQ(l.inputs.size(), 6u) << printed;
        EXPECT_EQ(out.tensors[l.inputs[4]].dtype, DataType::kInt8) << printed;  // x's int8, read as the residual
        EXPECT_EQ(out.tensors[l.inputs[4]].name, "q0") << printed;
      }
    }
    quantizes += l.kind == LayerKind::kQuantize;
    dequantizes += l.kind == LayerKind::kDequantize;
  }
  EXPECT_EQ(convs, 2) << printed;
  EXPECT_EQ(int8_outputs, 1) << printed;
  EXPECT_EQ(quantizes, 1) << printed;
  EXPECT_EQ(dequantizes, 0) << printed;
  // The CPU kernels run the optimized graph (its int8 layers' reference kernels) near the original.
  const std::vector<HostTensor> in = {random_tensor(DataType::kFloat16, {2, 8, 6, 6}, 12)};
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(out, BuilderConfig{}, {})), in);
  expect_within_fraction(got[0], want[0], 0.05);
}
