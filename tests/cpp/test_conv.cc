// Convolution and deconvolution: inference (shapes, every validation error) and the CPU kernels
// against direct nested-loop references over doubles, in 1-D, 2-D and 3-D, with strides, padding,
// dilation, groups, bias, output_padding, every float dtype, and engine-file round trips.
#include "test_util.h"

using namespace tft;

namespace {

const std::vector<DataType> kFloats = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

struct ConvCase {
  Dims x, w;
  std::vector<int64_t> stride, pad, opad, dil;
  int64_t groups;
};

// Spatial attribute i, or its default when the list is empty.
int64_t at(const std::vector<int64_t>& v, int i, int64_t def) { return v.empty() ? def : v[i]; }

std::vector<double> ref_conv(const HostTensor& x, const HostTensor& w, const HostTensor* b, const ConvCase& c,
                             const Dims& out) {
  const int nsp = x.dims.rank() - 2;
  const int64_t cin_g = w.dims[1], cout_g = w.dims[0] / c.groups;
  const std::vector<int64_t> wv = w.dims.vec();
  const std::vector<int64_t> ksz(wv.begin() + 2, wv.end());
  Dims kd(ksz);
  std::vector<double> y(out.volume());
  for (int64_t o = 0; o < out.volume(); ++o) {
    auto oi = unravel(o, out);
    const int64_t co = oi[1], g = co / cout_g;
    double acc = b ? b->get(co) : 0.0;
    for (int64_t ci = 0; ci < cin_g; ++ci)
      for (int64_t k = 0; k < kd.volume(); ++k) {
        auto ki = unravel(k, kd);
        std::vector<int64_t> xi = {oi[0], g * cin_g + ci};
        bool inside = true;
        for (int j = 0; j < nsp; ++j) {
          int64_t p = oi[2 + j] * at(c.stride, j, 1) - at(c.pad, j, 0) + ki[j] * at(c.dil, j, 1);
          inside = inside && p >= 0 && p < x.dims[2 + j];
          xi.push_back(p);
        }
        if (!inside) continue;
        std::vector<int64_t> wi = {co, ci};
        wi.insert(wi.end(), ki.begin(), ki.end());
        acc += x.get(ravel_broadcast(xi, x.dims)) * w.get(ravel_broadcast(wi, w.dims));
      }
    y[o] = acc;
  }
  return y;
}

std::vector<double> ref_deconv(const HostTensor& x, const HostTensor& w, const HostTensor* b, const ConvCase& c,
                               const Dims& out) {
  const int nsp = x.dims.rank() - 2;
  const int64_t cin_g = x.dims[1] / c.groups, cout_g = w.dims[1];
  const std::vector<int64_t> wv = w.dims.vec();
  const std::vector<int64_t> ksz(wv.begin() + 2, wv.end());
  Dims kd(ksz);
  std::vector<double> y(out.volume());
  for (int64_t o = 0; o < out.volume(); ++o) y[o] = b ? b->get(unravel(o, out)[1]) : 0.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto xi = unravel(i, x.dims);
    const int64_t ci = xi[1], g = ci / cin_g;
    for (int64_t co = 0; co < cout_g; ++co)
      for (int64_t k = 0; k < kd.volume(); ++k) {
        auto ki = unravel(k, kd);
        std::vector<int64_t> yi = {xi[0], g * cout_g + co};
        bool inside = true;
        for (int j = 0; j < nsp; ++j) {
          int64_t p = xi[2 + j] * at(c.stride, j, 1) - at(c.pad, j, 0) + ki[j] * at(c.dil, j, 1);
          inside = inside && p >= 0 && p < out[2 + j];
          yi.push_back(p);
        }
        if (!inside) continue;
        std::vector<int64_t> wi = {ci, co};
        wi.insert(wi.end(), ki.begin(), ki.end());
        y[ravel_broadcast(yi, out)] += x.get(i) * w.get(ravel_broadcast(wi, w.dims));
      }
  }
  return y;
}

Tensor add_deconv(Network& net, Tensor x, Tensor w, Tensor b, const ConvCase& c, const std::string& name = "") {
  return net.add_layer(LayerKind::kDeconvolution, {x, w, b},
                       {{"stride", c.stride}, {"padding", c.pad}, {"output_padding", c.opad}, {"dilation", c.dil},
                        {"groups", c.groups}},
                       name)[0];
}

// Runs one (de)convolution case in every float dtype, with and without bias, against the reference.
void check_cases(bool deconv, const std::vector<std::pair<ConvCase, Dims>>& cases) {
  unsigned seed = deconv ? 100 : 1;
  for (const auto& [c, out_dims] : cases)
    for (DataType t : kFloats)
      for (bool with_bias : {true, false}) {
        const int64_t cout = deconv ? c.w[1] * c.groups : c.w[0];
        HostTensor x = random_tensor(t, c.x, seed++), w = random_tensor(t, c.w, seed++);
        HostTensor b = random_tensor(t, Dims{cout}, seed++);
        Network net;
        Tensor tx = net.add_input("x", t, c.x), tw = net.add_input("w", t, c.w);
        Tensor tb = with_bias ? net.add_input("b", t, Dims{cout}) : Tensor();
        Tensor y = deconv ? add_deconv(net, tx, tw, tb, c)
                          : net.add_convolution(tx, tw, tb, c.stride, c.pad, c.dil, c.groups);
        net.mark_output(y);
        ASSERT_EQ(y.dims(), out_dims) << c.x.str() << " " << c.w.str();
        ASSERT_EQ(y.dtype(), t);
        std::vector<HostTensor> ins = {x, w};
        if (with_bias) ins.push_back(b);
        auto outs = run(net, ins, seed % 4 == 0);
        auto ref = deconv ? ref_deconv(x, w, with_bias ? &b : nullptr, c, out_dims)
                          : ref_conv(x, w, with_bias ? &b : nullptr, c, out_dims);
        // float32 sums of up to ~50 products: allow a little reassociation error beyond 1e-5
        double tol = t == DataType::kFloat32 ? 1e-5 * 4 : default_tol(t);
        expect_close(outs[0], out_dims, rounded(ref, t), tol,
                     std::string(deconv ? "deconv " : "conv ") + c.x.str() + " " + c.w.str() + " " + to_string(t));
      }
}

}  // namespace

TEST(Convolution, KernelAgainstDirectLoops) {
  check_cases(false, {
      {{{2, 3, 11}, {4, 3, 3}, {}, {}, {}, {}, 1}, {2, 4, 9}},
      {{{1, 4, 9}, {6, 2, 4}, {2}, {1}, {}, {2}, 2}, {1, 6, 3}},
      {{{1, 1, 1}, {2, 1, 1}, {}, {}, {}, {}, 1}, {1, 2, 1}},                           // size 1
      {{{2, 3, 8, 7}, {5, 3, 3, 3}, {1, 1}, {1, 1}, {}, {}, 1}, {2, 5, 8, 7}},
      {{{1, 6, 9, 10}, {6, 1, 3, 3}, {2, 1}, {1, 0}, {}, {1, 2}, 6}, {1, 6, 5, 6}},      // depthwise
      {{{2, 8, 5, 5}, {4, 8, 1, 1}, {}, {}, {}, {}, 1}, {2, 4, 5, 5}},                  // 1x1 direct path
      {{{1, 4, 6, 7}, {4, 4, 1, 1}, {2, 3}, {0, 0}, {}, {}, 1}, {1, 4, 3, 3}},          // strided 1x1
      {{{1, 3, 5, 5}, {2, 3, 5, 5}, {}, {2, 2}, {}, {}, 1}, {1, 2, 5, 5}},              // kernel = input
      {{{1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, {1, 2, 1}, {1, 0, 1}, {}, {2, 1, 1}, 1}, {1, 3, 5, 2, 8}},
      {{{1, 4, 4, 5, 3}, {4, 2, 1, 2, 3}, {1, 1, 2}, {0, 1, 1}, {}, {}, 2}, {1, 4, 4, 6, 2}},
      {{{0, 3, 5, 5}, {2, 3, 3, 3}, {}, {}, {}, {}, 1}, {0, 2, 3, 3}},                  // empty batch
  });
}

TEST(Deconvolution, KernelAgainstScatterLoops) {
  check_cases(true, {
      {{{2, 3, 7}, {3, 4, 3}, {}, {}, {}, {}, 1}, {2, 4, 9}},
      {{{1, 4, 5}, {4, 3, 4}, {3}, {1}, {2}, {}, 2}, {1, 6, 16}},
      {{{1, 1, 1}, {1, 1, 1}, {}, {}, {}, {}, 1}, {1, 1, 1}},
      {{{2, 3, 4, 5}, {3, 2, 3, 3}, {2, 2}, {1, 1}, {1, 0}, {}, 1}, {2, 2, 8, 9}},
      {{{1, 4, 5, 4}, {4, 1, 2, 3}, {1, 2}, {0, 1}, {0, 1}, {2, 1}, 4}, {1, 4, 7, 8}},
      {{{1, 2, 3, 4, 3}, {2, 3, 2, 2, 3}, {2, 1, 2}, {0, 1, 1}, {1, 0, 0}, {1, 2, 1}, 1}, {1, 3, 7, 4, 5}},
  });
}

TEST(Convolution, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 4, 5, 5});
  auto conv = [&](Dims wd, std::vector<int64_t> s, std::vector<int64_t> p, std::vector<int64_t> d, int64_t g,
                  DataType wt = DataType::kFloat32, Tensor b = Tensor()) {
    Tensor w = net.add_input("w" + std::to_string(net.inputs().size()), wt, wd);
    net.add_convolution(x, w, b, s, p, d, g, "c");
  };
  const ErrorCode kNet = ErrorCode::kInvalidNetwork;
  expect_error([&] { conv({2, 3, 3, 3}, {}, {}, {}, 1); }, kNet, {"layer 'c' (convolution)", "weight dim 1 must be"});
  expect_error([&] { conv({3, 2, 3, 3}, {}, {}, {}, 2); }, kNet, {"output channels (3) not divisible by groups 2"});
  expect_error([&] { conv({2, 1, 3, 3}, {}, {}, {}, 3); }, kNet, {"input channels (4) not divisible by groups 3"});
  expect_error([&] { conv({2, 4, 3, 3}, {}, {}, {}, 0); }, kNet, {"groups must be >= 1"});
  expect_error([&] { conv({2, 4, 3}, {}, {}, {}, 1); }, kNet, {"weight must have the input's rank"});
  expect_error([&] { conv({2, 4, 0, 3}, {}, {}, {}, 1); }, kNet, {"kernel extents must be >= 1"});
  expect_error([&] { conv({2, 4, 3, 3}, {}, {}, {}, 1, DataType::kFloat16); }, kNet, {"weight must have the input's dtype"});
  expect_error([&] { conv({2, 4, 3, 3}, {1}, {}, {}, 1); }, kNet, {"stride must have one value per spatial dim (2)"});
  expect_error([&] { conv({2, 4, 3, 3}, {1, 0}, {}, {}, 1); }, kNet, {"stride values must be in [1, 2^30], got 0"});
  expect_error([&] { conv({2, 4, 3, 3}, {}, {-1, 0}, {}, 1); }, kNet, {"padding values must be in [0, 2^30]"});
  expect_error([&] { conv({2, 4, 3, 3}, {}, {}, {1, 0}, 1); }, kNet, {"dilation values must be in [1, 2^30]"});
  expect_error([&] { conv({2, 4, 3, 3}, {}, {}, {3, 3}, 1); }, kNet, {"larger than the padded input in spatial dim 0"});
  expect_error([&] { conv({2, 4, 3, 3}, {}, {int64_t(1) << 40, 0}, {}, 1); }, kNet, {"padding values"});
  Tensor bad_bias = net.add_input("bias", DataType::kFloat32, {3});
  expect_error([&] { conv({2, 4, 3, 3}, {}, {}, {}, 1, DataType::kFloat32, bad_bias); }, kNet, {"bias must be [2]"});
  Tensor xi = net.add_input("xi", DataType::kInt32, {1, 4, 5, 5}), wi = net.add_input("wi", DataType::kInt32, {2, 4, 3, 3});
  expect_error([&] { net.add_convolution(xi, wi, Tensor()); }, kNet, {"convolution needs a floating-point input"});
  Tensor x2 = net.add_input("x2", DataType::kFloat32, {4, 5});
  expect_error([&] { net.add_convolution(x2, wi, Tensor()); }, kNet, {"[N, C, *spatial]", "rank 2"});
}

TEST(Deconvolution, InferenceShapesAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 4, 5});
  Tensor w = net.add_input("w", DataType::kFloat32, {4, 3, 3});
  EXPECT_EQ(add_deconv(net, x, w, Tensor(), {{}, {}, {2}, {1}, {1}, {}, 1}).dims(), (Dims{1, 3, 10}));
  EXPECT_EQ(add_deconv(net, x, w, Tensor(), {{}, {}, {}, {}, {}, {3}, 2}).dims(), (Dims{1, 6, 11}));
  const ErrorCode kNet = ErrorCode::kInvalidNetwork;
  expect_error([&] { add_deconv(net, x, w, Tensor(), {{}, {}, {2}, {}, {2}, {}, 1}, "d"); }, kNet,
               {"layer 'd' (deconvolution)", "output_padding must be smaller than stride or dilation"});
  expect_error([&] { add_deconv(net, x, w, Tensor(), {{}, {}, {}, {}, {}, {}, 3}); }, kNet, {"not divisible by groups 3"});
  expect_error([&] { add_deconv(net, x, w, Tensor(), {{}, {}, {}, {5}, {}, {}, 1}); }, kNet, {"output size -3 is not positive"});
  Tensor w2 = net.add_input("w2", DataType::kFloat32, {3, 3, 3});
  expect_error([&] { add_deconv(net, x, w2, Tensor(), {{}, {}, {}, {}, {}, {}, 1}); }, kNet, {"weight dim 0 must be the input channels (4)"});
  Tensor b = net.add_input("b", DataType::kFloat32, {3});
  expect_error([&] { add_deconv(net, x, w, b, {{}, {}, {}, {}, {}, {}, 2}); }, kNet, {"bias must be [6]"});
}

TEST(Convolution, LargerAgainstDirectLoops) {  // a ResNet-like 3x3 layer, float32, through a round trip
  ConvCase c{{2, 16, 14, 14}, {32, 16, 3, 3}, {2, 2}, {1, 1}, {}, {}, 1};
  HostTensor x = random_tensor(DataType::kFloat32, c.x, 7), w = random_tensor(DataType::kFloat32, c.w, 8, -0.1, 0.1);
  Network net;
  Tensor y = net.add_convolution(net.add_input("x", DataType::kFloat32, c.x), net.add_constant(to_weights(w)), Tensor(),
                                 c.stride, c.pad);
  net.mark_output(y);
  auto outs = run(net, {x}, true);
  // 144-term sums in float32
  expect_close(outs[0], {2, 32, 7, 7}, ref_conv(x, w, nullptr, c, {2, 32, 7, 7}), 1e-4, "resnet-like");
}
