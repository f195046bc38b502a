// Indexing layers (gather "take" and "elements", scatter with every reduce): inference and its
// errors, CPU kernels against naive references over several shapes, index dtypes and every data
// dtype, negative indices, empty tensors, and run-time errors for indices out of range.
#include "shape_index_util.h"

using namespace tft;

namespace {

using Ints = std::vector<int64_t>;

HostTensor make_index(DataType t, const Dims& d, const std::vector<int64_t>& values) {
  HostTensor h(t, d);
  for (size_t i = 0; i < values.size(); ++i) h.set(static_cast<int64_t>(i), static_cast<double>(values[i]));
  return h;
}

Tensor gather(Network& net, Tensor x, Tensor index, int64_t axis, const std::string& mode,
              const std::string& name = "") {
  return net.add_layer(LayerKind::kGather, {x, index}, {{"axis", axis}, {"mode", mode}}, name)[0];
}

Tensor scatter(Network& net, Tensor x, Tensor index, Tensor src, int64_t axis, const std::string& reduce,
               const std::string& name = "") {
  return net.add_layer(LayerKind::kScatter, {x, index, src}, {{"axis", axis}, {"reduce", reduce}}, name)[0];
}

}  // namespace

TEST(GatherTake, ShapesIndexDtypesAndAllDtypes) {
  struct Case {
    Dims x;
    int64_t axis;
    Dims index;
    Ints values;  // index values (negative count from the end)
  };
  const std::vector<Case> cases = {
      {{10, 4}, 0, {2, 3}, {9, 0, 3, 3, -1, 5}},  // embedding
      {{5, 3}, 1, {4}, {2, 0, -3, 1}},            // index_select along dim 1
      {{3, 4, 5}, -1, {2, 2}, {4, 0, -5, 2}},     // x[..., idx]
      {{6, 2}, 0, {}, {-2}},                      // scalar index removes the dim
      {{4, 3}, 0, {0}, {}},                       // empty index
      {{2, 7, 3}, 1, {1, 1, 3}, {6, 0, 6}},
      {{1}, 0, {5}, {0, 0, -1, 0, 0}},
  };
  unsigned seed = 11;
  for (const Case& c : cases) {
    int axis = static_cast<int>(c.axis < 0 ? c.axis + c.x.rank() : c.axis);
    std::vector<int64_t> od;
    for (int k = 0; k < axis; ++k) od.push_back(c.x[k]);
    for (int k = 0; k < c.index.rank(); ++k) od.push_back(c.index[k]);
    for (int k = axis + 1; k < c.x.rank(); ++k) od.push_back(c.x[k]);
    Dims out(od);
    for (DataType it : {DataType::kInt64, DataType::kInt32})
      for (DataType t : kAllTypes) {
        Network net;
        Tensor x = net.add_input("x", t, c.x), idx = net.add_input("index", it, c.index);
        Tensor y = gather(net, x, idx, c.axis, "take");
        ASSERT_EQ(y.dims(), out);
        ASSERT_EQ(y.dtype(), t);
        net.mark_output(y);
        HostTensor hx = random_tensor(t, c.x, seed++, -50, 50), hi = make_index(it, c.index, c.values);
        std::vector<double> ref(out.volume());
        for (int64_t i = 0; i < out.volume(); ++i) {
          auto oi = unravel(i, out);
          std::vector<int64_t> ii(oi.begin(), oi.begin() + axis);
          std::vector<int64_t> ji(oi.begin() + axis, oi.begin() + axis + c.index.rank());
          int64_t v = c.values[ravel(ji, c.index)];
          ii.push_back(v < 0 ? v + c.x[axis] : v);
          ii.insert(ii.end(), oi.begin() + axis + c.index.rank(), oi.end());
          ref[i] = hx.get(ravel(ii, c.x));
        }
        auto outs = run(net, {hx, hi}, seed % 4 == 0);
        expect_close(outs[0], out, ref, 0.0, "take " + c.x.str() + " " + to_string(t) + " " + to_string(it));
      }
  }
}

TEST(GatherElements, ShapesIndexDtypesAndAllDtypes) {
  struct Case {
    Dims x;
    int64_t axis;
    Dims index;
  };
  const std::vector<Case> cases = {
      {{3, 4}, 1, {3, 2}}, {{4, 3, 2}, 0, {6, 2, 1}}, {{2, 5}, -1, {1, 5}}, {{3}, 0, {7}}, {{3, 4}, 0, {0, 4}},
      {{2, 3, 5}, 2, {2, 3, 5}},
  };
  unsigned seed = 21;
  for (const Case& c : cases) {
    int axis = static_cast<int>(c.axis < 0 ? c.axis + c.x.rank() : c.axis);
    for (DataType it : {DataType::kInt64, DataType::kInt32})
      for (DataType t : kAllTypes) {
        Network net;
        Tensor x = net.add_input("x", t, c.x), idx = net.add_input("index", it, c.index);
        Tensor y = gather(net, x, idx, c.axis, "elements");
        ASSERT_EQ(y.dims(), c.index);
        net.mark_output(y);
        std::mt19937 rng(seed);
        std::uniform_int_distribution<int64_t> pick(-c.x[axis], c.x[axis] - 1);
        Ints values(c.index.volume());
        for (auto& v : values) v = pick(rng);
        HostTensor hx = random_tensor(t, c.x, seed++, -50, 50), hi = make_index(it, c.index, values);
        std::vector<double> ref(c.index.volume());
        for (int64_t i = 0; i < c.index.volume(); ++i) {
          auto ii = unravel(i, c.index);
          ii[axis] = values[i] < 0 ? values[i] + c.x[axis] : values[i];
          ref[i] = hx.get(ravel(ii, c.x));
        }
        auto outs = run(net, {hx, hi}, seed % 4 == 0);
        expect_close(outs[0], c.index, ref, 0.0, "elements " + c.x.str() + " " + to_string(t));
      }
  }
}

TEST(Gather, OutOfRangeIndexIsARuntimeError) {
  for (const std::string mode : {"take", "elements"})
    for (int64_t bad : {5, -6}) {
      Network net;
      Tensor x = net.add_input("x", DataType::kFloat32, {5, 2}), idx = net.add_input("i", DataType::kInt32, {2, 2});
      net.mark_output(gather(net, x, idx, 0, mode, "lookup"));
      HostTensor hi = make_index(DataType::kInt32, {2, 2}, {0, 1, bad, 4});
      expect_error([&] { run(net, {random_tensor(DataType::kFloat32, {5, 2}, 1), hi}); }, ErrorCode::kRuntime,
                   {"layer 'lookup' (gather)", "index " + std::to_string(bad), "axis 0", "extent 5"});
    }
}

TEST(Gather, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {4, 3});
  Tensor i64 = net.add_input("i", DataType::kInt64, {2});
  Tensor f = net.add_input("f", DataType::kFloat32, {2});
  Tensor i2 = net.add_input("i2", DataType::kInt64, {2, 5});
  Tensor big = net.add_input("big", DataType::kInt64, {1, 1, 1, 1, 1, 1, 1, 1});
  Tensor s = net.add_input("s", DataType::kFloat32, Dims{});
  expect_error([&] { gather(net, x, i64, 0, "gather", "g1"); }, ErrorCode::kInvalidNetwork,
               {"layer 'g1' (gather)", "unknown gather mode 'gather'"});
  expect_error([&] { gather(net, x, f, 0, "take", "g2"); }, ErrorCode::kInvalidNetwork,
               {"g2", "index must be int32 or int64, got float32"});
  expect_error([&] { gather(net, x, i64, 2, "take", "g3"); }, ErrorCode::kInvalidNetwork,
               {"g3", "axis 2 is out of range"});
  expect_error([&] { gather(net, x, i64, 0, "elements", "g4"); }, ErrorCode::kInvalidNetwork,
               {"g4", "index of x's rank 2, got rank 1"});
  expect_error([&] { gather(net, x, i2, 0, "elements", "g5"); }, ErrorCode::kInvalidNetwork,
               {"g5", "index extent 5 exceeds x's extent 3 in dim 1"});
  expect_error([&] { gather(net, x, big, 0, "take", "g6"); }, ErrorCode::kInvalidNetwork, {"g6", "rank 9"});
  // An index shape whose non-zero extents overflow is refused already as an input.
  expect_error([&] { net.add_input("huge", DataType::kInt64, {INT64_MAX / 4, 0}); }, ErrorCode::kInvalidArgument,
               {"huge", "too large"});
  expect_error([&] { gather(net, s, i64, 0, "take", "g7"); }, ErrorCode::kInvalidNetwork, {"g7", "scalar"});
  EXPECT_EQ(gather(net, x, i2, 1, "take").dims(), (Dims{4, 2, 5}));
  Tensor i3 = net.add_input("i3", DataType::kInt32, {6, 3});
  EXPECT_EQ(gather(net, x, i3, 0, "elements").dims(), (Dims{6, 3})) << "extents along the axis may exceed x's";
}

namespace {
double combine(const std::string& r, double a, double b) {
  if (r == "add") return a + b;
  if (r == "mul") return a * b;
  if (r == "max") return std::max(a, b);
  if (r == "min") return std::min(a, b);
  return b;
}
}  // namespace

TEST(Scatter, AllReducesShapesAndDtypes) {
  struct Case {
    Dims x;
    int64_t axis;
    Dims index, src;
  };
  const std::vector<Case> cases = {
      {{4, 5}, 0, {2, 3}, {3, 4}}, {{4, 5}, 1, {4, 5}, {4, 5}}, {{3, 2, 7}, -1, {2, 2, 3}, {2, 2, 4}},
      {{7}, 0, {4}, {5}},          {{5, 4}, 0, {0, 4}, {1, 4}},   {{2, 4}, 1, {2, 1}, {2, 1}},
      {{1, 3}, 0, {1, 3}, {2, 3}},
  };
  unsigned seed = 31;
  for (const std::string reduce : {"none", "add", "mul", "max", "min"})
    for (const Case& c : cases) {
      int axis = static_cast<int>(c.axis < 0 ? c.axis + c.x.rank() : c.axis);
      for (DataType it : {DataType::kInt64, DataType::kInt32})
        for (DataType t : kAllTypes) {
          if (reduce != "none" && t == DataType::kBool) continue;
          // Index values: a permutation slice along the axis for "none" (no duplicates: PyTorch leaves them
          // undefined), random with duplicates and negatives for the reductions.
          std::mt19937 rng(seed);
          Ints values(c.index.volume());
          int64_t n = c.x[axis];
          for (int64_t i = 0; i < c.index.volume(); ++i) {
            auto ii = unravel(i, c.index);
            values[i] = reduce == "none" ? (ii[axis] * 3 + 1) % n - (ii[axis] % 2 ? n : 0)
                                         : std::uniform_int_distribution<int64_t>(-n, n - 1)(rng);
          }
          if (reduce == "none") ASSERT_NE(n % 3, 0) << "the 3i+1 pattern needs extents not divisible by 3";
          Network net;
          Tensor x = net.add_input("x", t, c.x), idx = net.add_input("index", it, c.index),
                 src = net.add_input("src", t, c.src);
          Tensor y = scatter(net, x, idx, src, c.axis, reduce);
          ASSERT_EQ(y.dims(), c.x);
          ASSERT_EQ(y.dtype(), t);
          net.mark_output(y);
          double lo = reduce == "mul" ? -2 : -20, hi = reduce == "mul" ? 2 : 20;  // keep products in range
          HostTensor hx = random_tensor(t, c.x, seed++, lo, hi), hs = random_tensor(t, c.src, seed++, lo, hi);
          HostTensor hi_ = make_index(it, c.index, values);
          // Reference: sequential in index order, rounded to the dtype after every step as the kernel and
          // PyTorch do.
          std::vector<double> ref = hx.values();
          for (int64_t i = 0; i < c.index.volume(); ++i) {
            auto ii = unravel(i, c.index);
            double v = hs.get(ravel(ii, c.src));
            ii[axis] = values[i] < 0 ? values[i] + n : values[i];
            int64_t at = ravel(ii, c.x);
            ref[at] = rounded({combine(reduce, ref[at], v)}, t)[0];
          }
          auto outs = run(net, {hx, hi_, hs}, seed % 5 == 0);
          // float tolerance: the reference adds/multiplies in double, the kernel in float32 (then rounds)
          expect_close(outs[0], c.x, ref, default_tol(t), "scatter " + reduce + " " + c.x.str() + " " + to_string(t));
        }
    }
}

TEST(Scatter, NanPropagatesThroughMaxAndMin) {
  for (const std::string reduce : {"max", "min"}) {
    Network net;
    Tensor x = net.add_input("x", DataType::kFloat32, {3}), idx = net.add_input("i", DataType::kInt64, {2}),
           src = net.add_input("s", DataType::kFloat32, {2});
    net.mark_output(scatter(net, x, idx, src, 0, reduce));
    HostTensor hx(DataType::kFloat32, {3}), hs(DataType::kFloat32, {2});
    for (int i = 0; i < 3; ++i) hx.set(i, i == 0 ? NAN : 1.0);
    hs.set(0, 5.0);
    hs.set(1, NAN);
    auto outs = run(net, {hx, make_index(DataType::kInt64, {2}, {0, 1}), hs});
    expect_close(outs[0], {3}, {NAN, NAN, 1.0}, 0.0, reduce);
  }
}

TEST(Scatter, OutOfRangeIndexIsARuntimeError) {
  for (int64_t bad : {4, -5}) {
    Network net;
    Tensor x = net.add_input("x", DataType::kFloat32, {4, 2}), idx = net.add_input("i", DataType::kInt64, {1, 2}),
           src = net.add_input("s", DataType::kFloat32, {1, 2});
    net.mark_output(scatter(net, x, idx, src, 0, "add", "put"));
    HostTensor hi = make_index(DataType::kInt64, {1, 2}, {1, bad});
    expect_error(
        [&] {
          run(net, {random_tensor(DataType::kFloat32, {4, 2}, 1), hi, random_tensor(DataType::kFloat32, {1, 2}, 2)});
        },
        ErrorCode::kRuntime, {"layer 'put' (scatter)", "index " + std::to_string(bad), "extent 4"});
  }
}

TEST(Scatter, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {4, 3});
  Tensor xb = net.add_input("xb", DataType::kBool, {4, 3});
  Tensor i = net.add_input("i", DataType::kInt64, {2, 3});
  Tensor i1 = net.add_input("i1", DataType::kInt64, {3});
  Tensor iw = net.add_input("iw", DataType::kInt64, {2, 4});
  Tensor fi = net.add_input("fi", DataType::kFloat16, {2, 3});
  Tensor s = net.add_input("s", DataType::kFloat32, {2, 3});
  Tensor s_small = net.add_input("ss", DataType::kFloat32, {1, 3});
  Tensor s_int = net.add_input("si", DataType::kInt32, {2, 3});
  Tensor sb = net.add_input("sb", DataType::kBool, {2, 3});
  Tensor iw_src = net.add_input("iws", DataType::kFloat32, {2, 4});
  expect_error([&] { scatter(net, x, i, s, 0, "sum", "s1"); }, ErrorCode::kInvalidNetwork,
               {"layer 's1' (scatter)", "unknown scatter reduce 'sum'"});
  expect_error([&] { scatter(net, x, fi, s, 0, "none", "s2"); }, ErrorCode::kInvalidNetwork,
               {"s2", "index must be int32 or int64, got float16"});
  expect_error([&] { scatter(net, x, i, s_int, 0, "none", "s3"); }, ErrorCode::kInvalidNetwork,
               {"s3", "src has dtype int32, x has float32"});
  expect_error([&] { scatter(net, xb, i, sb, 0, "add", "s4"); }, ErrorCode::kInvalidNetwork,
               {"s4", "'add' does not take bool"});
  expect_error([&] { scatter(net, x, i1, s, 0, "none", "s5"); }, ErrorCode::kInvalidNetwork, {"s5", "x's rank 2"});
  expect_error([&] { scatter(net, x, i, s_small, 0, "none", "s6"); }, ErrorCode::kInvalidNetwork,
               {"s6", "index extent 2 exceeds src's extent 1 in dim 0"});
  expect_error([&] { scatter(net, x, iw, iw_src, 0, "none", "s7"); }, ErrorCode::kInvalidNetwork,
               {"s7", "index extent 4 exceeds x's extent 3 in dim 1"});
  expect_error([&] { scatter(net, x, i, s, -3, "none", "s8"); }, ErrorCode::kInvalidNetwork,
               {"s8", "axis -3 is out of range"});
  EXPECT_EQ(scatter(net, xb, i, sb, 1, "none").dtype(), DataType::kBool);
}
