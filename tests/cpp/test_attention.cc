// attention layer: shape/dtype inference and its errors, and the CPU kernel against a naive double
// softmax(q k^T * scale + mask) v over ranks 2 to 4, L != S, grouped-query heads, bool and additive
// masks (broadcast, fully masked rows), causal, explicit scale, empty sizes and every float dtype.
#include <limits>

#include "test_util.h"

using namespace tft;

namespace {

enum class Mask { kNone, kBool, kAdd };

struct Case {
  Dims q, k, v;
  Mask mask;
  Dims mask_dims;
  bool causal;
  double scale;
};

// Naive reference; a row with nothing to attend gives zeros (PyTorch's CPU result).
std::vector<double> ref_attention(const HostTensor& q, const HostTensor& k, const HostTensor& v, const HostTensor* m,
                                  bool causal, double scale, const Dims& out) {
  int r = q.dims.rank();
  int64_t l = q.dims[r - 2], e = q.dims[r - 1], s = k.dims[r - 2], ev = v.dims[r - 1];
  int64_t hq = r >= 3 ? q.dims[r - 3] : 1, hk = r >= 3 ? k.dims[r - 3] : 1;
  int64_t batches = 1;
  for (int i = 0; i < r - 2; ++i) batches *= q.dims[i];
  if (scale == 0) scale = 1 / std::sqrt(static_cast<double>(e));
  std::vector<int64_t> sv = q.dims.vec();
  sv[r - 1] = s;
  Dims scores_dims(sv);
  std::vector<double> res(out.volume()), p(s);
  for (int64_t b = 0; b < batches; ++b) {
    int64_t kvb = (b / hq) * hk + (b % hq) / (hq / hk);
    for (int64_t i = 0; i < l; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < s; ++j) {
        double acc = 0;
        for (int64_t c = 0; c < e; ++c) acc += q.get((b * l + i) * e + c) * k.get((kvb * s + j) * e + c);
        if (e > 0) acc *= scale;  // E = 0: scores are 0 (an empty sum), as in PyTorch
        if (causal && j > i) acc = -INFINITY;
        if (m) {
          double mv = m->get(ravel_broadcast(unravel((b * l + i) * s + j, scores_dims), m->dims));
          if (m->dtype == DataType::kBool)
            acc = mv != 0 ? acc : -INFINITY;
          else
            acc += mv;
        }
        p[j] = acc;
        mx = std::max(mx, acc);
      }
      double sum = 0;
      for (int64_t j = 0; j < s; ++j) sum += (p[j] = mx == -INFINITY ? 0.0 : std::exp(p[j] - mx));
      for (int64_t c = 0; c < ev; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < s; ++j) acc += p[j] / (sum > 0 ? sum : 1) * v.get((kvb * s + j) * ev + c);
        res[(b * l + i) * ev + c] = acc;
      }
    }
  }
  return res;
}

Tensor attention_layer(Network& net, Tensor q, Tensor k, Tensor v, Tensor mask, int64_t causal, double scale,
                       const std::string& name = "") {
  return net.add_layer(LayerKind::kAttention, {q, k, v, mask}, {{"causal", causal}, {"scale", scale}}, name)[0];
}

const std::vector<Case> kCases = {
    {{4, 5}, {3, 5}, {3, 2}, Mask::kNone, {}, false, 0},                             // rank 2, L > S
    {{1, 1}, {1, 1}, {1, 1}, Mask::kNone, {}, false, 0},                             // unit sizes
    {{2, 3, 8}, {2, 7, 8}, {2, 7, 5}, Mask::kNone, {}, false, 0.3},                  // rank 3, explicit scale
    {{2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 4}, Mask::kNone, {}, false, 0},           // rank 4, L < S
    {{2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 4}, Mask::kNone, {}, true, 0},            // causal, L < S
    {{1, 2, 6, 4}, {1, 2, 3, 4}, {1, 2, 3, 3}, Mask::kNone, {}, true, 0},            // causal, L > S
    {{2, 6, 5, 8}, {2, 2, 7, 8}, {2, 2, 7, 4}, Mask::kNone, {}, false, 0},           // grouped-query, 3 per kv head
    {{2, 4, 5, 8}, {2, 1, 7, 8}, {2, 1, 7, 4}, Mask::kNone, {}, true, 0},            // multi-query + causal
    {{6, 5, 8}, {2, 7, 8}, {2, 7, 4}, Mask::kNone, {}, false, 0},                    // grouped-query, rank 3
    {{2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 4}, Mask::kBool, {5, 7}, false, 0},       // bool mask [L, S]
    {{2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 4}, Mask::kBool, {2, 1, 1, 7}, false, 0},  // key-padding style
    {{2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 4}, Mask::kAdd, {2, 3, 5, 7}, false, 0},  // full additive mask
    {{2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 4}, Mask::kAdd, {3, 1, 7}, false, 0.5},   // broadcast additive
    {{2, 4, 5, 8}, {2, 2, 7, 8}, {2, 2, 7, 4}, Mask::kBool, {4, 5, 7}, false, 0},    // grouped-query + mask
    {{3, 6}, {0, 6}, {0, 2}, Mask::kNone, {}, false, 0},                             // S = 0: zeros
    {{0, 6}, {4, 6}, {4, 2}, Mask::kNone, {}, false, 0},                             // L = 0
    {{3, 0}, {4, 0}, {4, 2}, Mask::kNone, {}, false, 0},                             // E = 0: mean of v
    {{2, 0, 3, 4}, {2, 0, 5, 4}, {2, 0, 5, 4}, Mask::kNone, {}, false, 0},           // no heads
};

}  // namespace

TEST(Attention, Inference) {
  Network net;
  auto in = [&](const char* n, Dims d, DataType t = DataType::kFloat32) { return net.add_input(n, t, d); };
  Tensor q = in("q", {2, 6, 5, 8}), k = in("k", {2, 6, 7, 8}), v = in("v", {2, 6, 7, 3});
  EXPECT_EQ(attention_layer(net, q, k, v, Tensor(), 0, 0).dims(), (Dims{2, 6, 5, 3}));
  EXPECT_EQ(attention_layer(net, q, k, v, Tensor(), 1, 0.5).dims(), (Dims{2, 6, 5, 3}));
  Tensor k2 = in("k2", {2, 2, 7, 8}), v2 = in("v2", {2, 2, 7, 4});
  EXPECT_EQ(attention_layer(net, q, k2, v2, Tensor(), 0, 0).dims(), (Dims{2, 6, 5, 4}));
  Tensor mb = in("mb", {5, 7}, DataType::kBool), mf = in("mf", {2, 1, 5, 7});
  EXPECT_EQ(attention_layer(net, q, k, v, mb, 0, 0).dims(), (Dims{2, 6, 5, 3}));
  EXPECT_EQ(attention_layer(net, q, k, v, mf, 0, 0).dims(), (Dims{2, 6, 5, 3}));
  Tensor h = attention_layer(net, in("qh", {4, 8}, DataType::kFloat16), in("kh", {9, 8}, DataType::kFloat16),
                             in("vh", {9, 2}, DataType::kFloat16), Tensor(), 0, 0);
  EXPECT_EQ(h.dims(), (Dims{4, 2}));
  EXPECT_EQ(h.dtype(), DataType::kFloat16);
  // Defaults: causal 0, scale 0; the mask slot is optional.
  EXPECT_EQ(net.add_layer(LayerKind::kAttention, {q, k, v})[0].dims(), (Dims{2, 6, 5, 3}));
}

TEST(Attention, InferenceErrors) {
  Network net;
  auto in = [&](const char* n, Dims d, DataType t = DataType::kFloat32) { return net.add_input(n, t, d); };
  Tensor q = in("q", {2, 6, 5, 8}), k = in("k", {2, 6, 7, 8}), v = in("v", {2, 6, 7, 3}), none;
  auto bad = [&](Tensor q_, Tensor k_, Tensor v_, Tensor m, int64_t causal, std::vector<std::string> parts) {
    expect_error([&] { attention_layer(net, q_, k_, v_, m, causal, 0, "att"); }, ErrorCode::kInvalidNetwork,
                 [&] {
                   parts.insert(parts.begin(), "layer 'att' (attention)");
                   return parts;
                 }());
  };
  Tensor qi = in("qi", {5, 8}, DataType::kInt32), ki = in("ki", {7, 8}, DataType::kInt32);
  bad(qi, ki, ki, none, 0, {"floating-point", "int32"});
  bad(q, in("kh", {2, 6, 7, 8}, DataType::kFloat16), v, none, 0, {"share a dtype"});
  bad(in("q1", {8}), in("k1", {8}), in("v1", {8}), none, 0, {"rank >= 2"});
  bad(q, in("k3", {6, 7, 8}), v, none, 0, {"same rank"});
  bad(q, in("k4", {2, 6, 7, 9}), v, none, 0, {"key's last dim (9) must equal query's (8)"});
  bad(q, k, in("v5", {2, 6, 6, 3}), none, 0, {"value's sequence length (6) must equal key's (7)"});
  bad(q, in("k6", {1, 6, 7, 8}), in("v6", {1, 6, 7, 3}), none, 0, {"batch dim 0", "(1) must equal query's (2)"});
  bad(q, in("k7", {2, 4, 7, 8}), in("v7", {2, 4, 7, 3}), none, 0, {"batch dim 1", "or divide it"});
  bad(q, in("k8", {2, 3, 7, 8}), in("v8", {2, 2, 7, 3}), none, 0, {"key and value batch dims differ"});
  bad(q, k, v, in("m1", {5, 7}, DataType::kBool), 1, {"mask and causal=1 cannot be combined"});
  bad(q, k, v, in("m2", {5, 7}, DataType::kInt64), 0, {"mask must be bool or the query's dtype", "int64"});
  bad(q, k, v, in("m3", {5, 6}, DataType::kBool), 0, {"mask [5,6] does not broadcast", "[2,6,5,7]"});
  bad(q, k, v, in("m4", {3, 2, 6, 5, 7}), 0, {"does not broadcast"});  // would grow the output
  bad(q, k, v, none, 2, {"causal must be 0 or 1, got 2"});
}

TEST(Attention, KernelMatchesNaiveAllDtypes) {
  unsigned seed = 100;
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    for (const Case& c : kCases) {
      HostTensor q = random_tensor(t, c.q, seed++), k = random_tensor(t, c.k, seed++);
      HostTensor v = random_tensor(t, c.v, seed++);
      HostTensor m;
      if (c.mask == Mask::kBool) {
        m = random_tensor(DataType::kBool, c.mask_dims, seed++);
        int r = c.mask_dims.rank();
        if (c.mask_dims[r - 2] > 1)  // a fully masked row
          for (int64_t j = 0; j < c.mask_dims[r - 1]; ++j) m.set(j, 0);
      } else if (c.mask == Mask::kAdd) {
        m = random_tensor(t, c.mask_dims, seed++, -3, 1);
        m.set(0, -INFINITY);
      }
      Network net;
      Tensor tq = net.add_input("q", t, c.q), tk = net.add_input("k", t, c.k), tv = net.add_input("v", t, c.v);
      Tensor tm = c.mask != Mask::kNone ? net.add_input("m", m.dtype, c.mask_dims) : Tensor();
      std::vector<int64_t> ov = c.q.vec();
      ov.back() = c.v[c.v.rank() - 1];
      Dims out(ov);
      Tensor y = attention_layer(net, tq, tk, tv, tm, c.causal, c.scale);
      net.mark_output(y);
      ASSERT_EQ(y.dims(), out);
      std::vector<HostTensor> inputs = {q, k, v};
      if (c.mask != Mask::kNone) inputs.push_back(m);
      auto ref = rounded(ref_attention(q, k, v, c.mask != Mask::kNone ? &m : nullptr, c.causal, c.scale, out), t);
      expect_close(run(net, inputs, seed % 3 == 0)[0], out, ref, default_tol(t),
                   std::string("attention ") + to_string(t) + " q" + c.q.str() + " k" + c.k.str() + " mask" +
                       c.mask_dims.str() + (c.causal ? " causal" : ""));
    }
  }
}

TEST(Attention, FullyMaskedRowsGiveZerosAndRoundTrip) {
  // A bool mask with no true entry in a row, or an additive -inf row, gives 0 (as PyTorch on CPU).
  Dims qd{2, 3, 4}, kd{2, 5, 4}, vd{2, 5, 3};
  for (DataType mt : {DataType::kBool, DataType::kFloat32}) {
    HostTensor q = random_tensor(DataType::kFloat32, qd, 1), k = random_tensor(DataType::kFloat32, kd, 2),
               v = random_tensor(DataType::kFloat32, vd, 3), m(mt, {3, 5});
    for (int64_t i = 0; i < 15; ++i) m.set(i, mt == DataType::kBool ? 1.0 : 0.0);
    for (int64_t j = 0; j < 5; ++j) m.set(5 + j, mt == DataType::kBool ? 0.0 : -INFINITY);  // row 1
    Network net;
    Tensor tq = net.add_input("q", DataType::kFloat32, qd), tk = net.add_input("k", DataType::kFloat32, kd);
    Tensor tv = net.add_input("v", DataType::kFloat32, vd), tm = net.add_input("m", mt, {3, 5});
    net.mark_output(attention_layer(net, tq, tk, tv, tm, 0, 0));
    HostTensor out = run(net, {q, k, v, m}, /*roundtrip=*/true)[0];
    std::vector<double> ref = ref_attention(q, k, v, &m, false, 0, {2, 3, 3});
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out.get((b * 3 + 1) * 3 + c), 0.0);
    expect_close(out, {2, 3, 3}, ref, default_tol(DataType::kFloat32), "fully masked row");
  }
}

TEST(Attention, LargeScoresAreStable) {
  // Scores near 1e4 would overflow exp() without subtracting the row max.
  Dims d{3, 2};
  HostTensor q(DataType::kFloat32, d), k(DataType::kFloat32, d), v = random_tensor(DataType::kFloat32, d, 4);
  for (int64_t i = 0; i < 6; ++i) q.set(i, 100.0 + i), k.set(i, 100.0 - i);
  Network net;
  Tensor tq = net.add_input("q", DataType::kFloat32, d), tk = net.add_input("k", DataType::kFloat32, d);
  Tensor tv = net.add_input("v", DataType::kFloat32, d);
  net.mark_output(attention_layer(net, tq, tk, tv, Tensor(), 0, 1.0));
  expect_close(run(net, {q, k, v})[0], d, ref_attention(q, k, v, nullptr, false, 1.0, d), 1e-5, "large scores");
}
