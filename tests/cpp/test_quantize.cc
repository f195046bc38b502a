// Quantize and dequantize layers against hand-computed values: rounding half to even, the zero
// point, saturation to the dtype and to a narrower [qmin, qmax], NaN, per-channel scales broadcast
// along an axis, uint8, float16 results; and the errors of malformed layers.
#include <cmath>
#include <limits>

#include "test_util.h"

using namespace tft;

namespace {

HostTensor values(DataType t, Dims d, const std::vector<double>& v) {
  HostTensor h(t, d);
  for (size_t i = 0; i < v.size(); ++i) h.set(static_cast<int64_t>(i), v[i]);
  return h;
}

Tensor constant(Network& net, DataType t, Dims d, const std::vector<double>& v) {
  return net.add_constant(to_weights(values(t, d, v)));
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
               {"int8 or uint8"});
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
  expect_error([&] { net.add_dequantize(x, scale, Tensor()); }, ErrorCode::kInvalidNetwork, {"int8 or uint8"});
  Tensor q = net.add_quantize(x, scale, Tensor(), DataType::kInt8);
  expect_error([&] { net.add_dequantize(q, scale, Tensor(), DataType::kInt32); }, ErrorCode::kInvalidNetwork,
               {"floating-point dtype"});
}
