// move_quantize_before_max_pool: golden IR, the CPU engine of the rewritten graph against the
// original's (bit for bit: quantizing is monotone), what the pass leaves alone, and the CUDA pipeline
// on a quantized stem (a float16 stem convolution, the max pool on int8, the next convolution int8).
#include <gtest/gtest.h>

#include <string>

#include "ir/parser.h"
#include "ir/printer.h"
#include "opt/move_quantize_before_max_pool.h"
#include "opt/pass.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

using namespace tft;

namespace {

// x -> max pool 3x3/2 -> quantize (`scale`, `zero_point`) -> dequantize; `extra` adds layers reading the pooling.
std::string pooled(const std::string& mode = "max", const std::string& scale = "float32[]{0.05}",
                   const std::string& extra = "") {
  return "input %x: float32[2,4,7,7]\n"
         "%p: float32[2,4,4,4] = pooling \"pool\" (%x) {mode=\"" + mode + "\", kernel=[3, 3], stride=[2, 2], "
         "padding=[1, 1]}\n"
         "%s: float32[" + std::string(scale.find("[4]") != std::string::npos ? "4" : "") + "] = constant \"s\" () {value=" +
         scale + "}\n"
         "%q: int8[2,4,4,4] = quantize \"q\" (%p, %s, none) {dtype=\"int8\"}\n"
         "%y: float32[2,4,4,4] = dequantize \"dq\" (%q, %s, none)\n" + extra +
         "output %y\n";
}

}  // namespace

TEST(PassGolden, MoveQuantizeBeforeMaxPool) {
  const std::string after =
      "input %x: float32[2,4,7,7]\n"
      "%s: float32[] = constant \"s\" () {value=float32[]{0.05}}\n"
      "%pool.quantize: int8[2,4,7,7] = quantize \"pool.quantize\" (%x, %s, none) {dtype=\"int8\"}\n"
      "%q: int8[2,4,4,4] = pooling \"pool\" (%pool.quantize) {mode=\"max\", kernel=[3, 3], stride=[2, 2], "
      "padding=[1, 1]}\n"
      "%y: float32[2,4,4,4] = dequantize \"dq\" (%q, %s, none)\n"
      "output %y\n";
  const ir::Graph g = ir::parse_text(pooled());
  const ir::Graph out = move_quantize_before_max_pool(g);
  EXPECT_EQ(ir::to_text(out), ir::to_text(ir::parse_text(after)));
  // Equal on the CPU: the int8 maximum is the quantized float maximum (values spread over the int8
  // range and past it, so some saturate).
  HostTensor x = random_tensor(DataType::kFloat32, {2, 4, 7, 7}, 3);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, x.get(i) * 9.0);
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), {x});
  const auto got = run_engine(Engine(assemble_engine(out, BuilderConfig{}, {})), {x});
  for (int64_t i = 0; i < want[0].numel(); ++i) ASSERT_EQ(got[0].get(i), want[0].get(i)) << i;
}

TEST(PassGolden, MoveQuantizeBeforeMaxPoolLeavesOthersAlone) {
  // Average pooling (no int8 average), a per-channel scale, a pooling another layer reads too.
  const std::string twice = "%r: float32[2,4,4,4] = activation \"r\" (%p) {op=\"relu\"}\noutput %r\n";
  for (const std::string& text : {pooled("avg"), pooled("max", "float32[4]{0.05, 0.1, 0.2, 0.4}"),
                                  pooled("max", "float32[]{0.05}", twice)}) {
    const ir::Graph g = ir::parse_text(text);
    EXPECT_EQ(ir::to_text(move_quantize_before_max_pool(g)), ir::to_text(g)) << text;
  }
}

TEST(MoveQuantizeBeforeMaxPool, TheCudaPipelinePoolsAStemsResultInInt8) {
  // A float16 stem as tensorforge.quantize writes it (NCHW): the input quantized for a 7x7/2
  // convolution of 3 channels (batch norm folded: bias, relu), a 3x3/2 max pool, its result quantized
  // for a 1x1 convolution. The CUDA pipeline keeps the stem float16 (fuse_quantized_conv leaves
  // 3-channel layers), moves the pool's quantize before it, so the pooling runs on int8, and makes
  // the 1x1 convolution an int8 layer that reads the pooled int8: two quantizes left (the input's
  // and the stem's result) and the input's dequantize.
  const std::string text =
      "input %x: float16[2,3,16,16]\n"
      "%s0: float32[] = constant \"s0\" () {value=float32[]{0.03125}}\n"
      "%s1: float32[] = constant \"s1\" () {value=float32[]{0.0625}}\n"
      "%q0: int8[2,3,16,16] = quantize \"q0\" (%x, %s0, none) {dtype=\"int8\"}\n"
      "%d0: float16[2,3,16,16] = dequantize \"d0\" (%q0, %s0, none) {dtype=\"float16\"}\n"
      "%w1: float16[64,3,7,7] = constant \"w1\" () {value=float16[64,3,7,7]}\n"
      "%b1: float16[64] = constant \"b1\" () {value=float16[64]}\n"
      "%a: float16[2,64,8,8] = convolution \"stem\" (%d0, %w1, %b1) {activation=\"relu\", stride=[2, 2], "
      "padding=[3, 3]}\n"
      "%p: float16[2,64,4,4] = pooling \"pool\" (%a) {mode=\"max\", kernel=[3, 3], stride=[2, 2], padding=[1, 1]}\n"
      "%q1: int8[2,64,4,4] = quantize \"q1\" (%p, %s1, none) {dtype=\"int8\"}\n"
      "%d1: float16[2,64,4,4] = dequantize \"d1\" (%q1, %s1, none) {dtype=\"float16\"}\n"
      "%w2: float16[64,64,1,1] = constant \"w2\" () {value=float16[64,64,1,1]}\n"
      "%c: float16[2,64,4,4] = convolution \"c2\" (%d1, %w2, none) {activation=\"relu\"}\n"
      "output %c\n";
  const ir::Graph g = ir::parse_text(text);
  BuilderConfig cuda;
  cuda.device = DeviceKind::kCUDA;
  const ir::Graph out = opt::optimize(g, cuda, {});
  const std::string printed = ir::to_text(out);
  int convs = 0, quantizes = 0, dequantizes = 0, int8_pools = 0;
  for (const ir::Layer& l : out.layers) {
    if (l.kind == LayerKind::kQuantizedConvolution) {
      ++convs;
      EXPECT_EQ(out.tensors[l.inputs[0]].dtype, DataType::kInt8) << printed;
    }
    quantizes += l.kind == LayerKind::kQuantize;
    dequantizes += l.kind == LayerKind::kDequantize;
    int8_pools += l.kind == LayerKind::kPooling && out.tensors[l.inputs[0]].dtype == DataType::kInt8;
  }
  EXPECT_EQ(convs, 1) << printed;
  EXPECT_EQ(int8_pools, 1) << printed;
  EXPECT_EQ(quantizes, 2) << printed;
  EXPECT_EQ(dequantizes, 1) << printed;
  // The CPU kernels run the optimized graph (its int8 layers' reference kernels) near the original.
  const std::vector<HostTensor> in = {random_tensor(DataType::kFloat16, {2, 3, 16, 16}, 21)};
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(out, BuilderConfig{}, {})), in);
  expect_within_fraction(got[0], want[0], 0.05);
}
