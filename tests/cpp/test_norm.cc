// batch_norm, layer_norm, group_norm, rms_norm: inference (shapes, optional parameters, every check and
// its message) and the CPU kernels against naive double references over several shapes, with and without
// weight/bias, in every float dtype. Some cases go through a file round trip.
#include <limits>

#include "test_util.h"

using namespace tft;

namespace {

const std::vector<DataType> kFloats = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

/// Normalizes x in blocks: block b holds `n` consecutive elements; param_index(flat) picks weight/bias.
/// rms: no mean subtraction, mean of squares instead of variance.
std::vector<double> ref_blocks(const HostTensor& x, int64_t n, double eps, bool rms, const HostTensor* w,
                               const HostTensor* b, const std::function<int64_t(int64_t)>& param_index) {
  std::vector<double> out(x.numel());
  for (int64_t start = 0; n > 0 && start < x.numel(); start += n) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < n; ++j) mean += x.get(start + j) / n;
    if (rms) mean = 0;
    for (int64_t j = 0; j < n; ++j) var += (x.get(start + j) - mean) * (x.get(start + j) - mean) / n;
    for (int64_t j = start; j < start + n; ++j) {
      int64_t p = param_index(j);
      out[j] = (x.get(j) - mean) / std::sqrt(var + eps) * (w ? w->get(p) : 1.0) + (b ? b->get(p) : 0.0);
    }
  }
  return out;
}

std::vector<int64_t> tail(const Dims& d, int r) {
  auto v = d.vec();
  return std::vector<int64_t>(v.end() - r, v.end());
}

}  // namespace

TEST(BatchNorm, InferenceAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 4});
  Tensor c3 = net.add_input("c3", DataType::kFloat32, {3});
  Tensor c4 = net.add_input("c4", DataType::kFloat32, {4});
  Tensor h3 = net.add_input("h3", DataType::kFloat16, {3});
  Tensor v = net.add_input("v", DataType::kFloat32, {3});
  Tensor y = net.add_layer(LayerKind::kBatchNorm, {x, c3, v})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 3, 4}));
  EXPECT_EQ(net.add_layer(LayerKind::kBatchNorm, {x, c3, v, c3, c3}, {{"eps", 1e-3}})[0].dtype(), DataType::kFloat32);
  Tensor x1 = net.add_input("x1", DataType::kFloat32, {5});
  Tensor xi = net.add_input("xi", DataType::kInt32, {2, 3});
  auto bn = [&](std::vector<Tensor> in, Attributes a = {}) { net.add_layer(LayerKind::kBatchNorm, in, a, "bn"); };
  expect_error([&] { bn({x1, c3, v}); }, ErrorCode::kInvalidNetwork, {"layer 'bn' (batch_norm)", "rank >= 2"});
  expect_error([&] { bn({xi, c3, v}); }, ErrorCode::kInvalidNetwork, {"layer 'bn' (batch_norm)", "floating-point"});
  expect_error([&] { bn({x, c4, v}); }, ErrorCode::kInvalidNetwork, {"mean must have shape [3], got [4]"});
  expect_error([&] { bn({x, c3, c4}); }, ErrorCode::kInvalidNetwork, {"var must have shape [3]"});
  expect_error([&] { bn({x, c3, v, c4}); }, ErrorCode::kInvalidNetwork, {"weight must have shape [3]"});
  expect_error([&] { bn({x, c3, v, Tensor(), c4}); }, ErrorCode::kInvalidNetwork, {"bias must have shape [3]"});
  expect_error([&] { bn({x, h3, v}); }, ErrorCode::kInvalidNetwork, {"mean must have x's dtype float32"});
  expect_error([&] { bn({x, c3, v}, {{"eps", -1.0}}); }, ErrorCode::kInvalidNetwork, {"eps must be >= 0"});
  expect_error([&] { bn({x, c3}); }, ErrorCode::kInvalidNetwork, {"bn"});
}

TEST(BatchNorm, MatchesReference) {
  unsigned seed = 10;
  for (DataType t : kFloats)
    for (Dims d : {Dims{2, 3}, Dims{2, 3, 5}, Dims{1, 4, 3, 3}, Dims{3, 2, 1, 2, 3}, Dims{0, 3, 2}, Dims{2, 1}})
      for (int affine = 0; affine < 4; ++affine) {
        const int64_t C = d[1];
        HostTensor x = random_tensor(t, d, seed++), mean = random_tensor(t, {C}, seed++),
                   var = random_tensor(t, {C}, seed++, 0.1, 2), w = random_tensor(t, {C}, seed++),
                   b = random_tensor(t, {C}, seed++);
        Network net;
        std::vector<Tensor> in = {net.add_input("x", t, d), net.add_input("mean", t, {C}), net.add_input("var", t, {C})};
        std::vector<HostTensor> vals = {x, mean, var};
        bool has_w = affine & 1, has_b = affine & 2;
        in.push_back(has_w ? net.add_input("w", t, {C}) : Tensor());
        in.push_back(has_b ? net.add_input("b", t, {C}) : Tensor());
        if (has_w) vals.push_back(w);
        if (has_b) vals.push_back(b);
        const double eps = 1e-3;
        net.mark_output(net.add_layer(LayerKind::kBatchNorm, in, {{"eps", eps}})[0]);
        std::vector<double> ref(x.numel());
        int64_t inner = d.volume() / std::max<int64_t>(1, d[0] * C);
        for (int64_t i = 0; i < x.numel(); ++i) {
          int64_t c = (i / inner) % C;
          ref[i] = (x.get(i) - mean.get(c)) / std::sqrt(var.get(c) + eps) * (has_w ? w.get(c) : 1) +
                   (has_b ? b.get(c) : 0);
        }
        auto outs = run(net, vals, seed % 3 == 0);
        expect_close(outs[0], d, rounded(ref, t), default_tol(t), "batch_norm " + std::string(to_string(t)) + d.str());
      }
}

TEST(LayerNorm, InferenceAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kBFloat16, {2, 3, 4});
  Tensor w34 = net.add_input("w34", DataType::kBFloat16, {3, 4});
  Tensor w4 = net.add_input("w4", DataType::kBFloat16, {4});
  Tensor f4 = net.add_input("f4", DataType::kFloat32, {4});
  auto ln = [&](std::vector<Tensor> in, int64_t r, double eps = 1e-5) {
    return net.add_layer(LayerKind::kLayerNorm, in, {{"normalized_rank", r}, {"eps", eps}}, "ln")[0];
  };
  EXPECT_EQ(ln({x}, 3).dims(), (Dims{2, 3, 4}));
  EXPECT_EQ(ln({x, w34, w34}, 2).dtype(), DataType::kBFloat16);
  EXPECT_EQ(ln({x, Tensor(), w4}, 1).dims(), (Dims{2, 3, 4}));
  expect_error([&] { ln({x}, 0); }, ErrorCode::kInvalidNetwork, {"layer 'ln", "(layer_norm)", "normalized_rank must be in [1, 3]"});
  expect_error([&] { ln({x}, 4); }, ErrorCode::kInvalidNetwork, {"normalized_rank must be in [1, 3]", "got 4"});
  expect_error([&] { ln({x, w4}, 2); }, ErrorCode::kInvalidNetwork, {"weight must have shape [3,4], got [4]"});
  expect_error([&] { ln({x, w34, w4}, 2); }, ErrorCode::kInvalidNetwork, {"bias must have shape [3,4]"});
  expect_error([&] { ln({x, f4}, 1); }, ErrorCode::kInvalidNetwork, {"weight must have x's dtype bfloat16"});
  expect_error([&] { ln({x}, 1, -1e-5); }, ErrorCode::kInvalidNetwork, {"eps must be >= 0"});
  Tensor i = net.add_input("i", DataType::kInt64, {3});
  expect_error([&] { ln({i}, 1); }, ErrorCode::kInvalidNetwork, {"floating-point"});
  expect_error([&] { net.add_layer(LayerKind::kLayerNorm, {x}); }, ErrorCode::kInvalidArgument, {"normalized_rank"});
}

TEST(LayerNorm, MatchesReference) {
  unsigned seed = 200;
  for (DataType t : kFloats)
    for (Dims d : {Dims{7}, Dims{2, 3, 5}, Dims{4, 1}, Dims{3, 0}, Dims{0, 4}, Dims{2, 2, 3, 33}})
      for (int r = 1; r <= d.rank(); ++r)
        for (int affine : {0, 1, 3}) {
          Dims pd(tail(d, r));
          HostTensor x = random_tensor(t, d, seed++, -3, 5), w = random_tensor(t, pd, seed++),
                     b = random_tensor(t, pd, seed++);
          Network net;
          std::vector<Tensor> in = {net.add_input("x", t, d)};
          std::vector<HostTensor> vals = {x};
          if (affine & 1) in.push_back(net.add_input("w", t, pd)), vals.push_back(w);
          if (affine & 2) in.push_back(net.add_input("b", t, pd)), vals.push_back(b);
          net.mark_output(net.add_layer(LayerKind::kLayerNorm, in, {{"normalized_rank", int64_t{r}}})[0]);
          int64_t n = pd.volume();
          auto ref = ref_blocks(x, n, 1e-5, false, affine & 1 ? &w : nullptr, affine & 2 ? &b : nullptr,
                                [n](int64_t j) { return j % n; });
          auto outs = run(net, vals, seed % 5 == 0);
          expect_close(outs[0], d, rounded(ref, t), default_tol(t) * 2,
                       "layer_norm " + std::string(to_string(t)) + d.str() + " r=" + std::to_string(r));
        }
}

TEST(LayerNorm, LargeOffsetKeepsPrecision) {
  // E[x²] - E[x]² would cancel catastrophically here; a two-pass variance does not.
  Dims d{2, 64};
  HostTensor x = random_tensor(DataType::kFloat32, d, 7, 1000, 1001);
  Network net;
  net.mark_output(net.add_layer(LayerKind::kLayerNorm, {net.add_input("x", DataType::kFloat32, d)},
                                {{"normalized_rank", int64_t{1}}})[0]);
  auto ref = ref_blocks(x, 64, 1e-5, false, nullptr, nullptr, [](int64_t j) { return j; });
  expect_close(run(net, {x})[0], d, ref, 1e-3, "layer_norm offset");
}

TEST(GroupNorm, InferenceAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat16, {2, 6, 5});
  Tensor w6 = net.add_input("w6", DataType::kFloat16, {6});
  Tensor w3 = net.add_input("w3", DataType::kFloat16, {3});
  auto gn = [&](std::vector<Tensor> in, int64_t g, double eps = 1e-5) {
    return net.add_layer(LayerKind::kGroupNorm, in, {{"num_groups", g}, {"eps", eps}}, "gn")[0];
  };
  for (int64_t g : {1, 2, 3, 6}) EXPECT_EQ(gn({x, w6, w6}, g).dims(), (Dims{2, 6, 5}));
  expect_error([&] { gn({x}, 4); }, ErrorCode::kInvalidNetwork,
               {"layer 'gn", "(group_norm)", "num_groups 4 does not divide the channel count 6"});
  expect_error([&] { gn({x}, 0); }, ErrorCode::kInvalidNetwork, {"num_groups must be >= 1, got 0"});
  expect_error([&] { gn({x}, -2); }, ErrorCode::kInvalidNetwork, {"num_groups must be >= 1"});
  expect_error([&] { gn({x, w3}, 3); }, ErrorCode::kInvalidNetwork, {"weight must have shape [6], got [3]"});
  expect_error([&] { gn({x, w6, w3}, 3); }, ErrorCode::kInvalidNetwork, {"bias must have shape [6]"});
  expect_error([&] { gn({x}, 3, -0.5); }, ErrorCode::kInvalidNetwork, {"eps must be >= 0"});
  Tensor x1 = net.add_input("x1", DataType::kFloat16, {6});
  expect_error([&] { gn({x1}, 3); }, ErrorCode::kInvalidNetwork, {"rank >= 2"});
  Tensor xi = net.add_input("xi", DataType::kInt8, {2, 6});
  expect_error([&] { gn({xi}, 3); }, ErrorCode::kInvalidNetwork, {"floating-point"});
}

TEST(GroupNorm, MatchesReference) {
  unsigned seed = 400;
  for (DataType t : kFloats)
    for (Dims d : {Dims{2, 6}, Dims{2, 6, 5}, Dims{1, 4, 3, 3}, Dims{3, 2, 2, 1, 3}, Dims{0, 4, 2}, Dims{2, 4, 0}})
      for (int64_t g : {int64_t{1}, int64_t{2}, d[1]})
        for (int affine : {0, 3}) {
          const int64_t C = d[1], S = d.volume() / std::max<int64_t>(1, d[0] * C);
          HostTensor x = random_tensor(t, d, seed++), w = random_tensor(t, {C}, seed++), b = random_tensor(t, {C}, seed++);
          Network net;
          std::vector<Tensor> in = {net.add_input("x", t, d)};
          std::vector<HostTensor> vals = {x};
          if (affine) {
            in.push_back(net.add_input("w", t, {C}));
            in.push_back(net.add_input("b", t, {C}));
            vals.push_back(w);
            vals.push_back(b);
          }
          net.mark_output(net.add_layer(LayerKind::kGroupNorm, in, {{"num_groups", g}, {"eps", 1e-4}})[0]);
          auto ref = ref_blocks(x, C / g * S, 1e-4, false, affine ? &w : nullptr, affine ? &b : nullptr,
                                [C, S](int64_t j) { return S ? (j / S) % C : 0; });
          auto outs = run(net, vals, seed % 4 == 0);
          expect_close(outs[0], d, rounded(ref, t), default_tol(t) * 2,
                       "group_norm " + std::string(to_string(t)) + d.str() + " g=" + std::to_string(g));
        }
}

TEST(RMSNorm, InferenceAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 4});
  Tensor w4 = net.add_input("w4", DataType::kFloat32, {4});
  auto rms = [&](std::vector<Tensor> in, int64_t r, double eps = -1) {
    return net.add_layer(LayerKind::kRMSNorm, in, {{"normalized_rank", r}, {"eps", eps}}, "rms")[0];
  };
  EXPECT_EQ(rms({x, w4}, 1).dims(), (Dims{2, 3, 4}));
  EXPECT_EQ(rms({x}, 3, 0.0).dims(), (Dims{2, 3, 4}));
  EXPECT_EQ(net.add_layer(LayerKind::kRMSNorm, {x}, {{"normalized_rank", int64_t{2}}})[0].dims(), (Dims{2, 3, 4}));
  expect_error([&] { rms({x}, 0); }, ErrorCode::kInvalidNetwork, {"layer 'rms", "(rms_norm)", "normalized_rank must be in [1, 3]"});
  expect_error([&] { rms({x, w4}, 2); }, ErrorCode::kInvalidNetwork, {"weight must have shape [3,4], got [4]"});
  expect_error([&] { rms({x}, 1, -2); }, ErrorCode::kInvalidNetwork, {"eps must be >= 0 (or -1"});
  Tensor i = net.add_input("i", DataType::kInt32, {4});
  expect_error([&] { rms({i}, 1); }, ErrorCode::kInvalidNetwork, {"floating-point"});
}

TEST(RMSNorm, MatchesReferenceWithDtypeEpsilon) {
  unsigned seed = 600;
  for (DataType t : kFloats) {
    const double machine_eps = t == DataType::kFloat32   ? std::numeric_limits<float>::epsilon()
                               : t == DataType::kFloat16 ? 0.0009765625
                                                         : 0.0078125;
    for (Dims d : {Dims{7}, Dims{2, 3, 5}, Dims{4, 1}, Dims{0, 3}, Dims{3, 2, 40}})
      for (int r = 1; r <= d.rank(); ++r)
        for (double eps : {-1.0, 1e-3})
          for (bool has_w : {false, true}) {
            Dims pd(tail(d, r));
            // Small inputs make eps matter, so the dtype's machine epsilon is checked.
            HostTensor x = random_tensor(t, d, seed++, -0.1, 0.1), w = random_tensor(t, pd, seed++);
            Network net;
            std::vector<Tensor> in = {net.add_input("x", t, d)};
            std::vector<HostTensor> vals = {x};
            if (has_w) in.push_back(net.add_input("w", t, pd)), vals.push_back(w);
            net.mark_output(net.add_layer(LayerKind::kRMSNorm, in, {{"normalized_rank", int64_t{r}}, {"eps", eps}})[0]);
            int64_t n = pd.volume();
            auto ref = ref_blocks(x, n, eps == -1 ? machine_eps : eps, true, has_w ? &w : nullptr, nullptr,
                                  [n](int64_t j) { return j % n; });
            auto outs = run(net, vals, seed % 3 == 0);
            expect_close(outs[0], d, rounded(ref, t), default_tol(t) * 2,
                         "rms_norm " + std::string(to_string(t)) + d.str() + " eps=" + std::to_string(eps));
          }
  }
}
