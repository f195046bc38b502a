// Shape layers (reshape, transpose, expand, concat, split, slice): inference (shapes, dtypes, every
// attribute check and its message) and the CPU kernels against naive index-by-index references,
// over odd, unit and empty shapes and every dtype; some cases run through a file round trip.
#include <climits>

#include "shape_index_util.h"

using namespace tft;

namespace {

using Ints = std::vector<int64_t>;

Tensor add_one(Network& net, LayerKind k, const std::vector<Tensor>& in, const Attributes& a,
               const std::string& name = "") {
  return net.add_layer(k, in, a, name)[0];
}

// Runs a one-input, one-output layer on a random tensor of every dtype and compares with
// ref(input values) (a pure data movement, so the match is exact in every dtype).
void check_all_dtypes(LayerKind kind, const Dims& in, const Attributes& attrs, const Dims& out,
                      const std::function<std::vector<double>(const HostTensor&)>& ref, const std::string& what) {
  unsigned seed = 7;
  for (DataType t : kAllTypes) {
    Network net;
    Tensor x = net.add_input("x", t, in);
    Tensor y = add_one(net, kind, {x}, attrs);
    ASSERT_EQ(y.dtype(), t) << what;
    ASSERT_EQ(y.dims(), out) << what << ": inferred " << y.dims().str();
    net.mark_output(y);
    HostTensor h = random_tensor(t, in, seed++, -50, 50);
    auto outs = run(net, {h}, seed % 3 == 0);
    expect_close(outs[0], out, ref(h), 0.0, what + " " + to_string(t));
  }
}

}  // namespace

TEST(Reshape, ShapesAndAllDtypes) {
  struct Case {
    Dims in;
    Ints shape;
    Dims out;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4}, {4, -1}, {4, 6}}, {{5}, {1, 5, 1}, {1, 5, 1}}, {{0, 3}, {3, -1}, {3, 0}},
      {{}, {1, 1}, {1, 1}},         {{1}, {}, {}},               {{7, 1}, {-1}, {7}},
      {{2, 3}, {3, 2}, {3, 2}},
  };
  for (const Case& c : cases)
    check_all_dtypes(LayerKind::kReshape, c.in, {{"shape", c.shape}}, c.out,
                     [](const HostTensor& h) { return h.values(); }, "reshape " + c.in.str());
}

TEST(Reshape, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 4});
  Tensor z = net.add_input("z", DataType::kFloat32, {0, 3});
  expect_error([&] { net.add_reshape(x, {5, 5}, "r1"); }, ErrorCode::kInvalidNetwork,
               {"layer 'r1' (reshape)", "[2,3,4]", "[5,5]", "24 elements", "25 elements"});
  expect_error([&] { net.add_reshape(x, {-1, -1}, "r2"); }, ErrorCode::kInvalidNetwork, {"r2", "more than one -1"});
  expect_error([&] { net.add_reshape(x, {-2, -12}, "r3"); }, ErrorCode::kInvalidNetwork, {"r3", "negative extent -2"});
  expect_error([&] { net.add_reshape(x, {5, -1}, "r4"); }, ErrorCode::kInvalidNetwork,
               {"r4", "[5,-1]", "not determined"});
  expect_error([&] { net.add_reshape(z, {0, -1}, "r5"); }, ErrorCode::kInvalidNetwork, {"r5", "not determined"});
  expect_error([&] { net.add_reshape(x, {1, 1, 1, 1, 1, 1, 2, 3, 4}, "r6"); }, ErrorCode::kInvalidNetwork,
               {"r6", "more than 8"});
  expect_error([&] { net.add_reshape(x, {INT64_MAX, INT64_MAX, 2}, "r7"); }, ErrorCode::kInvalidNetwork,
               {"r7", "overflow"});
  expect_error([&] { net.add_reshape(z, {INT64_MAX, 0}, "r8"); }, ErrorCode::kInvalidNetwork, {"r8", "too large"});
  EXPECT_EQ(net.add_reshape(x, {-1}).dims(), (Dims{24}));
}

TEST(Transpose, PermutationsAndAllDtypes) {
  struct Case {
    Dims in;
    Ints perm;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4}, {2, 0, 1}}, {{5, 7}, {1, 0}},          {{33, 70}, {1, 0}},  // tiled path
      {{1, 3, 1, 5}, {3, 1, 0, 2}}, {{2, 3, 4, 5}, {0, 2, 1, 3}}, {{3, 0, 2}, {2, 1, 0}},
      {{}, {}},               {{4, 6}, {-1, 0}},        {{2, 3, 4}, {0, 1, 2}}, {{3, 40, 37}, {2, 0, 1}},
  };
  for (const Case& c : cases) {
    std::vector<int64_t> od;
    for (int64_t p : c.perm) od.push_back(c.in[p < 0 ? p + c.in.rank() : p]);
    Dims out(od);
    check_all_dtypes(
        LayerKind::kTranspose, c.in, {{"perm", c.perm}}, out,
        [&](const HostTensor& h) {
          std::vector<double> r(out.volume());
          for (int64_t i = 0; i < out.volume(); ++i) {
            auto oi = unravel(i, out);
            std::vector<int64_t> ii(c.in.rank());
            for (int k = 0; k < out.rank(); ++k) ii[c.perm[k] < 0 ? c.perm[k] + c.in.rank() : c.perm[k]] = oi[k];
            r[i] = h.get(ravel(ii, c.in));
          }
          return r;
        },
        "transpose " + c.in.str());
  }
}

TEST(Transpose, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 4});
  expect_error([&] { net.add_transpose(x, {1, 0}, "t1"); }, ErrorCode::kInvalidNetwork,
               {"layer 't1' (transpose)", "perm [1,0] has 2 entries", "rank 3"});
  expect_error([&] { net.add_transpose(x, {0, 1, 1}, "t2"); }, ErrorCode::kInvalidNetwork,
               {"t2", "not a permutation", "dim 1 repeats"});
  expect_error([&] { net.add_transpose(x, {0, 1, 3}, "t3"); }, ErrorCode::kInvalidNetwork,
               {"t3", "perm entry 3 is out of range for rank 3"});
  EXPECT_EQ(net.add_transpose(x, {1, 2, 0}).dims(), (Dims{3, 4, 2}));
}

TEST(Expand, ShapesAndAllDtypes) {
  struct Case {
    Dims in;
    Ints shape;
    Dims out;
  };
  const std::vector<Case> cases = {
      {{3, 1}, {2, -1, 4}, {2, 3, 4}}, {{1}, {5}, {5}},         {{}, {2, 3}, {2, 3}},
      {{1, 1, 1}, {1, 0, 2}, {1, 0, 2}}, {{4, 1, 3}, {-1, 6, -1}, {4, 6, 3}}, {{2, 3}, {2, 3}, {2, 3}},
      {{1, 5}, {0, 3, 5}, {0, 3, 5}},  {{7, 1}, {7, 33}, {7, 33}},
  };
  for (const Case& c : cases)
    check_all_dtypes(
        LayerKind::kExpand, c.in, {{"shape", c.shape}}, c.out,
        [&](const HostTensor& h) {
          std::vector<double> r(c.out.volume());
          for (int64_t i = 0; i < c.out.volume(); ++i) r[i] = h.get(ravel_broadcast(unravel(i, c.out), c.in));
          return r;
        },
        "expand " + c.in.str());
}

TEST(Expand, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {3, 1});
  auto expand = [&](const Ints& s, const std::string& name) {
    add_one(net, LayerKind::kExpand, {x}, {{"shape", s}}, name);
  };
  expect_error([&] { expand({4}, "e1"); }, ErrorCode::kInvalidNetwork, {"layer 'e1' (expand)", "fewer dims"});
  expect_error([&] { expand({4, 2}, "e2"); }, ErrorCode::kInvalidNetwork,
               {"e2", "cannot expand [3,1] to [4,2]", "dim 0 has extent 3", "only extents of 1"});
  expect_error([&] { expand({3, -2}, "e3"); }, ErrorCode::kInvalidNetwork, {"e3", "negative extent -2"});
  expect_error([&] { expand({-1, 3, 2}, "e4"); }, ErrorCode::kInvalidNetwork, {"e4", "new leading dim 0 cannot be -1"});
  expect_error([&] { expand({1, 1, 1, 1, 1, 1, 1, 3, 1}, "e5"); }, ErrorCode::kInvalidNetwork, {"e5", "more than 8"});
  expect_error([&] { expand({INT64_MAX / 2, 3, 2}, "e6"); }, ErrorCode::kInvalidNetwork,
               {"e6", "too large"});
}

namespace {
// Reference concat: output element → the input holding its axis coordinate.
std::vector<double> ref_concat(const std::vector<HostTensor>& xs, int axis, const Dims& out) {
  std::vector<double> r(out.volume());
  for (int64_t i = 0; i < out.volume(); ++i) {
    auto idx = unravel(i, out);
    size_t k = 0;
    while (idx[axis] >= xs[k].dims[axis]) idx[axis] -= xs[k++].dims[axis];
    r[i] = xs[k].get(ravel(idx, xs[k].dims));
  }
  return r;
}
}  // namespace

TEST(Concat, ShapesAndAllDtypes) {
  struct Case {
    std::vector<Dims> ins;
    int64_t axis;
    Dims out;
  };
  const std::vector<Case> cases = {
      {{{2, 3}, {2, 5}, {2, 1}}, 1, {2, 9}},     {{{1, 4}, {3, 4}}, 0, {4, 4}},
      {{{2, 0, 3}, {2, 2, 3}}, -2, {2, 2, 3}},   {{{3, 5}}, -1, {3, 5}},
      {{{2, 3, 4}, {2, 3, 4}, {2, 3, 4}}, 2, {2, 3, 12}}, {{{0, 2}, {0, 3}}, 1, {0, 5}},
  };
  unsigned seed = 100;
  for (const Case& c : cases)
    for (DataType t : kAllTypes) {
      Network net;
      std::vector<Tensor> ins;
      std::vector<HostTensor> hs;
      for (size_t i = 0; i < c.ins.size(); ++i) {
        ins.push_back(net.add_input("x" + std::to_string(i), t, c.ins[i]));
        hs.push_back(random_tensor(t, c.ins[i], seed++, -50, 50));
      }
      Tensor y = add_one(net, LayerKind::kConcat, ins, {{"axis", c.axis}});
      ASSERT_EQ(y.dims(), c.out);
      net.mark_output(y);
      int axis = static_cast<int>(c.axis < 0 ? c.axis + c.out.rank() : c.axis);
      auto outs = run(net, hs, seed % 3 == 0);
      expect_close(outs[0], c.out, ref_concat(hs, axis, c.out), 0.0, "concat " + std::string(to_string(t)));
    }
}

TEST(Concat, InferenceErrors) {
  Network net;
  Tensor a = net.add_input("a", DataType::kFloat32, {2, 3});
  Tensor b = net.add_input("b", DataType::kInt32, {2, 3});
  Tensor c = net.add_input("c", DataType::kFloat32, {2, 3, 1});
  Tensor d = net.add_input("d", DataType::kFloat32, {4, 4});
  Tensor s = net.add_input("s", DataType::kFloat32, Dims{});
  auto concat = [&](const std::vector<Tensor>& in, int64_t axis, const std::string& name) {
    add_one(net, LayerKind::kConcat, in, {{"axis", axis}}, name);
  };
  expect_error([&] { concat({a, b}, 0, "c1"); }, ErrorCode::kInvalidNetwork,
               {"layer 'c1' (concat)", "input 1 has dtype int32, input 0 has float32"});
  expect_error([&] { concat({a, c}, 0, "c2"); }, ErrorCode::kInvalidNetwork, {"c2", "input 1 has rank 3"});
  expect_error([&] { concat({a, d}, 0, "c3"); }, ErrorCode::kInvalidNetwork,
               {"c3", "input 1 [4,4] differs from input 0 [2,3] in dim 1"});
  expect_error([&] { concat({a, a}, 2, "c4"); }, ErrorCode::kInvalidNetwork,
               {"c4", "axis 2 is out of range for rank 2"});
  expect_error([&] { concat({s, s}, 0, "c5"); }, ErrorCode::kInvalidNetwork, {"c5", "scalars"});
  expect_error([&] { concat({a, Tensor()}, 0, "c6"); }, ErrorCode::kInvalidNetwork, {"c6", "input 1 is absent"});
  expect_error([&] { concat({}, 0, "c7"); }, ErrorCode::kInvalidNetwork, {"c7", "at least 1"});
  EXPECT_EQ(add_one(net, LayerKind::kConcat, {a, a, a}, {{"axis", int64_t{-1}}}).dims(), (Dims{2, 9}));
}

TEST(Split, ShapesAndAllDtypes) {
  struct Case {
    Dims in;
    int64_t axis;
    Ints sizes;
  };
  const std::vector<Case> cases = {
      {{5, 4}, 0, {2, 0, 3}}, {{2, 7, 3}, -2, {1, 6}}, {{3}, 0, {3}}, {{2, 3, 4}, 2, {1, 1, 1, 1}}, {{0, 4}, 1, {4, 0}},
  };
  unsigned seed = 200;
  for (const Case& c : cases)
    for (DataType t : kAllTypes) {
      Network net;
      Tensor x = net.add_input("x", t, c.in);
      auto ys = net.add_layer(LayerKind::kSplit, {x}, {{"axis", c.axis}, {"sizes", c.sizes}});
      ASSERT_EQ(ys.size(), c.sizes.size());
      int axis = static_cast<int>(c.axis < 0 ? c.axis + c.in.rank() : c.axis);
      for (auto& y : ys) net.mark_output(y);
      HostTensor h = random_tensor(t, c.in, seed++, -50, 50);
      auto outs = run(net, {h}, seed % 3 == 0);
      int64_t start = 0;
      for (size_t k = 0; k < ys.size(); ++k) {
        Dims od = c.in;
        od[axis] = c.sizes[k];
        EXPECT_EQ(ys[k].dims(), od);
        std::vector<double> r(od.volume());
        for (int64_t i = 0; i < od.volume(); ++i) {
          auto idx = unravel(i, od);
          idx[axis] += start;
          r[i] = h.get(ravel(idx, c.in));
        }
        expect_close(outs[k], od, r, 0.0, "split " + c.in.str() + " piece " + std::to_string(k) + " " + to_string(t));
        start += c.sizes[k];
      }
    }
}

TEST(Split, InferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {5, 4});
  Tensor s = net.add_input("s", DataType::kFloat32, Dims{});
  auto split = [&](Tensor in, int64_t axis, const Ints& sizes, const std::string& name) {
    net.add_layer(LayerKind::kSplit, {in}, {{"axis", axis}, {"sizes", sizes}}, name);
  };
  expect_error([&] { split(x, 0, {2, 2}, "s1"); }, ErrorCode::kInvalidNetwork,
               {"layer 's1' (split)", "sizes [2,2] sum to 4", "axis 0 is 5"});
  expect_error([&] { split(x, 0, {6, -1}, "s2"); }, ErrorCode::kInvalidNetwork, {"s2", "negative size -1"});
  expect_error([&] { split(x, 0, {}, "s3"); }, ErrorCode::kInvalidNetwork, {"s3", "sizes is empty"});
  expect_error([&] { split(x, -3, {5}, "s4"); }, ErrorCode::kInvalidNetwork, {"s4", "axis -3 is out of range"});
  expect_error([&] { split(s, 0, {1}, "s5"); }, ErrorCode::kInvalidNetwork, {"s5", "scalar"});
  expect_error([&] { split(x, 0, {INT64_MAX, INT64_MAX, 2}, "s6"); }, ErrorCode::kInvalidNetwork, {"s6", "overflow"});
}

namespace {
// Python's slice(start, end, step).indices(n) for step >= 1, as an explicit list of positions.
std::vector<int64_t> py_range(int64_t start, int64_t end, int64_t step, int64_t n) {
  if (start < 0) start = std::max<int64_t>(start + n, 0);
  if (end < 0) end = std::max<int64_t>(end + n, 0);
  start = std::min(start, n);
  end = std::min(end, n);
  std::vector<int64_t> r;
  for (int64_t i = start; i < end; i += step) r.push_back(i);
  return r;
}
}  // namespace

TEST(Slice, PythonSemanticsAndAllDtypes) {
  struct Case {
    Dims in;
    Ints axes, starts, ends, steps;
  };
  const std::vector<Case> cases = {
      {{10}, {0}, {2}, {8}, {3}},
      {{10}, {0}, {-3}, {INT64_MAX}, {}},
      {{4, 6, 5}, {2, 0}, {-100, 1}, {100, -1}, {2, 1}},
      {{5}, {0}, {4}, {2}, {1}},                         // empty: start past end
      {{5, 3}, {-1}, {0}, {3}, {7}},                     // step larger than the extent
      {{3, 4}, {}, {}, {}, {}},                          // no axes: identity
      {{2, 9, 3}, {1}, {-INT64_MAX}, {-2}, {2}},          // huge negative start clamps to 0
      {{6, 1, 7}, {0, 1, 2}, {1, 0, 6}, {5, 1, 7}, {2, 1, 1}},
      {{0, 4}, {1}, {1}, {3}, {1}},
  };
  for (const Case& c : cases) {
    std::vector<std::vector<int64_t>> pos(c.in.rank());
    std::vector<int64_t> od = c.in.vec();
    for (int k = 0; k < c.in.rank(); ++k)
      for (int64_t i = 0; i < c.in[k]; ++i) pos[k].push_back(i);
    for (size_t i = 0; i < c.axes.size(); ++i) {
      int a = static_cast<int>(c.axes[i] < 0 ? c.axes[i] + c.in.rank() : c.axes[i]);
      pos[a] = py_range(c.starts[i], c.ends[i], c.steps.empty() ? 1 : c.steps[i], c.in[a]);
      od[a] = static_cast<int64_t>(pos[a].size());
    }
    Dims out(od);
    Attributes attrs = {{"axes", c.axes}, {"starts", c.starts}, {"ends", c.ends}, {"steps", c.steps}};
    check_all_dtypes(
        LayerKind::kSlice, c.in, attrs, out,
        [&](const HostTensor& h) {
          std::vector<double> r(out.volume());
          for (int64_t i = 0; i < out.volume(); ++i) {
            auto idx = unravel(i, out);
            for (int k = 0; k < out.rank(); ++k) idx[k] = pos[k][idx[k]];
            r[i] = h.get(ravel(idx, c.in));
          }
          return r;
        },
        "slice " + c.in.str());
  }
}

TEST(Slice, DefaultStepsAndInferenceErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {4, 6});
  Tensor s = net.add_input("s", DataType::kFloat32, Dims{});
  auto slice = [&](Tensor in, const Ints& axes, const Ints& st, const Ints& en, const Ints& sp, const std::string& n) {
    return add_one(net, LayerKind::kSlice, {in}, {{"axes", axes}, {"starts", st}, {"ends", en}, {"steps", sp}}, n);
  };
  EXPECT_EQ(add_one(net, LayerKind::kSlice, {x}, {{"axes", Ints{1}}, {"starts", Ints{1}}, {"ends", Ints{-1}}}).dims(),
            (Dims{4, 4}));
  expect_error([&] { slice(x, {0, 1}, {0}, {1, 1}, {}, "l1"); }, ErrorCode::kInvalidNetwork,
               {"layer 'l1' (slice)", "same length", "got 2, 1, 2, 0"});
  expect_error([&] { slice(x, {0}, {0}, {1}, {1, 1}, "l2"); }, ErrorCode::kInvalidNetwork, {"l2", "same length"});
  expect_error([&] { slice(x, {0}, {0}, {4}, {0}, "l3"); }, ErrorCode::kInvalidNetwork,
               {"l3", "steps must be >= 1, got 0"});
  expect_error([&] { slice(x, {1}, {4}, {0}, {-1}, "l4"); }, ErrorCode::kInvalidNetwork, {"l4", "got -1"});
  expect_error([&] { slice(x, {1, -1}, {0, 0}, {1, 1}, {}, "l5"); }, ErrorCode::kInvalidNetwork,
               {"l5", "axis 1 is listed twice"});
  expect_error([&] { slice(x, {2}, {0}, {1}, {}, "l6"); }, ErrorCode::kInvalidNetwork,
               {"l6", "axis 2 is out of range"});
  expect_error([&] { slice(s, {0}, {0}, {1}, {}, "l7"); }, ErrorCode::kInvalidNetwork, {"l7", "scalar"});
}

TEST(ShapeLayers, ChainedThroughRoundTrip) {
  // reshape -> transpose -> slice -> expand -> concat -> split in one network, serialized and reloaded.
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 12});
  Tensor r = net.add_reshape(x, {2, 3, 4});
  Tensor t = net.add_transpose(r, {2, 0, 1});                                               // [4,2,3]
  Tensor s =
      add_one(net, LayerKind::kSlice, {t}, {{"axes", Ints{0}}, {"starts", Ints{1}}, {"ends", Ints{2}}});  // [1,2,3]
  Tensor e = add_one(net, LayerKind::kExpand, {s}, {{"shape", Ints{3, -1, -1}}});          // [3,2,3]
  Tensor c = add_one(net, LayerKind::kConcat, {t, e}, {{"axis", int64_t{0}}});             // [7,2,3]
  auto parts = net.add_layer(LayerKind::kSplit, {c}, {{"axis", int64_t{0}}, {"sizes", Ints{4, 3}}});
  net.mark_output(parts[0]);
  net.mark_output(parts[1]);
  HostTensor h = random_tensor(DataType::kFloat32, {2, 12}, 3);
  auto outs = run(net, {h}, /*roundtrip=*/true);
  std::vector<double> ref_t(24), ref_e(18);
  for (int64_t i = 0; i < 24; ++i) {
    auto idx = unravel(i, {4, 2, 3});  // t[a,b,c] = r[b,c,a] = x[b, c*4 + a]
    ref_t[i] = h.get(idx[1] * 12 + idx[2] * 4 + idx[0]);
  }
  for (int64_t i = 0; i < 18; ++i) ref_e[i] = ref_t[6 + i % 6];
  expect_close(outs[0], {4, 2, 3}, ref_t, 0.0, "first part");
  expect_close(outs[1], {3, 2, 3}, ref_e, 0.0, "second part");
}

TEST(ShapeLayers, RandomAttributesEitherFailInferenceOrRun) {
  // Arbitrary attribute values (as an untrusted engine file could hold): inference must reject them
  // with an Error or accept them, and then the kernel must run without touching memory out of bounds.
  const std::vector<int64_t> pool = {-3, -2, -1, 0, 1, 2, 3, 5, INT64_MAX, INT64_MIN, -INT64_MAX};
  std::mt19937 rng(42);
  auto pick = [&] { return pool[rng() % pool.size()]; };
  auto list = [&] {
    Ints v(rng() % 4);
    for (auto& e : v) e = pick();
    return v;
  };
  const std::vector<Dims> shapes = {{2, 3}, {1, 3, 1}, {3}, {0, 2}, {}};
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Dims in = shapes[rng() % shapes.size()];
    LayerKind kind = std::vector<LayerKind>{LayerKind::kReshape, LayerKind::kTranspose, LayerKind::kExpand,
                                            LayerKind::kConcat,  LayerKind::kSplit,     LayerKind::kSlice}[rng() % 6];
    Attributes a;
    switch (kind) {
      case LayerKind::kReshape: a = {{"shape", list()}}; break;
      case LayerKind::kTranspose: a = {{"perm", list()}}; break;
      case LayerKind::kExpand: a = {{"shape", list()}}; break;
      case LayerKind::kConcat: a = {{"axis", pick()}}; break;
      case LayerKind::kSplit: a = {{"axis", pick()}, {"sizes", list()}}; break;
      default: a = {{"axes", list()}, {"starts", list()}, {"ends", list()}, {"steps", list()}}; break;
    }
    Network net;
    Tensor x = net.add_input("x", DataType::kInt32, in);
    std::vector<Tensor> ys;
    try {
      ys = net.add_layer(kind, kind == LayerKind::kConcat ? std::vector<Tensor>{x, x} : std::vector<Tensor>{x}, a);
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::kInvalidNetwork) << e.what();
      continue;
    }
    ++accepted;
    for (auto& y : ys) net.mark_output(y);
    auto outs = run(net, {random_tensor(DataType::kInt32, in, iter)}, iter % 2 == 0);
    ASSERT_EQ(outs.size(), ys.size());
  }
  EXPECT_GT(accepted, 100);
}
