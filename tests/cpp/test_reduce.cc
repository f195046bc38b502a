// reduce, arg_reduce, cumsum, topk: inference (shapes, dtypes, every check and its message) and the CPU
// kernels against naive double references over several shapes (size 1, empty, scalar), axis sets and
// every accepted dtype, with NaN and tie cases. Some cases go through a file round trip.
#include <algorithm>
#include <numeric>

#include "test_util.h"

using namespace tft;

namespace {

const std::vector<DataType> kNumeric = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                                        DataType::kInt32,   DataType::kInt64,   DataType::kUInt8};

int norm_axis(int64_t a, int rank) { return rank == 0 ? 0 : static_cast<int>(a < 0 ? a + rank : a); }

/// Flat indices of every 1-d row of `d` along `axis` (one row of one element for a scalar).
std::vector<std::vector<int64_t>> rows_along(const Dims& d, int axis) {
  std::vector<std::vector<int64_t>> rows;
  if (d.rank() == 0) return {{0}};
  for (int64_t i = 0; i < d.volume(); ++i) {
    auto idx = unravel(i, d);
    if (idx[axis] != 0) continue;
    std::vector<int64_t> row;
    for (int64_t j = 0; j < d[axis]; ++j) {
      idx[axis] = j;
      row.push_back(ravel_broadcast(idx, d));
    }
    rows.push_back(row);
  }
  return rows;
}

Tensor add_reduce(Network& net, Tensor x, const std::string& op, std::vector<int64_t> axes, int64_t keepdim,
                  const std::string& name = "") {
  return net.add_layer(LayerKind::kReduce, {x}, {{"op", op}, {"axes", axes}, {"keepdim", keepdim}}, name)[0];
}

/// Naive reduction; returns the output shape in `out_dims`.
std::vector<double> ref_reduce(const HostTensor& x, const std::string& op, const std::vector<int64_t>& axes,
                               bool keepdim, Dims& out_dims) {
  const Dims& d = x.dims;
  std::vector<bool> red(d.rank(), axes.empty());
  for (int64_t a : axes)
    if (d.rank()) red[norm_axis(a, d.rank())] = true;
  std::vector<int64_t> kd, od;
  for (int k = 0; k < d.rank(); ++k) {
    kd.push_back(red[k] ? 1 : d[k]);
    if (!red[k] || keepdim) od.push_back(red[k] ? 1 : d[k]);
  }
  out_dims = Dims(od);
  Dims keep(kd);
  double init = op == "prod" || op == "all" ? 1 : op == "max" ? -INFINITY : op == "min" ? INFINITY : 0;
  std::vector<double> acc(keep.volume(), init), count(keep.volume(), 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t o = ravel_broadcast(unravel(i, d), keep);
    double v = x.get(i), &a = acc[o];
    count[o] += 1;
    if (op == "sum" || op == "mean") a += v;
    if (op == "prod") a *= v;
    if (op == "max") a = std::isnan(a) || std::isnan(v) ? NAN : std::max(a, v);
    if (op == "min") a = std::isnan(a) || std::isnan(v) ? NAN : std::min(a, v);
    if (op == "any") a = a || v != 0;
    if (op == "all") a = a && v != 0;
  }
  if (op == "mean")
    for (size_t o = 0; o < acc.size(); ++o) acc[o] /= count[o];
  return acc;
}

}  // namespace

TEST(Reduce, Inference) {
  Network net;
  Tensor x = net.add_input("x", DataType::kInt32, {2, 3, 4});
  EXPECT_EQ(add_reduce(net, x, "sum", {}, 0).dims(), Dims{});
  EXPECT_EQ(add_reduce(net, x, "sum", {}, 1).dims(), (Dims{1, 1, 1}));
  EXPECT_EQ(add_reduce(net, x, "max", {1}, 0).dims(), (Dims{2, 4}));
  EXPECT_EQ(add_reduce(net, x, "prod", {-1, 0}, 1).dims(), (Dims{1, 3, 1}));
  EXPECT_EQ(add_reduce(net, x, "min", {2}, 0).dtype(), DataType::kInt32);
  EXPECT_EQ(add_reduce(net, x, "any", {0}, 0).dtype(), DataType::kBool);
  EXPECT_EQ(add_reduce(net, x, "all", {}, 0).dtype(), DataType::kBool);
  Tensor h = net.add_input("h", DataType::kFloat16, {5});
  EXPECT_EQ(add_reduce(net, h, "mean", {0}, 0).dtype(), DataType::kFloat16);
  Tensor s = net.add_input("s", DataType::kFloat32, {});
  EXPECT_EQ(add_reduce(net, s, "sum", {-1}, 1).dims(), Dims{});
  Tensor e = net.add_input("e", DataType::kFloat32, {2, 0});
  EXPECT_EQ(add_reduce(net, e, "max", {0}, 0).dims(), (Dims{0}));  // the empty axis is not reduced
  EXPECT_EQ(add_reduce(net, e, "sum", {1}, 0).dims(), (Dims{2}));
  Tensor b = net.add_input("b", DataType::kBool, {3});
  EXPECT_EQ(add_reduce(net, b, "max", {}, 0).dtype(), DataType::kBool);
  // Defaults: all axes, keepdim 0.
  EXPECT_EQ(net.add_layer(LayerKind::kReduce, {x}, {{"op", std::string("sum")}})[0].dims(), Dims{});
}

TEST(Reduce, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  Tensor i = net.add_input("i", DataType::kInt64, {2, 3});
  Tensor b = net.add_input("b", DataType::kBool, {2, 3});
  Tensor e = net.add_input("e", DataType::kFloat32, {2, 0});
  expect_error([&] { add_reduce(net, x, "norm", {}, 0, "r"); }, ErrorCode::kInvalidNetwork,
               {"layer 'r' (reduce)", "unknown reduce op 'norm'", "valid ops: sum, mean"});
  expect_error([&] { add_reduce(net, i, "mean", {}, 0); }, ErrorCode::kInvalidNetwork, {"'mean' needs a floating-point"});
  expect_error([&] { add_reduce(net, b, "sum", {}, 0); }, ErrorCode::kInvalidNetwork, {"'sum' does not take bool"});
  expect_error([&] { add_reduce(net, b, "prod", {}, 0); }, ErrorCode::kInvalidNetwork, {"'prod' does not take bool"});
  expect_error([&] { add_reduce(net, x, "sum", {0, -2}, 0); }, ErrorCode::kInvalidNetwork,
               {"axis -2 is listed more than once"});
  expect_error([&] { add_reduce(net, x, "sum", {2}, 0); }, ErrorCode::kInvalidNetwork, {"axis 2 is out of range for rank 2"});
  expect_error([&] { add_reduce(net, x, "sum", {}, 2); }, ErrorCode::kInvalidNetwork, {"keepdim must be 0 or 1, got 2"});
  expect_error([&] { add_reduce(net, e, "max", {1}, 0, "m"); }, ErrorCode::kInvalidNetwork,
               {"layer 'm' (reduce)", "'max' over an empty extent has no value"});
  expect_error([&] { add_reduce(net, e, "min", {}, 1); }, ErrorCode::kInvalidNetwork, {"'min' over an empty extent"});
  expect_error([&] { net.add_layer(LayerKind::kReduce, {x}); }, ErrorCode::kInvalidArgument, {"op"});
}

TEST(Reduce, MatchesReferenceAllOpsAndDtypes) {
  struct Case {
    Dims d;
    std::vector<int64_t> axes;
  };
  const std::vector<Case> cases = {{{7}, {}},          {{7}, {0}},          {{2, 3, 5}, {}},      {{2, 3, 5}, {1}},
                                   {{2, 3, 5}, {-1}},  {{2, 3, 5}, {0, 2}}, {{2, 3, 5}, {1, 2}},  {{2, 3, 5}, {0}},
                                   {{4, 1, 3}, {1}},   {{2, 0, 3}, {1}},    {{2, 0, 3}, {0}},     {{}, {}},
                                   {{}, {0}},          {{3, 2, 2, 5}, {0, 2}}, {{1}, {0}}};
  unsigned seed = 1;
  for (const std::string op : {"sum", "mean", "max", "min", "prod", "any", "all"})
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8, DataType::kInt32,
                       DataType::kInt64, DataType::kUInt8, DataType::kBool}) {
      if (op == "mean" && !is_floating(t)) continue;
      if ((op == "sum" || op == "prod") && t == DataType::kBool) continue;
      for (const Case& c : cases)
        for (int keepdim : {0, 1}) {
          Dims od;
          HostTensor x = random_tensor(t, c.d, seed++, -3, 3);
          if (op == "prod" && is_floating(t)) x = random_tensor(t, c.d, seed++, 0.5, 1.5);
          if ((op == "any" || op == "all") && x.numel() > 1) x.set(0, op == "any" ? 0 : 1);  // mixed rows
          auto ref = ref_reduce(x, op, c.axes, keepdim, od);
          bool empty_extent = ref.size() > 0 && x.numel() == 0;
          if (empty_extent && (op == "max" || op == "min")) continue;  // an inference error (tested above)
          Network net;
          Tensor y = add_reduce(net, net.add_input("x", t, c.d), op, c.axes, keepdim);
          net.mark_output(y);
          DataType out_t = op == "any" || op == "all" ? DataType::kBool : t;
          ASSERT_EQ(y.dtype(), out_t);
          ref = rounded(ref, out_t);
          double tol = default_tol(t) * (op == "prod" ? 4 : 1);  // 4: products of up to 60 factors
          auto outs = run(net, {x}, seed % 5 == 0);
          std::string what = op + " " + to_string(t) + c.d.str() + " keepdim=" + std::to_string(keepdim);
          expect_close(outs[0], od, ref, tol, what);
        }
    }
}

TEST(Reduce, NaNEmptyAndIntegerWrap) {
  // max/min propagate NaN; any sees NaN as true; the empty reductions give their identities.
  HostTensor x(DataType::kFloat32, {2, 3});
  std::vector<double> v = {1, NAN, 3, -1, -2, -3};
  for (int i = 0; i < 6; ++i) x.set(i, v[i]);
  for (std::string op : {"max", "min", "any", "sum"}) {
    Network net;
    net.mark_output(add_reduce(net, net.add_input("x", DataType::kFloat32, {2, 3}), op, {1}, 0));
    Dims od;
    expect_close(run(net, {x})[0], {2}, ref_reduce(x, op, {1}, false, od), 1e-6, op);
  }
  HostTensor e(DataType::kFloat32, {0, 2});
  for (std::string op : {"sum", "prod", "any", "all", "mean"}) {
    Network net;
    net.mark_output(add_reduce(net, net.add_input("e", DataType::kFloat32, {0, 2}), op, {0}, 1));
    double want = op == "sum" || op == "any" ? 0 : op == "mean" ? NAN : 1;
    expect_close(run(net, {e}, true)[0], {1, 2}, {want, want}, 0, "empty " + op);
  }
  HostTensor i8(DataType::kInt8, {2});
  i8.set(0, 100);
  i8.set(1, 100);
  Network net;
  net.mark_output(add_reduce(net, net.add_input("i", DataType::kInt8, {2}), "sum", {}, 0));
  expect_close(run(net, {i8})[0], {}, {-56}, 0, "int8 sum wraps");
}

namespace {

Tensor add_arg(Network& net, Tensor x, const std::string& op, int64_t axis, int64_t keepdim, const std::string& name = "") {
  return net.add_layer(LayerKind::kArgReduce, {x}, {{"op", op}, {"axis", axis}, {"keepdim", keepdim}}, name)[0];
}

}  // namespace

TEST(ArgReduce, InferenceAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kUInt8, {2, 3, 4});
  EXPECT_EQ(add_arg(net, x, "argmax", 1, 0).dims(), (Dims{2, 4}));
  EXPECT_EQ(add_arg(net, x, "argmin", -1, 1).dims(), (Dims{2, 3, 1}));
  EXPECT_EQ(add_arg(net, x, "argmin", 0, 0).dtype(), DataType::kInt64);
  Tensor s = net.add_input("s", DataType::kFloat32, {});
  EXPECT_EQ(add_arg(net, s, "argmax", 0, 1).dims(), Dims{});
  Tensor b = net.add_input("b", DataType::kBool, {3});
  Tensor e = net.add_input("e", DataType::kFloat32, {0, 3});
  EXPECT_EQ(add_arg(net, e, "argmax", 1, 0).dims(), (Dims{0}));
  expect_error([&] { add_arg(net, b, "argmax", 0, 0, "am"); }, ErrorCode::kInvalidNetwork,
               {"layer 'am' (arg_reduce)", "does not take bool"});
  expect_error([&] { add_arg(net, e, "argmin", 0, 0); }, ErrorCode::kInvalidNetwork, {"argmin over an empty axis"});
  expect_error([&] { add_arg(net, x, "max", 0, 0); }, ErrorCode::kInvalidNetwork, {"unknown arg_reduce op 'max'"});
  expect_error([&] { add_arg(net, x, "argmax", 3, 0); }, ErrorCode::kInvalidNetwork, {"axis 3 is out of range for rank 3"});
  expect_error([&] { add_arg(net, x, "argmax", 0, -1); }, ErrorCode::kInvalidNetwork, {"keepdim must be 0 or 1"});
  expect_error([&] { net.add_layer(LayerKind::kArgReduce, {x}, {{"op", std::string("argmax")}}); },
               ErrorCode::kInvalidArgument, {"axis"});
}

TEST(ArgReduce, MatchesReferenceWithTiesAndNaN) {
  unsigned seed = 50;
  for (DataType t : kNumeric)
    for (Dims d : {Dims{7}, Dims{2, 3, 5}, Dims{4, 1, 3}, Dims{}, Dims{2, 0, 3}, Dims{3, 9}})
      for (int axis = -std::max(d.rank(), 1); axis < std::max(d.rank(), 1); ++axis) {
        if (d.rank() && d[norm_axis(axis, d.rank())] == 0) continue;
        HostTensor x = random_tensor(t, d, seed++, -2, 2);  // few distinct values: many ties
        if (is_floating(t) && x.numel() > 4) x.set(3, NAN), x.set(x.numel() - 1, NAN);
        const int a = norm_axis(axis, d.rank());
        for (std::string op : {"argmax", "argmin"})
          for (int keepdim : {0, 1}) {
            Network net;
            net.mark_output(add_arg(net, net.add_input("x", t, d), op, axis, keepdim));
            std::vector<int64_t> od = d.vec();
            if (d.rank()) keepdim ? void(od[a] = 1) : void(od.erase(od.begin() + a));
            std::vector<double> ref;
            for (const auto& row : rows_along(d, a)) {
              int64_t best = 0;
              for (int64_t j = 1; j < static_cast<int64_t>(row.size()); ++j) {
                double b = x.get(row[best]), v = x.get(row[j]);
                if (std::isnan(b)) break;
                if (std::isnan(v) || (op == "argmax" ? v > b : v < b)) best = j;
              }
              ref.push_back(static_cast<double>(best));
            }
            auto outs = run(net, {x}, seed % 4 == 0);
            expect_close(outs[0], Dims(od), ref, 0, op + " " + to_string(t) + d.str() + " axis " + std::to_string(axis));
          }
      }
}

TEST(CumSum, InferenceAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kInt64, {2, 3});
  auto cs = [&](Tensor t, int64_t axis) { return net.add_layer(LayerKind::kCumSum, {t}, {{"axis", axis}}, "cs")[0]; };
  EXPECT_EQ(cs(x, 1).dims(), (Dims{2, 3}));
  EXPECT_EQ(cs(x, -2).dtype(), DataType::kInt64);
  Tensor s = net.add_input("s", DataType::kBFloat16, {});
  EXPECT_EQ(cs(s, 0).dims(), Dims{});
  Tensor b = net.add_input("b", DataType::kBool, {3});
  expect_error([&] { cs(b, 0); }, ErrorCode::kInvalidNetwork, {"layer 'cs", "(cumsum)", "floating-point or integer"});
  expect_error([&] { cs(x, 2); }, ErrorCode::kInvalidNetwork, {"axis 2 is out of range for rank 2"});
  expect_error([&] { net.add_layer(LayerKind::kCumSum, {x}); }, ErrorCode::kInvalidArgument, {"axis"});
}

TEST(CumSum, MatchesReference) {
  unsigned seed = 700;
  for (DataType t : kNumeric)
    for (Dims d : {Dims{7}, Dims{2, 3, 5}, Dims{4, 1, 3}, Dims{}, Dims{2, 0, 3}, Dims{3, 40}})
      for (int axis = -std::max(d.rank(), 1); axis < std::max(d.rank(), 1); ++axis) {
        HostTensor x = random_tensor(t, d, seed++, -3, 3);
        Network net;
        net.mark_output(net.add_layer(LayerKind::kCumSum, {net.add_input("x", t, d)}, {{"axis", int64_t{axis}}})[0]);
        std::vector<double> ref(x.numel());
        for (const auto& row : rows_along(d, norm_axis(axis, d.rank()))) {
          double acc = 0;
          for (int64_t i : row) ref[i] = acc += x.get(i);
        }
        auto outs = run(net, {x}, seed % 4 == 0);
        // The kernel rounds each running sum once, as the rounded reference does.
        expect_close(outs[0], d, rounded(ref, t), default_tol(t), "cumsum " + std::string(to_string(t)) + d.str());
      }
  HostTensor i8(DataType::kInt8, {3});
  for (int i = 0; i < 3; ++i) i8.set(i, 100);
  Network net;
  net.mark_output(net.add_layer(LayerKind::kCumSum, {net.add_input("x", DataType::kInt8, {3})}, {{"axis", int64_t{0}}})[0]);
  expect_close(run(net, {i8})[0], {3}, {100, -56, 44}, 0, "int8 cumsum wraps");
}

namespace {

std::vector<Tensor> add_topk(Network& net, Tensor x, int64_t k, int64_t axis, int64_t largest, int64_t sorted,
                             const std::string& name = "") {
  return net.add_layer(LayerKind::kTopK, {x}, {{"k", k}, {"axis", axis}, {"largest", largest}, {"sorted", sorted}},
                       name);
}

}  // namespace

TEST(TopK, InferenceAndErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat16, {2, 5, 3});
  auto o = add_topk(net, x, 2, 1, 1, 1);
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0].dims(), (Dims{2, 2, 3}));
  EXPECT_EQ(o[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(o[1].dims(), (Dims{2, 2, 3}));
  EXPECT_EQ(o[1].dtype(), DataType::kInt64);
  EXPECT_EQ(add_topk(net, x, 0, -1, 0, 0)[0].dims(), (Dims{2, 5, 0}));
  EXPECT_EQ(net.add_layer(LayerKind::kTopK, {x}, {{"k", int64_t{3}}})[1].dims(), (Dims{2, 5, 3}));
  Tensor b = net.add_input("b", DataType::kBool, {3});
  Tensor s = net.add_input("s", DataType::kFloat32, {});
  expect_error([&] { add_topk(net, x, 4, -1, 1, 1, "tk"); }, ErrorCode::kInvalidNetwork,
               {"layer 'tk' (topk)", "k must be in [0, 3]", "got 4"});
  expect_error([&] { add_topk(net, x, -1, 1, 1, 1); }, ErrorCode::kInvalidNetwork, {"k must be in [0, 5]", "got -1"});
  expect_error([&] { add_topk(net, x, 1, 3, 1, 1); }, ErrorCode::kInvalidNetwork, {"axis 3 is out of range for rank 3"});
  expect_error([&] { add_topk(net, x, 1, 1, 2, 1); }, ErrorCode::kInvalidNetwork, {"largest must be 0 or 1"});
  expect_error([&] { add_topk(net, x, 1, 1, 1, 5); }, ErrorCode::kInvalidNetwork, {"sorted must be 0 or 1"});
  expect_error([&] { add_topk(net, b, 1, 0, 1, 1); }, ErrorCode::kInvalidNetwork, {"floating-point or integer"});
  expect_error([&] { add_topk(net, s, 1, 0, 1, 1); }, ErrorCode::kInvalidNetwork, {"rank >= 1"});
  expect_error([&] { net.add_layer(LayerKind::kTopK, {x}); }, ErrorCode::kInvalidArgument, {"k"});
}

TEST(TopK, MatchesReferenceWithTiesAndNaN) {
  unsigned seed = 900;
  for (DataType t : kNumeric)
    for (Dims d : {Dims{7}, Dims{2, 5, 3}, Dims{4, 1}, Dims{0, 4}, Dims{3, 33}})
      for (int axis = 0; axis < d.rank(); ++axis)
        for (int64_t k : {int64_t{0}, int64_t{1}, d[axis] / 2, d[axis]})
          for (int largest : {0, 1}) {
            if (k > d[axis]) continue;
            HostTensor x = random_tensor(t, d, seed++, -3, 3);  // integers in [-3, 3]: many ties
            if (is_floating(t) && x.numel() > 5) x.set(2, NAN), x.set(5, NAN);
            int sorted = seed % 2;
            Network net;
            auto outs_t = add_topk(net, net.add_input("x", t, d), k, axis, largest, sorted);
            net.mark_output(outs_t[0]);
            net.mark_output(outs_t[1]);
            Dims od = d;
            od[axis] = k;
            std::vector<double> rv(od.volume()), ri(od.volume());
            auto out_rows = rows_along(od, axis);
            auto in_rows = rows_along(d, axis);
            for (size_t r = 0; r < in_rows.size() && k > 0; ++r) {
              std::vector<int64_t> order(in_rows[r].size());
              std::iota(order.begin(), order.end(), 0);
              // NaN ranks above every number; ties keep the lower index first (stable sort).
              std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
                double va = x.get(in_rows[r][a]), vb = x.get(in_rows[r][b]);
                bool na = std::isnan(va), nb = std::isnan(vb);
                if (na || nb) return largest ? (na && !nb) : (!na && nb);
                return largest ? va > vb : va < vb;
              });
              for (int64_t j = 0; j < k; ++j) {
                rv[out_rows[r][j]] = x.get(in_rows[r][order[j]]);
                ri[out_rows[r][j]] = static_cast<double>(order[j]);
              }
            }
            auto outs = run(net, {x}, seed % 4 == 0);
            std::string what = "topk " + std::string(to_string(t)) + d.str() + " axis " + std::to_string(axis) +
                               " k=" + std::to_string(k) + " largest=" + std::to_string(largest);
            expect_close(outs[0], od, rv, 0, what + " values");
            expect_close(outs[1], od, ri, 0, what + " indices");
          }
}
