// Golden tests of the quantized-matmul passes: fold_constant_dequantize (the pipeline's
// fold_constant_dequantize_after_fusion) and its first form, which spares the weights the fusions
// may take (the pipeline's fold_constant_dequantize), fuse_quantized_matmul, fuse_float8_matmul and
// fuse_weight_only_matmul. Network text in, the pass, expected network text out (its constants
// computed here by hand), and both graphs' outputs compared on the CPU kernels.
#include <gtest/gtest.h>

#include <string>

#include "golden_util.h"
#include "opt/fold_constant_dequantize.h"
#include "opt/fuse_quantized_matmul.h"
#include "opt/fuse_weight_only_matmul.h"

using namespace tft;

namespace {

// An int8 weight W [3, 2] (columns (1, 3, 5) and (-2, -4, 127)) and its per-column scales.
const std::string kWeight =
    "%w: int8[3,2] = constant \"w\" () {value=int8[3,2]{1, -2, 3, -4, 5, 127}}\n"
    "%s: float32[2] = constant \"s\" () {value=float32[2]{0.5, 0.25}}\n";

}  // namespace

TEST(PassGolden, FoldConstantDequantizeMakesTheFloatWeight) {
  expect_golden(fold_constant_dequantize,
                "input %x: float32[4,3]\n" + kWeight +
                    "%wd: float32[3,2] = dequantize \"wd\" (%w, %s, none)\n"
                    "%y: float32[4,2] = matmul \"y\" (%x, %wd) {}\n"
                    "output %y\n",
                "input %x: float32[4,3]\n" + kWeight +  // W's constants stay for eliminate_dead_layers
                    "%wd: float32[3,2] = constant \"wd\" () {value=float32[3,2]{0.5, -0.5, 1.5, -1, 2.5, 31.75}}\n"
                    "%y: float32[4,2] = matmul \"y\" (%x, %wd) {}\n"
                    "output %y\n");
}

TEST(PassGolden, FoldConstantDequantizeOutsideMatMulsSparesTheInt8Products) {
  // y1 reads a float activation of more rows than fuse_weight_only_matmul takes: its weight folds;
  // y2's first operand is a dequantized int8 tensor, so its weight stays for fuse_quantized_matmul.
  const std::string head =
      "input %x: float32[17,3]\n" + kWeight +
      "%sa: float32[] = constant \"sa\" () {value=float32[]{0.5}}\n"
      "%xq: int8[17,3] = quantize \"xq\" (%x, %sa, none) {dtype=\"int8\"}\n"
      "%xd: float32[17,3] = dequantize \"xd\" (%xq, %sa, none)\n";
  const std::string tail =
      "%w2d: float32[3,2] = dequantize \"w2d\" (%w, %s, none)\n"
      "%y2: float32[17,2] = matmul \"y2\" (%xd, %w2d) {}\n"
      "output %y1\noutput %y2\n";
  expect_golden(fold_constant_dequantize_outside_matmuls,
                head +
                    "%w1d: float32[3,2] = dequantize \"w1d\" (%w, %s, none)\n"
                    "%y1: float32[17,2] = matmul \"y1\" (%x, %w1d) {}\n" +
                    tail,
                head +
                    "%w1d: float32[3,2] = constant \"w1d\" () {value=float32[3,2]{0.5, -0.5, 1.5, -1, 2.5, 31.75}}\n"
                    "%y1: float32[17,2] = matmul \"y1\" (%x, %w1d) {}\n" +
                    tail);
}

TEST(PassGolden, FuseQuantizedMatMulFoldsTheZeroPointIntoTheBias) {
  // dequantize(quantize(x, 0.5, 2)) · dequantize(W, s) + b, relu: one quantized_matmul of the int8
  // activation and W as [2, 3], scale 0.5 · s = (0.25, 0.125), and the bias less scale · 2 · ΣW per
  // column: 1 - 0.25 · 2 · 9 = -3.5 and -1 - 0.125 · 2 · 121 = -31.25.
  const std::string head =
      "input %x: float32[4,3]\n" + kWeight +
      "%sa: float32[] = constant \"sa\" () {value=float32[]{0.5}}\n"
      "%za: int32[] = constant \"za\" () {value=int32[]{2}}\n"
      "%b: float32[2] = constant \"b\" () {value=float32[2]{1, -1}}\n"
      "%xq: int8[4,3] = quantize \"xq\" (%x, %sa, %za) {dtype=\"int8\", qmin=-128, qmax=127}\n"
      "%xd: float32[4,3] = dequantize \"xd\" (%xq, %sa, %za)\n"
      "%wd: float32[3,2] = dequantize \"wd\" (%w, %s, none)\n";
  expect_golden(fuse_quantized_matmul,
                head +
                    "%y: float32[4,2] = matmul \"y\" (%xd, %wd, %b) {activation=\"relu\"}\n"
                    "output %y\n",
                head +  // the dequantizes stay for eliminate_dead_layers
                    "%y.scale: float32[2] = constant \"y.scale\" () {value=float32[2]{0.25, 0.125}}\n"
                    "%y.bias: float32[2] = constant \"y.bias\" () {value=float32[2]{-3.5, -31.25}}\n"
                    "%y.weight: int8[2,3] = constant \"y.weight\" () {value=int8[2,3]{1, 3, 5, -2, -4, 127}}\n"
                    "%y: float32[4,2] = quantized_matmul \"y\" (%xq, %y.weight, %y.scale, %y.bias) "
                    "{activation=\"relu\", dtype=\"float32\", transpose_b=1}\n"
                    "output %y\n");
}

TEST(PassGolden, FuseWeightOnlyMatMulReadsTheInt8Weight) {
  // Two float16 rows times dequantize(W, s): a quantized_matmul of the float rows and W as [2, 3]
  // with W's scales.
  const std::string head =
      "input %x: float16[2,3]\n" + kWeight +
      "%wd: float16[3,2] = dequantize \"wd\" (%w, %s, none) {dtype=\"float16\"}\n";
  expect_golden(fuse_weight_only_matmul,
                head +
                    "%y: float16[2,2] = matmul \"y\" (%x, %wd) {}\n"
                    "output %y\n",
                head +
                    "%y.scale: float32[2] = constant \"y.scale\" () {value=float32[2]{0.5, 0.25}}\n"
                    "%y.weight: int8[2,3] = constant \"y.weight\" () {value=int8[2,3]{1, 3, 5, -2, -4, 127}}\n"
                    "%y: float16[2,2] = quantized_matmul \"y\" (%x, %y.weight, %y.scale, none) "
                    "{dtype=\"float16\", transpose_b=1}\n"
                    "output %y\n",
                2e-3);
}

TEST(PassGolden, FuseFloat8MatMulTakesFloat8Pairs) {
  // dequantize(quantize(x, 1/16) as float8) · dequantize(float8 W, s): one quantized_matmul of the
  // float8 rows and W as [2, 3] (float32 sums), scale s / 16 = (0.03125, 0.015625).
  const std::string head =
      "input %x: float32[4,3]\n"
      "%w: float8_e4m3fn[3,2] = constant \"w\" () {value=float8_e4m3fn[3,2]{1, -2, 3, -4, 0.5, 448}}\n"
      "%s: float32[2] = constant \"s\" () {value=float32[2]{0.5, 0.25}}\n"
      "%sa: float32[] = constant \"sa\" () {value=float32[]{0.0625}}\n"
      "%xq: float8_e4m3fn[4,3] = quantize \"xq\" (%x, %sa, none) {dtype=\"float8_e4m3fn\"}\n"
      "%xd: float32[4,3] = dequantize \"xd\" (%xq, %sa, none)\n"
      "%wd: float32[3,2] = dequantize \"wd\" (%w, %s, none)\n";
  expect_golden(fuse_float8_matmul,
                head +
                    "%y: float32[4,2] = matmul \"y\" (%xd, %wd) {}\n"
                    "output %y\n",
                head +
                    "%y.scale: float32[2] = constant \"y.scale\" () {value=float32[2]{0.03125, 0.015625}}\n"
                    "%y.weight: float8_e4m3fn[2,3] = constant \"y.weight\" () "
                    "{value=float8_e4m3fn[2,3]{1, 3, 0.5, -2, -4, 448}}\n"
                    "%y: float32[4,2] = quantized_matmul \"y\" (%xq, %y.weight, %y.scale, none) "
                    "{dtype=\"float32\", transpose_b=1}\n"
                    "output %y\n");
}
