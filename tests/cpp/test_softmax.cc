// Softmax / log-softmax: inference (shapes, dtypes, errors) and the CPU kernel against a naive double
// reference along every axis of several shapes (size 1, empty, scalar, odd sizes), in every float dtype,
// plus numerically hard rows (large values, -inf, NaN). Some cases go through a file round trip.
#include <limits>

#include "test_util.h"

using namespace tft;

namespace {

std::vector<double> ref_softmax(const HostTensor& x, int axis, bool log) {
  const Dims& d = x.dims;
  std::vector<double> out(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = unravel(i, d);
    int64_t n = d.rank() ? d[axis] : 1;
    std::vector<double> row(n);
    double mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      if (d.rank()) idx[axis] = j;
      row[j] = x.get(ravel_broadcast(idx, d));
      mx = std::isnan(row[j]) || std::isnan(mx) ? NAN : std::max(mx, row[j]);
    }
    double sum = 0;
    for (double v : row) sum += std::exp(v - mx);
    double v = x.get(i);
    out[i] = log ? v - mx - std::log(sum) : std::exp(v - mx) / sum;
  }
  return out;
}

Tensor add_softmax(Network& net, Tensor x, int64_t axis, int64_t log, const std::string& name = "") {
  return net.add_layer(LayerKind::kSoftmax, {x}, {{"axis", axis}, {"log", log}}, name)[0];
}

}  // namespace

TEST(Softmax, Inference) {
  Network net;
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    Tensor x = net.add_input(std::string("x") + to_string(t), t, {2, 3, 4});
    for (int64_t axis : {-3, -1, 0, 2}) {
      Tensor y = add_softmax(net, x, axis, axis & 1);
      EXPECT_EQ(y.dims(), (Dims{2, 3, 4}));
      EXPECT_EQ(y.dtype(), t);
    }
  }
  Tensor s = net.add_input("s", DataType::kFloat32, {});
  EXPECT_EQ(add_softmax(net, s, -1, 0).dims(), Dims{});
  // The default axis is -1 and log defaults to 0.
  Tensor d = net.add_layer(LayerKind::kSoftmax, {s})[0];
  EXPECT_EQ(d.dims(), Dims{});
}

TEST(Softmax, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  Tensor i = net.add_input("i", DataType::kInt32, {2, 3});
  expect_error([&] { add_softmax(net, i, -1, 0, "sm"); }, ErrorCode::kInvalidNetwork,
               {"layer 'sm' (softmax)", "floating-point", "x=int32[2,3]"});
  expect_error([&] { add_softmax(net, x, 2, 0, "sm2"); }, ErrorCode::kInvalidNetwork,
               {"layer 'sm2' (softmax)", "axis 2 is out of range for rank 2"});
  expect_error([&] { add_softmax(net, x, -3, 0); }, ErrorCode::kInvalidNetwork, {"axis -3 is out of range"});
  Tensor s = net.add_input("s", DataType::kFloat32, {});
  expect_error([&] { add_softmax(net, s, 1, 0); }, ErrorCode::kInvalidNetwork, {"axis 1 is out of range for rank 0"});
  expect_error([&] { add_softmax(net, x, 0, 2, "sm3"); }, ErrorCode::kInvalidNetwork,
               {"layer 'sm3' (softmax)", "log must be 0 or 1, got 2"});
  expect_error([&] { net.add_layer(LayerKind::kSoftmax, {x}, {{"dim", int64_t{0}}}); }, ErrorCode::kInvalidArgument,
               {"dim"});
}

TEST(Softmax, MatchesReferenceAllAxesAndDtypes) {
  const std::vector<Dims> shapes = {{7}, {2, 3, 5}, {1}, {4, 1, 3}, {3, 0, 2}, {}, {2, 3, 2, 17}};
  unsigned seed = 1;
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16})
    for (const Dims& d : shapes)
      for (int axis = -std::max(d.rank(), 1); axis < std::max(d.rank(), 1); ++axis)
        for (int log : {0, 1}) {
          HostTensor x = random_tensor(t, d, seed++, -4, 4);
          Network net;
          net.mark_output(add_softmax(net, net.add_input("x", t, d), axis, log));
          int a = d.rank() == 0 ? 0 : (axis < 0 ? axis + d.rank() : axis);
          auto ref = rounded(ref_softmax(x, a, log), t);
          auto outs = run(net, {x}, seed % 4 == 0);
          expect_close(outs[0], d, ref, default_tol(t),
                       std::string(log ? "log_softmax " : "softmax ") + to_string(t) + d.str() + " axis " +
                           std::to_string(axis));
        }
}

TEST(Softmax, LargeValuesInfinitiesAndNaN) {
  // Rows: huge values (overflow without max subtraction), a -inf entry, a NaN entry, all -inf.
  Dims d{4, 3};
  HostTensor x(DataType::kFloat32, d);
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {1000, 1001, 999, 1, -inf, 2, 0, NAN, 1, -inf, -inf, -inf};
  for (int64_t i = 0; i < 12; ++i) x.set(i, v[i]);
  for (int log : {0, 1}) {
    Network net;
    net.mark_output(add_softmax(net, net.add_input("x", DataType::kFloat32, d), 1, log));
    auto outs = run(net, {x}, log == 1);
    expect_close(outs[0], d, ref_softmax(x, 1, log), 1e-5, log ? "log_softmax" : "softmax");
  }
}
