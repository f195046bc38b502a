// Pad (constant with crops, reflect, replicate; every dtype) and resize (nearest, linear with and
// without align_corners, explicit scales): inference errors and CPU kernels against naive index
// mapping over doubles.
#include "test_util.h"

using namespace tft;

namespace {

std::vector<double> ref_pad(const HostTensor& x, const std::vector<int64_t>& pads, const std::string& mode, double value,
                            const Dims& out) {
  const int r = x.dims.rank();
  std::vector<double> y(out.volume());
  for (int64_t o = 0; o < out.volume(); ++o) {
    auto oi = unravel(o, out);
    bool inside = true;
    for (int i = 0; i < r; ++i) {
      int64_t n = x.dims[i], s = oi[i] - pads[i];
      if (mode == "reflect") s = s < 0 ? -s : s >= n ? 2 * (n - 1) - s : s;
      if (mode == "replicate") s = std::min(std::max<int64_t>(s, 0), n - 1);
      inside = inside && s >= 0 && s < n;
      oi[i] = s;
    }
    y[o] = inside ? x.get(ravel_broadcast(oi, x.dims)) : value;
  }
  return y;
}

Tensor add_pad(Network& net, Tensor x, std::vector<int64_t> pads, const std::string& mode, double value,
               const std::string& name = "") {
  return net.add_layer(LayerKind::kPad, {x}, {{"pads", pads}, {"mode", mode}, {"value", value}}, name)[0];
}

}  // namespace

TEST(Pad, KernelAgainstNaiveMapping) {
  const std::vector<DataType> all = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                                     DataType::kInt32,   DataType::kInt64,   DataType::kUInt8,    DataType::kBool};
  struct Case {
    Dims x;
    std::vector<int64_t> pads;
    std::string mode;
  };
  const std::vector<Case> cases = {
      {{5}, {2, 3}, "constant"},          {{2, 3, 4}, {0, 1, 2, 1, 0, 3}, "constant"},
      {{2, 3, 4}, {0, -1, 2, 1, 0, -2}, "constant"}, {{3, 4}, {-3, 0, 0, -4}, "constant"},  // crops to empty
      {{}, {}, "constant"},               {{0, 3}, {1, 0, 1, 1}, "constant"},
      {{2, 3, 5}, {0, 0, 2, 0, 0, 4}, "reflect"},  {{1, 2, 4, 5}, {0, 1, 1, 3, 0, 1, 3, 2}, "reflect"},
      {{1}, {0, 0}, "reflect"},           {{2, 3, 5}, {1, 0, 2, 2, 3, 4}, "replicate"},
      {{1, 1, 1}, {0, 2, 1, 1, 0, 3}, "replicate"}};
  unsigned seed = 1;
  for (const Case& c : cases)
    for (DataType t : all) {
      if (c.mode != "constant" && t == DataType::kBool) continue;
      double value = t == DataType::kBool || t == DataType::kUInt8 ? 1 : is_integer(t) ? -2 : -2.5;
      Dims out = c.x;
      for (int i = 0; i < c.x.rank(); ++i) out[i] += c.pads[i] + c.pads[c.x.rank() + i];
      HostTensor x = random_tensor(t, c.x, seed++, -9, 9);
      Network net;
      Tensor y = add_pad(net, net.add_input("x", t, c.x), c.pads, c.mode, value);
      net.mark_output(y);
      ASSERT_EQ(y.dims(), out);
      auto outs = run(net, {x}, seed % 3 == 0);
      expect_close(outs[0], out, ref_pad(x, c.pads, c.mode, value, out), 0.0,
                   c.mode + " " + c.x.str() + " " + to_string(t));
    }
}

TEST(Pad, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  const ErrorCode kNet = ErrorCode::kInvalidNetwork;
  expect_error([&] { add_pad(net, x, {1, 2, 3}, "constant", 0, "p"); }, kNet,
               {"layer 'p' (pad)", "pads must have 2 * rank = 4 values"});
  expect_error([&] { add_pad(net, x, {0, 0, 0, 0}, "wrap", 0); }, kNet, {"mode must be 'constant', 'reflect' or 'replicate'"});
  expect_error([&] { add_pad(net, x, {0, 3, 0, 0}, "reflect", 0); }, kNet, {"reflect pads must be smaller than the extent in dim 1 (3)"});
  expect_error([&] { add_pad(net, x, {0, -1, 0, 0}, "replicate", 0); }, kNet, {"negative pads are only allowed in constant mode"});
  expect_error([&] { add_pad(net, x, {-3, 0, 0, 0}, "constant", 0); }, kNet, {"pads crop dim 0 below zero"});
  expect_error([&] { add_pad(net, x, {int64_t(1) << 40, 0, 0, 0}, "constant", 0); }, kNet, {"within +-2^30"});
  expect_error([&] { add_pad(net, x, {INT64_MIN, 0, 0, 0}, "constant", 0); }, kNet, {"within +-2^30"});  // no abs() overflow
  Tensor e = net.add_input("e", DataType::kFloat32, {0, 3});
  expect_error([&] { add_pad(net, e, {1, 0, 0, 0}, "replicate", 0); }, kNet, {"cannot grow the empty dim 0"});
  Tensor b = net.add_input("b", DataType::kBool, {2});
  expect_error([&] { add_pad(net, b, {1, 1}, "reflect", 0); }, kNet, {"floating-point or integer input"});
  Tensor i8 = net.add_input("i8", DataType::kInt8, {2});
  expect_error([&] { add_pad(net, i8, {1, 1}, "constant", 300); }, kNet, {"does not fit the input's integer dtype"});
  expect_error([&] { add_pad(net, i8, {1, 1}, "constant", NAN); }, kNet, {"does not fit"});
}

namespace {

// PyTorch's index rules, computed in double (nearest uses float32 as PyTorch does, since its floor is exact there).
std::vector<double> ref_resize(const HostTensor& x, const Dims& out, bool linear, bool align,
                               const std::vector<double>& scales) {
  const int nsp = x.dims.rank() - 2;
  std::vector<double> y(out.volume());
  for (int64_t o = 0; o < out.volume(); ++o) {
    auto oi = unravel(o, out);
    std::vector<int64_t> i0(nsp), i1(nsp);
    std::vector<double> l1(nsp);
    for (int j = 0; j < nsp; ++j) {
      int64_t in = x.dims[2 + j], os = out[2 + j], d = oi[2 + j];
      if (!linear) {
        float s = scales.empty() ? static_cast<float>(in) / static_cast<float>(os) : static_cast<float>(scales[j]);
        i0[j] = i1[j] = os == in ? d : os == 2 * in ? d / 2 : std::min<int64_t>(std::floor(d * s), in - 1);
        continue;
      }
      double s = align ? (os > 1 ? double(in - 1) / double(os - 1) : 0.0) : scales.empty() ? double(in) / os : scales[j];
      double src = in == os ? d : align ? s * d : std::max(s * (d + 0.5) - 0.5, 0.0);
      i0[j] = std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1);
      i1[j] = std::min<int64_t>(i0[j] + 1, in - 1);
      l1[j] = std::min(std::max(src - i0[j], 0.0), 1.0);
    }
    double acc = 0;
    for (int corner = 0; corner < (1 << nsp); ++corner) {
      std::vector<int64_t> xi = {oi[0], oi[1]};
      double w = 1;
      for (int j = 0; j < nsp; ++j) {
        bool hi = (corner >> j) & 1;
        xi.push_back(hi ? i1[j] : i0[j]);
        w *= hi ? l1[j] : 1 - l1[j];
      }
      if (w != 0) acc += w * x.get(ravel_broadcast(xi, x.dims));
    }
    y[o] = acc;
  }
  return y;
}

Tensor add_resize(Network& net, Tensor x, const std::string& mode, std::vector<int64_t> sizes, bool align,
                  std::vector<double> scales, const std::string& name = "") {
  return net.add_layer(LayerKind::kResize, {x},
                       {{"mode", mode}, {"sizes", sizes}, {"align_corners", int64_t(align)}, {"scales", scales}},
                       name)[0];
}

}  // namespace

TEST(Resize, KernelAgainstNaiveInterpolation) {
  struct Case {
    Dims x;
    std::vector<int64_t> sizes;
    std::vector<double> scales;
  };
  const std::vector<Case> cases = {
      {{2, 3, 7}, {13}, {}},        {{1, 2, 8}, {4}, {}},           {{1, 2, 5}, {12}, {1 / 2.5}},
      {{1, 2, 5, 6}, {9, 4}, {}},   {{2, 1, 4, 4}, {8, 8}, {}},     {{1, 2, 6, 5}, {10, 3}, {1 / 1.7, 1 / 0.6}},
      {{1, 1, 1, 3}, {4, 2}, {}},   {{1, 2, 3, 4, 5}, {5, 2, 7}, {}}, {{1, 1, 2, 3, 4}, {4, 4, 3}, {0.5, 1 / 1.5, 1 / 0.75}}};
  const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};
  unsigned seed = 1;
  for (const Case& c : cases)
    for (DataType t : types)
      for (int variant = 0; variant < 3; ++variant) {
        bool linear = variant > 0, align = variant == 2;
        Dims out = c.x;
        for (size_t j = 0; j < c.sizes.size(); ++j) out[2 + j] = c.sizes[j];
        HostTensor x = random_tensor(t, c.x, seed++);
        Network net;
        Tensor y = add_resize(net, net.add_input("x", t, c.x), linear ? "linear" : "nearest", c.sizes, align, c.scales);
        net.mark_output(y);
        auto outs = run(net, {x}, seed % 3 == 0);
        expect_close(outs[0], out, rounded(ref_resize(x, out, linear, align, align ? std::vector<double>{} : c.scales), t),
                     default_tol(t), "resize " + c.x.str() + " variant " + std::to_string(variant) + " " + to_string(t));
      }
}

TEST(Resize, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 4, 4});
  const ErrorCode kNet = ErrorCode::kInvalidNetwork;
  EXPECT_EQ(add_resize(net, x, "linear", {3, 9}, true, {}).dims(), (Dims{1, 2, 3, 9}));
  expect_error([&] { add_resize(net, x, "cubic", {8, 8}, false, {}, "r"); }, kNet, {"layer 'r' (resize)", "mode must be"});
  expect_error([&] { add_resize(net, x, "nearest", {8, 8}, true, {}); }, kNet, {"align_corners is only valid"});
  expect_error([&] { add_resize(net, x, "nearest", {}, false, {}); }, kNet, {"sizes must have one value per spatial dim"});
  expect_error([&] { add_resize(net, x, "nearest", {8}, false, {}); }, kNet, {"sizes must have one value per spatial dim (2)"});
  expect_error([&] { add_resize(net, x, "nearest", {8, 0}, false, {}); }, kNet, {"sizes values must be in [1"});
  expect_error([&] { add_resize(net, x, "nearest", {8, 8}, false, {0.5}); }, kNet, {"scales must be empty or have one"});
  expect_error([&] { add_resize(net, x, "nearest", {8, 8}, false, {0.5, -1}); }, kNet, {"scales must be input/output ratios in [2^-30, 2^30]"});
  expect_error([&] { add_resize(net, x, "nearest", {8, 8}, false, {0.5, INFINITY}); }, kNet, {"ratios in [2^-30, 2^30]"});
  expect_error([&] { add_resize(net, x, "nearest", {8, 8}, false, {0.5, 1e300}); }, kNet, {"got 1"});
  expect_error([&] { add_resize(net, x, "nearest", {8, 8}, false, {1e-300, 0.5}); }, kNet, {"ratios in"});
  Tensor e = net.add_input("e", DataType::kFloat32, {1, 2, 0});
  expect_error([&] { add_resize(net, e, "linear", {4}, false, {}); }, kNet, {"input spatial extents must be >= 1"});
  Tensor xi = net.add_input("xi", DataType::kInt32, {1, 2, 4});
  expect_error([&] { add_resize(net, xi, "nearest", {8}, false, {}); }, kNet, {"resize needs a floating-point input"});
}
