// Pooling and adaptive pooling: inference (PyTorch's output sizes including ceil_mode, every
// validation error) and the CPU kernels against naive window loops over doubles, in 1-D to 3-D,
// for max (with NaN) and avg (count_include_pad, divisor_override) in every float dtype.
#include <limits>

#include "test_util.h"

using namespace tft;

namespace {

const std::vector<DataType> kFloats = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

struct PoolCase {
  Dims x;
  std::vector<int64_t> k, s, p, d;
  bool ceil;
  Dims out;
};

Tensor add_pool(Network& net, Tensor x, const std::string& mode, const PoolCase& c, bool include_pad = true,
                int64_t divisor = 0, const std::string& name = "") {
  return net.add_layer(LayerKind::kPooling, {x},
                       {{"mode", mode}, {"kernel", c.k}, {"stride", c.s}, {"padding", c.p}, {"dilation", c.d},
                        {"ceil_mode", int64_t(c.ceil)}, {"count_include_pad", int64_t(include_pad)},
                        {"divisor_override", divisor}},
                       name)[0];
}

std::vector<double> ref_pool(const HostTensor& x, const std::string& mode, const PoolCase& c, bool include_pad,
                             int64_t divisor) {
  const int nsp = x.dims.rank() - 2;
  std::vector<double> y(c.out.volume());
  Dims kd(c.k);
  for (int64_t o = 0; o < c.out.volume(); ++o) {
    auto oi = unravel(o, c.out);
    double mx = -std::numeric_limits<double>::infinity(), sum = 0;
    int64_t count = 0, pool_size = 1;
    for (int j = 0; j < nsp; ++j) {
      int64_t s = c.s.empty() ? c.k[j] : c.s[j], p = c.p.empty() ? 0 : c.p[j];
      int64_t start = oi[2 + j] * s - p;
      pool_size *= std::min(start + c.k[j], x.dims[2 + j] + p) - start;
    }
    for (int64_t k = 0; k < kd.volume(); ++k) {
      auto ki = unravel(k, kd);
      std::vector<int64_t> xi = {oi[0], oi[1]};
      bool inside = true;
      for (int j = 0; j < nsp; ++j) {
        int64_t s = c.s.empty() ? c.k[j] : c.s[j], p = c.p.empty() ? 0 : c.p[j], d = c.d.empty() ? 1 : c.d[j];
        int64_t q = oi[2 + j] * s - p + ki[j] * d;
        inside = inside && q >= 0 && q < x.dims[2 + j];
        xi.push_back(q);
      }
      if (!inside) continue;
      double v = x.get(ravel_broadcast(xi, x.dims));
      if (v > mx || std::isnan(v)) mx = v;
      sum += v;
      ++count;
    }
    y[o] = mode == "max" ? mx : sum / static_cast<double>(divisor ? divisor : include_pad ? pool_size : count);
  }
  return y;
}

const std::vector<PoolCase> kCases = {
    {{2, 3, 11}, {3}, {}, {1}, {}, false, {2, 3, 4}},
    {{1, 2, 10}, {4}, {3}, {2}, {2}, true, {1, 2, 4}},
    {{1, 1, 1}, {1}, {}, {}, {}, false, {1, 1, 1}},
    {{2, 3, 7, 8}, {2, 2}, {}, {}, {}, false, {2, 3, 3, 4}},
    {{1, 2, 9, 7}, {3, 3}, {2, 2}, {1, 1}, {}, true, {1, 2, 5, 4}},
    {{1, 2, 8, 8}, {3, 2}, {2, 3}, {1, 0}, {2, 1}, true, {1, 2, 4, 3}},
    {{1, 1, 5, 5}, {2, 2}, {2, 2}, {1, 1}, {}, true, {1, 1, 3, 3}},  // ceil_mode drops a window in the padding
    {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 2, 3}, {1, 1, 0}, {}, true, {1, 2, 3, 4, 3}},
    {{0, 2, 4, 4}, {2, 2}, {}, {}, {}, false, {0, 2, 2, 2}},  // empty batch
};

}  // namespace

TEST(Pooling, KernelAgainstNaiveWindows) {
  unsigned seed = 1;
  for (const PoolCase& c : kCases)
    for (DataType t : kFloats)
      for (const std::string mode : {"max", "avg"})
        for (int variant = 0; variant < (mode == "avg" ? 3 : 1); ++variant) {
          if (mode == "avg" && !c.d.empty()) continue;
          bool include_pad = variant != 1;
          int64_t divisor = variant == 2 ? 5 : 0;
          HostTensor x = random_tensor(t, c.x, seed++);
          if (mode == "max" && x.numel() > 3) x.set(3, NAN);  // NaN propagates
          Network net;
          Tensor y = add_pool(net, net.add_input("x", t, c.x), mode, c, include_pad, divisor);
          net.mark_output(y);
          ASSERT_EQ(y.dims(), c.out) << c.x.str();
          auto outs = run(net, {x}, seed % 3 == 0);
          expect_close(outs[0], c.out, rounded(ref_pool(x, mode, c, include_pad, divisor), t), default_tol(t),
                       mode + " " + c.x.str() + " " + to_string(t) + " variant " + std::to_string(variant));
        }
}

TEST(Pooling, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 5, 5});
  const ErrorCode kNet = ErrorCode::kInvalidNetwork;
  auto pool = [&](const std::string& mode, PoolCase c) { add_pool(net, x, mode, c, true, 0, "p"); };
  expect_error([&] { pool("min", {{}, {2, 2}, {}, {}, {}, false, {}}); }, kNet, {"layer 'p' (pooling)", "mode must be"});
  expect_error([&] { pool("max", {{}, {}, {}, {}, {}, false, {}}); }, kNet, {"kernel must have one value per spatial dim"});
  expect_error([&] { pool("max", {{}, {2}, {}, {}, {}, false, {}}); }, kNet, {"kernel must have one value per spatial dim (2)"});
  expect_error([&] { pool("max", {{}, {2, 0}, {}, {}, {}, false, {}}); }, kNet, {"kernel values must be in [1"});
  expect_error([&] { pool("max", {{}, {2, 2}, {0, 1}, {}, {}, false, {}}); }, kNet, {"stride values must be in [1"});
  expect_error([&] { pool("max", {{}, {2, 2}, {}, {2, 0}, {}, false, {}}); }, kNet, {"at most half the kernel"});
  expect_error([&] { pool("max", {{}, {3, 3}, {}, {}, {3, 1}, false, {}}); }, kNet, {"larger than the padded input"});
  expect_error([&] { pool("avg", {{}, {2, 2}, {}, {}, {2, 2}, false, {}}); }, kNet, {"dilation is only supported by max"});
  expect_error([&] { net.add_layer(LayerKind::kPooling, {x}, {{"mode", std::string("avg")}, {"kernel", std::vector<int64_t>{2, 2}},
                                                             {"divisor_override", int64_t(-1)}}); },
               kNet, {"divisor_override must be >= 0"});
  Tensor xi = net.add_input("xi", DataType::kInt32, {1, 2, 5, 5});
  expect_error([&] { add_pool(net, xi, "max", {{}, {2, 2}, {}, {}, {}, false, {}}); }, kNet, {"floating-point"});
  Tensor x1 = net.add_input("x1", DataType::kFloat32, {2, 5});
  expect_error([&] { add_pool(net, x1, "max", {{}, {2}, {}, {}, {}, false, {}}); }, kNet, {"[N, C, *spatial]"});
}

namespace {

std::vector<double> ref_adaptive(const HostTensor& x, const std::string& mode, const Dims& out) {
  const int nsp = x.dims.rank() - 2;
  std::vector<double> y(out.volume());
  for (int64_t o = 0; o < out.volume(); ++o) {
    auto oi = unravel(o, out);
    std::vector<int64_t> lo(nsp), n(nsp);
    for (int j = 0; j < nsp; ++j) {
      double in = static_cast<double>(x.dims[2 + j]), os = static_cast<double>(out[2 + j]);
      lo[j] = static_cast<int64_t>(std::floor(oi[2 + j] * in / os));
      n[j] = static_cast<int64_t>(std::ceil((oi[2 + j] + 1) * in / os)) - lo[j];
    }
    Dims win(n);
    double mx = -INFINITY, sum = 0;
    for (int64_t k = 0; k < win.volume(); ++k) {
      auto ki = unravel(k, win);
      std::vector<int64_t> xi = {oi[0], oi[1]};
      for (int j = 0; j < nsp; ++j) xi.push_back(lo[j] + ki[j]);
      double v = x.get(ravel_broadcast(xi, x.dims));
      if (v > mx || std::isnan(v)) mx = v;
      sum += v;
    }
    y[o] = mode == "max" ? mx : sum / static_cast<double>(win.volume());
  }
  return y;
}

}  // namespace

TEST(AdaptivePooling, KernelAgainstNaiveBins) {
  const std::vector<std::pair<Dims, std::vector<int64_t>>> cases = {
      {{2, 3, 10}, {4}}, {{1, 2, 7}, {7}}, {{1, 1, 1}, {3}}, {{2, 2, 7, 9}, {3, 4}}, {{1, 3, 5, 5}, {1, 1}},
      {{1, 1, 3, 4}, {5, 7}}, {{1, 2, 5, 6, 7}, {2, 3, 4}}};
  unsigned seed = 50;
  for (const auto& [xd, size] : cases)
    for (DataType t : kFloats)
      for (const std::string mode : {"avg", "max"}) {
        Dims out = xd;
        for (size_t j = 0; j < size.size(); ++j) out[2 + j] = size[j];
        HostTensor x = random_tensor(t, xd, seed++);
        if (mode == "max" && x.numel() > 5) x.set(5, NAN);
        Network net;
        Tensor y = net.add_layer(LayerKind::kAdaptivePooling, {net.add_input("x", t, xd)},
                                 {{"mode", mode}, {"output_size", size}})[0];
        net.mark_output(y);
        auto outs = run(net, {x}, seed % 2 == 0);
        expect_close(outs[0], out, rounded(ref_adaptive(x, mode, out), t), default_tol(t),
                     "adaptive " + mode + " " + xd.str() + " " + to_string(t));
      }
}

TEST(AdaptivePooling, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 5, 5});
  auto add = [&](Tensor in, const std::string& mode, std::vector<int64_t> size) {
    return net.add_layer(LayerKind::kAdaptivePooling, {in}, {{"mode", mode}, {"output_size", size}}, "a")[0];
  };
  const ErrorCode kNet = ErrorCode::kInvalidNetwork;
  EXPECT_EQ(add(x, "avg", {3, 1}).dims(), (Dims{1, 2, 3, 1}));
  expect_error([&] { add(x, "sum", {2, 2}); }, kNet, {"layer 'a", "(adaptive_pooling)", "mode must be"});
  expect_error([&] { add(x, "avg", {}); }, kNet, {"output_size must have one value per spatial dim"});
  expect_error([&] { add(x, "avg", {2}); }, kNet, {"output_size must have one value per spatial dim (2)"});
  expect_error([&] { add(x, "max", {0, 2}); }, kNet, {"output_size values must be in [1"});
  Tensor e = net.add_input("e", DataType::kFloat32, {1, 2, 0, 5});
  expect_error([&] { add(e, "avg", {2, 2}); }, kNet, {"input spatial extents must be >= 1"});
  Tensor xi = net.add_input("xi", DataType::kInt64, {1, 2, 5});
  expect_error([&] { add(xi, "max", {2}); }, kNet, {"floating-point"});
}
