// matmul layer: shape/dtype inference and its errors, and the CPU kernel against a naive double
// loop over transposes, broadcast batch dims (either side), odd, unit and empty sizes, and every
// accepted dtype; some cases run through a file round trip. The bias + activation epilogue against
// the same loop, and engine files written before the epilogue existed.
#include <cstring>

#include "serialize/bytes.h"
#include "serialize/format.h"
#include "test_util.h"

using namespace tft;

namespace {

Dims batch_of(const Dims& d) {
  std::vector<int64_t> v = d.vec();
  v.resize(v.size() - 2);
  return Dims(v);
}

// out = op(a) op(b) in doubles, batch dims broadcast; `out` is the expected output shape.
std::vector<double> ref_matmul(const HostTensor& a, const HostTensor& b, bool ta, bool tb, const Dims& out) {
  int ra = a.dims.rank(), rb = b.dims.rank(), ro = out.rank();
  int64_t m = out[ro - 2], n = out[ro - 1], k = ta ? a.dims[ra - 2] : a.dims[ra - 1];
  Dims ab = batch_of(a.dims), bb = batch_of(b.dims), ob = batch_of(out);
  std::vector<double> r(out.volume());
  for (int64_t bi = 0; bi < ob.volume(); ++bi) {
    auto idx = unravel(bi, ob);
    int64_t ao = ravel_broadcast(idx, ab) * m * k, bo = ravel_broadcast(idx, bb) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += a.get(ao + (ta ? p * m + i : i * k + p)) * b.get(bo + (tb ? j * k + p : p * n + j));
        r[(bi * m + i) * n + j] = s;
      }
  }
  return r;
}

Tensor matmul_layer(Network& net, Tensor a, Tensor b, int64_t ta, int64_t tb, const std::string& name = "") {
  return net.add_layer(LayerKind::kMatMul, {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}}, name)[0];
}

struct Case {
  Dims a, b;
  bool ta, tb;
  Dims out;
};

const std::vector<Case> kCases = {
    {{3, 4}, {4, 5}, false, false, {3, 5}},
    {{1, 1}, {1, 1}, false, false, {1, 1}},
    {{7, 5}, {7, 9}, true, false, {5, 9}},
    {{5, 7}, {9, 7}, false, true, {5, 9}},
    {{7, 5}, {9, 7}, true, true, {5, 9}},
    {{2, 3, 17, 33}, {2, 3, 33, 9}, false, false, {2, 3, 17, 9}},  // same batch
    {{3, 5, 4}, {4, 6}, false, false, {3, 5, 6}},                  // b broadcast (folded into one sgemm)
    {{3, 4, 5}, {1, 4, 6}, true, false, {3, 5, 6}},                // b broadcast, a transposed
    {{5, 4}, {2, 3, 4, 6}, false, false, {2, 3, 5, 6}},            // a broadcast
    {{2, 1, 3, 4}, {5, 6, 4}, false, true, {2, 5, 3, 6}},          // both broadcast
    {{4, 1, 2, 3}, {1, 3, 3, 2}, false, false, {4, 3, 2, 2}},      // extents of 1 on both sides
    {{0, 3}, {3, 4}, false, false, {0, 4}},                        // M = 0
    {{2, 0}, {0, 3}, false, false, {2, 3}},                        // K = 0: zeros
    {{0, 2, 3}, {3, 4}, false, false, {0, 2, 4}},                  // empty batch
    {{3, 1, 6}, {1, 6, 1}, false, false, {3, 1, 1}},               // M = N = 1
};

}  // namespace

TEST(MatMul, Inference) {
  Network net;
  auto in = [&](const char* n, Dims d, DataType t = DataType::kFloat32) { return net.add_input(n, t, d); };
  EXPECT_EQ(net.add_matmul(in("a0", {3, 4}), in("b0", {4, 5})).dims(), (Dims{3, 5}));
  EXPECT_EQ(net.add_matmul(in("a1", {4, 3}), in("b1", {4, 5}), true).dims(), (Dims{3, 5}));
  EXPECT_EQ(net.add_matmul(in("a2", {3, 4}), in("b2", {5, 4}), false, true).dims(), (Dims{3, 5}));
  EXPECT_EQ(net.add_matmul(in("a3", {2, 1, 3, 4}), in("b3", {5, 4, 6})).dims(), (Dims{2, 5, 3, 6}));
  EXPECT_EQ(net.add_matmul(in("a4", {7, 3, 4}), in("b4", {4, 2})).dims(), (Dims{7, 3, 2}));
  EXPECT_EQ(net.add_matmul(in("a5", {0, 3, 4}), in("b5", {1, 4, 2})).dims(), (Dims{0, 3, 2}));
  Tensor i64 = net.add_matmul(in("a6", {2, 3}, DataType::kInt64), in("b6", {3, 2}, DataType::kInt64));
  EXPECT_EQ(i64.dtype(), DataType::kInt64);
  EXPECT_EQ(net.add_matmul(in("a7", {2, 3}, DataType::kBFloat16), in("b7", {3, 2}, DataType::kBFloat16)).dtype(),
            DataType::kBFloat16);
  // Defaults: no transposes.
  EXPECT_EQ(net.add_layer(LayerKind::kMatMul, {in("a8", {2, 3}), in("b8", {3, 4})})[0].dims(), (Dims{2, 4}));
}

TEST(MatMul, InferenceErrors) {
  Network net;
  auto in = [&](const char* n, Dims d, DataType t = DataType::kFloat32) { return net.add_input(n, t, d); };
  Tensor v = in("v", {4}), m34 = in("m34", {3, 4}), m54 = in("m54", {5, 4}), m45 = in("m45", {4, 5});
  expect_error([&] { net.add_matmul(v, m45, false, false, Tensor(), "none", "mm_rank"); }, ErrorCode::kInvalidNetwork,
               {"layer 'mm_rank' (matmul)", "rank >= 2", "a=float32[4]"});
  expect_error([&] { net.add_matmul(m45, v); }, ErrorCode::kInvalidNetwork, {"rank >= 2"});
  expect_error([&] { net.add_matmul(m34, m54, false, false, Tensor(), "none", "mm_k"); }, ErrorCode::kInvalidNetwork,
               {"layer 'mm_k' (matmul)", "K of a is 4", "K of b is 5", "transpose_a=0, transpose_b=0"});
  expect_error([&] { net.add_matmul(m34, m45, true, true); }, ErrorCode::kInvalidNetwork,
               {"K of a is 3", "K of b is 5", "transpose_a=1, transpose_b=1"});
  expect_error(
      [&] { net.add_matmul(in("ba", {2, 3, 4}), in("bb", {3, 4, 5}), false, false, Tensor(), "none", "mm_b"); },
      ErrorCode::kInvalidNetwork, {"layer 'mm_b' (matmul)", "batch dims [2] and [3] do not broadcast"});
  expect_error([&] { net.add_matmul(m34, in("i45", {4, 5}, DataType::kInt32)); }, ErrorCode::kInvalidNetwork,
               {"different dtypes", "float32", "int32"});
  expect_error([&] { net.add_matmul(in("bo1", {2, 2}, DataType::kBool), in("bo2", {2, 2}, DataType::kBool)); },
               ErrorCode::kInvalidNetwork, {"not bool"});
  expect_error([&] { net.add_matmul(in("u1", {2, 2}, DataType::kInt8), in("u2", {2, 2}, DataType::kInt8)); },
               ErrorCode::kInvalidNetwork, {"not int8"});
  expect_error([&] { matmul_layer(net, m34, m45, 2, 0, "mm_flag"); }, ErrorCode::kInvalidNetwork,
               {"layer 'mm_flag' (matmul)", "transpose_a must be 0 or 1, got 2"});
  expect_error([&] { matmul_layer(net, m34, m45, 0, -1); }, ErrorCode::kInvalidNetwork,
               {"transpose_b must be 0 or 1, got -1"});
}

TEST(MatMul, KernelMatchesNaiveAllDtypes) {
  const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
                                       DataType::kInt64};
  unsigned seed = 11;
  for (DataType t : types) {
    for (const Case& c : kCases) {
      HostTensor a = random_tensor(t, c.a, seed++, -3, 3), b = random_tensor(t, c.b, seed++, -3, 3);
      Network net;
      Tensor ta = net.add_input("a", t, c.a), tb = net.add_input("b", t, c.b);
      Tensor y = net.add_matmul(ta, tb, c.ta, c.tb);
      net.mark_output(y);
      ASSERT_EQ(y.dims(), c.out);
      ASSERT_EQ(y.dtype(), t);
      std::vector<double> ref = rounded(ref_matmul(a, b, c.ta, c.tb, c.out), t);
      auto outs = run(net, {a, b}, seed % 4 == 1);
      expect_close(outs[0], c.out, ref, default_tol(t),
                   std::string("matmul ") + to_string(t) + " " + c.a.str() + (c.ta ? "T" : "") + "x" + c.b.str() +
                       (c.tb ? "T" : ""));
    }
  }
}

TEST(MatMul, RoundTripKeepsTransposes) {
  for (DataType t : {DataType::kFloat32, DataType::kInt64}) {
    Dims ad{2, 6, 3}, bd{4, 6};
    HostTensor a = random_tensor(t, ad, 5), b = random_tensor(t, bd, 6);
    Network net;
    Tensor ta = net.add_input("a", t, ad), tb = net.add_input("b", t, bd);
    net.mark_output(net.add_matmul(ta, tb, true, true));
    Dims out{2, 3, 4};
    expect_close(run(net, {a, b}, /*roundtrip=*/true)[0], out, ref_matmul(a, b, true, true, out), default_tol(t),
                 "round trip");
  }
}

TEST(MatMul, IntegerOverflowWraps) {
  // PyTorch's integer matmul wraps modulo 2^width; 2^31-1 squared plus itself overflows int32.
  Network net;
  Dims d{1, 2};
  Tensor a = net.add_input("a", DataType::kInt32, d), b = net.add_input("b", DataType::kInt32, {2, 1});
  net.mark_output(net.add_matmul(a, b));
  HostTensor x(DataType::kInt32, d), y(DataType::kInt32, {2, 1});
  x.set(0, 2147483647), x.set(1, 1), y.set(0, 2147483647), y.set(1, 2147483647);
  // (2^31-1)^2 + (2^31-1) = 2^62 - 2^31 = 0x3FFFFFFF80000000 -> low 32 bits 0x80000000 = INT32_MIN.
  expect_close(run(net, {x, y})[0], {1, 1}, {-2147483648.0}, 0, "int32 wrap");
}

namespace {

double activate_ref(const std::string& act, double x) {
  if (act == "relu") return x > 0 ? x : 0;
  if (act == "gelu") return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  if (act == "gelu_tanh") return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return x;
}

}  // namespace

TEST(MatMul, EpilogueInference) {
  Network net;
  auto in = [&](const char* n, Dims d, DataType t = DataType::kFloat32) { return net.add_input(n, t, d); };
  Tensor a = in("a", {2, 3, 4}), b = in("b", {4, 5}), bias = in("bias", {5});
  EXPECT_EQ(net.add_matmul(a, b, false, false, bias, "gelu").dims(), (Dims{2, 3, 5}));
  EXPECT_EQ(net.add_matmul(a, b, false, false, Tensor(), "relu").dims(), (Dims{2, 3, 5}));
  Tensor i32 = net.add_matmul(in("ia", {3, 4}, DataType::kInt32), in("ib", {4, 2}, DataType::kInt32), false, false,
                              in("ibias", {2}, DataType::kInt32), "relu");
  EXPECT_EQ(i32.dtype(), DataType::kInt32);
  // A layer added without the attribute gets activation "none".
  Tensor plain = net.add_layer(LayerKind::kMatMul, {a, b})[0];
  EXPECT_NE(net.to_text().find("activation=\"none\""), std::string::npos);
  EXPECT_EQ(plain.dims(), (Dims{2, 3, 5}));

  expect_error([&] { net.add_matmul(a, b, false, false, in("b2", {1, 5}), "none", "mm_bias_rank"); },
               ErrorCode::kInvalidNetwork,
               {"layer 'mm_bias_rank' (matmul)", "bias must be 1-D [N] = [5]", "not [1,5]"});
  expect_error([&] { net.add_matmul(a, b, false, false, in("b3", {3}), "none", "mm_bias_n"); },
               ErrorCode::kInvalidNetwork, {"bias must be 1-D [N] = [5]", "not [3]"});
  expect_error([&] { net.add_matmul(a, b, false, false, in("b4", {5}, DataType::kFloat16)); },
               ErrorCode::kInvalidNetwork, {"bias must have the output's dtype (float32), not float16"});
  expect_error([&] { net.add_matmul(a, b, false, false, bias, "silu", "mm_act"); }, ErrorCode::kInvalidNetwork,
               {"layer 'mm_act' (matmul)", "activation must be", "\"gelu_tanh\"", "not \"silu\""});
  expect_error(
      [&] {
        net.add_matmul(in("ja", {3, 4}, DataType::kInt64), in("jb", {4, 2}, DataType::kInt64), false, false, Tensor(),
                       "gelu");
      },
      ErrorCode::kInvalidNetwork, {"activation \"gelu\" needs floating-point operands, not int64"});
}

TEST(MatMul, EpilogueMatchesNaive) {
  struct EpCase {
    Dims a, b;
    bool ta, tb;
    Dims out;
  };
  const std::vector<EpCase> cases = {
      {{7, 5}, {5, 9}, false, false, {7, 9}},
      {{3, 5, 4}, {6, 4}, false, true, {3, 5, 6}},           // b shared (one folded sgemm)
      {{2, 1, 4, 3}, {5, 4, 6}, true, false, {2, 5, 3, 6}},  // both broadcast
      {{2, 0}, {0, 3}, false, false, {2, 3}},                // K = 0: act(bias)
  };
  unsigned seed = 101;
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32, DataType::kInt64}) {
    for (const char* act : {"none", "relu", "gelu", "gelu_tanh"}) {
      if (is_integer(t) && act[0] == 'g') continue;
      for (bool with_bias : {false, true}) {
        for (const EpCase& c : cases) {
          int64_t n = c.out[c.out.rank() - 1];
          HostTensor a = random_tensor(t, c.a, seed++, -3, 3), b = random_tensor(t, c.b, seed++, -3, 3);
          HostTensor bias = random_tensor(t, {n}, seed++, -3, 3);
          Network net;
          Tensor ta = net.add_input("a", t, c.a);
          Tensor tb = net.add_input("b", t, c.b);
          Tensor tbias = with_bias ? net.add_input("bias", t, {n}) : Tensor();
          net.mark_output(net.add_matmul(ta, tb, c.ta, c.tb, tbias, act));
          std::vector<double> ref = ref_matmul(a, b, c.ta, c.tb, c.out);
          for (size_t i = 0; i < ref.size(); ++i) {
            double v = ref[i] + (with_bias ? bias.get(static_cast<int64_t>(i % n)) : 0.0);
            ref[i] = activate_ref(act, is_integer(t) ? rounded({v}, t)[0] : v);
          }
          std::vector<HostTensor> ins = {a, b};
          if (with_bias) ins.push_back(bias);
          expect_close(run(net, ins, seed % 3 == 0)[0], c.out, rounded(ref, t), default_tol(t),
                       std::string("matmul ") + to_string(t) + " " + act + (with_bias ? " +bias " : " ") + c.a.str() +
                           "x" + c.b.str());
        }
      }
    }
  }
}

TEST(MatMul, IntegerBiasWraps) {
  // [2^31-1] x [1, 2] + [1, 5]: 2^31 wraps to INT32_MIN (relu: 0), 2^32 + 3 wraps to 3.
  for (const char* act : {"none", "relu"}) {
    Network net;
    Tensor a = net.add_input("a", DataType::kInt32, {1, 1});
    Tensor b = net.add_input("b", DataType::kInt32, {1, 2});
    Tensor bias = net.add_input("bias", DataType::kInt32, {2});
    net.mark_output(net.add_matmul(a, b, false, false, bias, act));
    HostTensor x(DataType::kInt32, {1, 1}), y(DataType::kInt32, {1, 2}), z(DataType::kInt32, {2});
    x.set(0, 2147483647), y.set(0, 1), y.set(1, 2), z.set(0, 1), z.set(1, 5);
    double first = act[0] == 'r' ? 0.0 : -2147483648.0;
    expect_close(run(net, {x, y, z})[0], {1, 2}, {first, 3.0}, 0, std::string("int32 bias wrap ") + act);
  }
}

// A file written before matmul had an activation attribute loads with activation "none": the
// attribute's bytes are cut out of a current file (and its lengths and checksum mended).
TEST(MatMul, FileWithoutActivationAttributeLoads) {
  Network net;
  Tensor a = net.add_input("a", DataType::kFloat32, {2, 3});
  Tensor b = net.add_input("b", DataType::kFloat32, {3, 2});
  net.mark_output(net.add_matmul(a, b));
  std::vector<uint8_t> bytes = Builder().build(net).serialize();

  serialize::ByteWriter attr;
  attr.str("activation");
  attr.u8(serialize::kAttrString);
  attr.str("none");
  const std::vector<uint8_t>& cut = attr.bytes();
  auto at = std::search(bytes.begin(), bytes.end(), cut.begin(), cut.end());
  ASSERT_NE(at, bytes.end());
  size_t pos = static_cast<size_t>(at - bytes.begin());
  uint32_t count;  // the attribute count precedes the first attribute ("activation" sorts first)
  std::memcpy(&count, bytes.data() + pos - 4, 4);
  ASSERT_EQ(count, 3u);
  count = 2;
  std::memcpy(bytes.data() + pos - 4, &count, 4);
  bytes.erase(at, at + static_cast<std::ptrdiff_t>(cut.size()));
  // The network section's length (u64 after its tag) shrinks by as much.
  uint32_t tag = serialize::kNetworkTag;
  auto sec = std::search(bytes.begin(), bytes.end(), reinterpret_cast<const uint8_t*>(&tag),
                         reinterpret_cast<const uint8_t*>(&tag) + 4);
  ASSERT_NE(sec, bytes.end());
  uint64_t len;
  std::memcpy(&len, &*sec + 4, 8);
  len -= cut.size();
  std::memcpy(&*sec + 4, &len, 8);
  uint64_t h = serialize::checksum(bytes.data(), bytes.size() - 8, file_version(bytes));
  std::memcpy(bytes.data() + bytes.size() - 8, &h, 8);

  Engine e = Engine::deserialize(bytes.data(), bytes.size());
  EXPECT_NE(e.network_text().find("activation=\"none\""), std::string::npos) << e.network_text();
  HostTensor x = random_tensor(DataType::kFloat32, {2, 3}, 1), y = random_tensor(DataType::kFloat32, {3, 2}, 2);
  ExecutionContext ctx = e.create_execution_context();
  HostTensor out(DataType::kFloat32, {2, 2});
  ctx.execute({x.data(), y.data(), out.data()});
  expect_close(out, {2, 2}, ref_matmul(x, y, false, false, {2, 2}), 1e-5, "old file");
}
