// float8_e4m3fn: the conversions (common/float8.h) on every code and on rounding cases, the cast,
// quantize and dequantize layers on the CPU, and the refusal of layers that would compute on it.
#include <gtest/gtest.h>

#include <cmath>

#include "common/float8.h"
#include "ir/printer.h"
#include "opt/eliminate_dead_layers.h"
#include "opt/fold_constant_dequantize.h"
#include "opt/fuse_quantized_matmul.h"
#include "opt/fuse_weight_only_matmul.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

using namespace tft;

namespace {

uint8_t code(float f) { return to_float8_e4m3(f).bits; }
float value(uint8_t b) { return to_float(float8_e4m3_t{b}); }

HostTensor values_of(DataType t, Dims d, const std::vector<double>& v) {
  HostTensor h(t, d);
  for (size_t i = 0; i < v.size(); ++i) h.set(static_cast<int64_t>(i), v[i]);
  return h;
}

}  // namespace

TEST(Float8, EveryCodeDecodesAndEncodesBack) {
  EXPECT_EQ(value(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(value(0x80)));
  EXPECT_EQ(value(0x38), 1.0f);          // exponent 7 (bias 7), mantissa 0
  EXPECT_EQ(value(0x7e), 448.0f);        // the largest finite
  EXPECT_EQ(value(0xfe), -448.0f);
  EXPECT_EQ(value(0x08), 0.015625f);     // 2^-6, the smallest normal
  EXPECT_EQ(value(0x01), 0.001953125f);  // 2^-9, the smallest subnormal
  EXPECT_TRUE(std::isnan(value(0x7f)) && std::isnan(value(0xff)));
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f) continue;  // NaN
    EXPECT_EQ(code(value(static_cast<uint8_t>(b))), b) << "code " << b;
    if (b > 0 && b < 0x7e) EXPECT_LT(value(static_cast<uint8_t>(b)), value(static_cast<uint8_t>(b + 1)));
  }
}

TEST(Float8, RoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(code(1.0625f), 0x38);  // halfway between 1 (even) and 1.125: 1
  EXPECT_EQ(code(1.1875f), 0x3a);  // halfway between 1.125 and 1.25 (even): 1.25
  EXPECT_EQ(code(1.07f), 0x39);
  EXPECT_EQ(code(-1.07f), 0xb9);
  EXPECT_EQ(code(447.0f), 0x7e);  // rounds to 448
  EXPECT_EQ(code(464.5f), 0x7e);  // past the largest finite: saturated, as PyTorch 2.13 converts
  EXPECT_EQ(code(-1e6f), 0xfe);
  EXPECT_EQ(code(INFINITY), 0x7e);
  EXPECT_EQ(code(-INFINITY), 0xfe);
  EXPECT_EQ(code(NAN), 0x7f);
  EXPECT_EQ(code(0.0009765625f), 0x00);   // 2^-10, halfway between 0 and 2^-9: 0
  EXPECT_EQ(code(0.0029296875f), 0x02);   // 1.5 * 2^-9: 2 * 2^-9
  EXPECT_EQ(code(0.0146484375f), 0x08);   // 7.5 * 2^-9 rounds to 8 * 2^-9, the smallest normal
  EXPECT_EQ(code(1e-30f), 0x00);
}

TEST(Float8, CastQuantizeAndDequantizeLayersOnTheCpu) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {12});
  Tensor f8 = net.add_cast(x, DataType::kFloat8E4M3);
  net.mark_output(net.add_cast(f8, DataType::kFloat32), "y_cast");
  Tensor scale = net.add_constant(to_weights(values_of(DataType::kFloat32, {}, {0.5})));
  Tensor q = net.add_quantize(x, scale, Tensor(), DataType::kFloat8E4M3);
  net.mark_output(net.add_dequantize(q, scale, Tensor(), DataType::kFloat16), "y_qdq");
  HostTensor in(DataType::kFloat32, {12});
  const std::vector<float> xs = {0.0f,  1.07f, -3.3f, 500.0f, -230.0f, 300.0f,
                                 1e-4f, -2e-3f, 448.0f, 12.5f, NAN,     1.0625f};
  for (int i = 0; i < 12; ++i) in.set(i, xs[i]);
  const auto out = run(net, {in}, /*roundtrip=*/true);
  for (int i = 0; i < 12; ++i) {
    const float cast = value(code(xs[i]));
    // quantize: x / 0.5 saturated to +-448, then float8; dequantize: times 0.5, rounded to float16.
    const float sat = std::isnan(xs[i]) ? xs[i] : std::fmax(-448.0f, std::fmin(448.0f, xs[i] * 2.0f));
    const float qdq = to_float(to_half(value(code(sat)) * 0.5f));
    if (std::isnan(cast)) {
      EXPECT_TRUE(std::isnan(out[0].get(i))) << i;
    } else {
      EXPECT_EQ(out[0].get(i), cast) << i;
    }
    if (std::isnan(qdq)) {
      EXPECT_TRUE(std::isnan(out[1].get(i))) << i;
    } else {
      EXPECT_EQ(out[1].get(i), qdq) << i;
    }
  }
  EXPECT_EQ(out[0].get(3), 448.0f);  // the cast saturates too
  EXPECT_EQ(out[1].get(3), 224.0f);  // 500 / 0.5 saturates to 448
}

TEST(Float8, OnlyStorageLayersTakeIt) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {4});
  Tensor f8 = net.add_cast(x, DataType::kFloat8E4M3);
  try {
    net.add_elementwise(f8, f8, "add");
    FAIL() << "an add of float8 tensors was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidNetwork);
    EXPECT_NE(std::string(e.what()).find("float8_e4m3fn tensors are storage only"), std::string::npos) << e.what();
  }
  EXPECT_THROW(net.add_cast(f8, DataType::kInt32), Error);  // float8 casts only to and from float types
  Tensor zero = net.add_constant(to_weights(values_of(DataType::kInt32, {}, {0})));
  Tensor scale = net.add_constant(to_weights(values_of(DataType::kFloat32, {}, {1.0})));
  EXPECT_THROW(net.add_quantize(x, scale, zero, DataType::kFloat8E4M3), Error);  // no zero point
  EXPECT_EQ(net.add_reshape(f8, {2, 2}).dtype(), DataType::kFloat8E4M3);
}

TEST(Float8, QuantizedMatMulOfFloat8RowsAndWeights) {
  // act(acc * scale[n] + bias[n]) with acc the float32 sum over k of float8 a times float8 b, b as
  // [N, K] (transpose_b) and as [K, N]; the reference sums in float32 in order of k, as the kernel does.
  const int64_t m = 3, k = 16, n = 5;
  auto f8_values = [](int64_t count, int step) {
    std::vector<double> v;
    for (int64_t i = 0; i < count; ++i) v.push_back(value(static_cast<uint8_t>((i * step) % 0x7e)) * (i % 3 ? 1 : -1));
    return v;
  };
  const std::vector<double> av = f8_values(m * k, 37), bv = f8_values(n * k, 53);
  const std::vector<double> scale = {0.5, 0.25, 2.0, 1.0, 0.125}, bias = {1.0, -2.0, 0.0, 0.5, 3.0};
  for (bool tb : {true, false}) {
    Network net;
    Tensor a = net.add_constant(to_weights(values_of(DataType::kFloat8E4M3, {m, k}, av)));
    std::vector<double> b_stored(static_cast<size_t>(n * k));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < k; ++i) b_stored[tb ? j * k + i : i * n + j] = bv[j * k + i];
    Tensor b = net.add_constant(to_weights(values_of(DataType::kFloat8E4M3, tb ? Dims{n, k} : Dims{k, n}, b_stored)));
    Tensor s = net.add_constant(to_weights(values_of(DataType::kFloat32, {n}, scale)));
    Tensor bi = net.add_constant(to_weights(values_of(DataType::kFloat32, {n}, bias)));
    net.mark_output(net.add_quantized_matmul(a, b, s, bi, tb, "relu", DataType::kFloat32), "y");
    const auto out = run(net, {});
    std::vector<double> want;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j) {
        float acc = 0;
        for (int64_t i = 0; i < k; ++i)
          acc += static_cast<float>(av[r * k + i]) * static_cast<float>(bv[j * k + i]);
        want.push_back(std::max(0.0, static_cast<double>(acc) * scale[j] + bias[j]));
      }
    expect_close(out[0], {m, n}, want, 1e-6, tb ? "b as [N, K]" : "b as [K, N]");
  }
}

TEST(Float8, QuantizedMatMulFusionTakesFloat8Pairs) {
  // x (float32) -> quantize/dequantize float8 (scale 0.05) · dequantize(float8 weight [K, N], per-column
  // scales) + bias becomes one quantized_matmul of float8 rows and an [N, K] float8 weight, with
  // scale 0.05 · sb[n]; the same values as the unfused graph (float32 sums in a different grouping).
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {4, 8});
  Tensor sa = net.add_constant(to_weights(values_of(DataType::kFloat32, {}, {0.05})));
  Tensor xd = net.add_dequantize(net.add_quantize(x, sa, Tensor(), DataType::kFloat8E4M3), sa, Tensor());
  std::vector<double> wv, sb = {0.01, 0.02, 0.03};
  for (int i = 0; i < 24; ++i) wv.push_back(value(static_cast<uint8_t>((i * 29) % 0x7e)) * (i % 2 ? 1 : -1));
  Tensor w = net.add_dequantize(net.add_constant(to_weights(values_of(DataType::kFloat8E4M3, {8, 3}, wv))),
                                net.add_constant(to_weights(values_of(DataType::kFloat32, {1, 3}, sb))), Tensor());
  Tensor bias = net.add_constant(to_weights(values_of(DataType::kFloat32, {3}, {0.5, -0.5, 0.25})));
  net.mark_output(net.add_matmul(xd, w, false, false, bias), "y");
  const ir::Graph g = net.graph();
  const ir::Graph fused =
      eliminate_dead_layers(fold_constant_dequantize(fuse_float8_matmul(fold_constant_dequantize_outside_matmuls(g))));
  const ir::Layer* q = nullptr;
  for (const auto& l : fused.layers) {
    EXPECT_NE(l.kind, LayerKind::kMatMul) << ir::to_text(fused);
    if (l.kind == LayerKind::kQuantizedMatMul) q = &l;
  }
  ASSERT_NE(q, nullptr) << ir::to_text(fused);
  EXPECT_EQ(fused.tensors[q->inputs[0]].dtype, DataType::kFloat8E4M3);
  EXPECT_EQ(fused.tensors[q->inputs[1]].dtype, DataType::kFloat8E4M3);
  EXPECT_EQ(fused.tensors[q->inputs[1]].dims, (Dims{3, 8}));
  std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, {4, 8}, 11, -20.0, 20.0)};
  const auto want = run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), in);
  const auto got = run_engine(Engine(assemble_engine(fused, BuilderConfig{}, {})), in);
  expect_close(got[0], want[0].dims, want[0].values(), 1e-5, "fused against dequantize + float matmul");
  // fuse_quantized_matmul (int8) leaves float8 pairs to fuse_float8_matmul (a pass of its own); a
  // float8 weight is not a weight-only product's either (float rows keep the matmul).
  for (const auto& l : fuse_quantized_matmul(g).layers) EXPECT_NE(l.kind, LayerKind::kQuantizedMatMul);
  Network wo;
  Tensor rows = wo.add_input("x", DataType::kFloat32, {2, 8});
  Tensor w8 = wo.add_dequantize(wo.add_constant(to_weights(values_of(DataType::kFloat8E4M3, {8, 3}, wv))),
                                wo.add_constant(to_weights(values_of(DataType::kFloat32, {1, 3}, sb))), Tensor());
  wo.mark_output(wo.add_matmul(rows, w8, false, false), "y");
  for (const auto& l : fuse_weight_only_matmul(wo.graph()).layers) EXPECT_NE(l.kind, LayerKind::kQuantizedMatMul);
}
