// Shape inference with named sizes for every layer kind (docs/dynamic_shapes.md): one network with
// a layer of every kind whose shapes follow a size n (the batch of an image input; attributes that
// depend on it written as size expressions), specialized at several n, must be the very network
// written with those extents (same text: every layer's inferred shapes and attributes), and its
// DynamicEngine plan must compute what that static network's engine computes. The pointwise layer,
// whose body is written with fixed shapes (the optimizer makes them after specializing), works on
// a part that does not follow n.
#include <functional>
#include <set>

#include "ir/graph.h"
#include "ir/sizes.h"
#include "ir/sym_expr.h"
#include "test_util.h"

using namespace tft;

namespace {

using Texts = std::map<std::string, std::vector<std::string>>;

// The network at size n: with `named`, n is the size "n" (1..6, opt 2) and attributes that follow it
// are written as expressions; without, everything is written with n's value.
Network network(bool named, int64_t n) {
  Network net;
  Tensor x;
  if (named) {
    net.add_size("n", 1, 2, 6);
    x = net.add_dynamic_input("x", DataType::kFloat32, {"n", "2", "6", "6"});
  } else {
    x = net.add_input("x", DataType::kFloat32, {n, 2, 6, 6});
  }
  Tensor idx = net.add_input("idx", DataType::kInt64, {3});
  // A layer whose attributes `texts` are size expressions over n (evaluated here without names).
  auto sized = [&](LayerKind kind, std::vector<Tensor> in, Attributes attrs, const Texts& texts) {
    if (named) return net.add_sized_layer(kind, in, attrs, texts);
    for (const auto& [attr, list] : texts) {
      std::vector<int64_t> v;
      for (const std::string& t : list) v.push_back(ir::SymExpr::parse(t).evaluate({{"n", n}}));
      if (std::holds_alternative<int64_t>(attrs[attr]))
        attrs[attr] = v.at(0);
      else
        attrs[attr] = v;
    }
    return net.add_layer(kind, in, attrs);
  };
  auto w = [&](Dims d, unsigned seed) { return net.add_constant(to_weights(random_tensor(DataType::kFloat32, d, seed))); };
  const std::vector<int64_t> placeholder4(4, 0), placeholder3(3, 0);
  Tensor c = net.add_convolution(x, w({4, 2, 3, 3}, 1), w({4}, 2), {1, 1}, {1, 1});
  Tensor d = net.add_deconvolution(c, w({4, 2, 2, 2}, 3), Tensor(), {2, 2});            // [n,2,12,12]
  Tensor p = net.add_pooling(d, "max", {2, 2});                                         // [n,2,6,6]
  Tensor a = net.add_adaptive_pooling(p, "avg", {3, 3});                               // [n,2,3,3]
  Tensor pd = net.add_pad(a, {0, 0, 1, 1, 0, 0, 1, 1}, "reflect");                   // [n,2,5,5]
  Tensor rs = net.add_resize(pd, {6, 6}, "linear");                                  // [n,2,6,6]
  Tensor e = net.add_elementwise(rs, x, "add");
  Tensor act = net.add_activation(net.add_unary(e, "tanh"), "gelu_erf");
  Tensor pr = net.add_prelu(act, w({2, 1, 1}, 4));
  Tensor bn = net.add_batch_norm(pr, w({2}, 5), net.add_unary(w({2}, 6), "abs"), w({2}, 7), w({2}, 8));
  Tensor gn = net.add_group_norm(bn, 2, w({2}, 9), w({2}, 10));
  Tensor r = sized(LayerKind::kReshape, {gn}, {{"shape", placeholder3}}, {{"shape", {"n", "2", "36"}}})[0];
  Tensor rms = net.add_rms_norm(net.add_layer_norm(r, 1, w({36}, 11), w({36}, 12)), 1, w({36}, 13));
  Tensor mm = net.add_matmul(net.add_transpose(rms, {0, 2, 1}), w({2, 8}, 14));         // [n,36,8]
  Tensor q = sized(LayerKind::kReshape, {mm}, {{"shape", placeholder4}}, {{"shape", {"n", "2", "36", "4"}}})[0];
  Tensor att = net.add_attention(q, q, q, Tensor(), true);
  Tensor red = net.add_reduce(net.add_softmax(att, -1), "sum", {3});                      // [n,2,36]
  Tensor am = net.add_arg_reduce(red, "argmax", 2);                                   // [n,2]
  std::vector<Tensor> tk = net.add_topk(net.add_cumsum(red, 2), 3, -1);                // [n,2,3]
  Tensor ex = sized(LayerKind::kExpand, {tk[0]}, {{"shape", placeholder4}}, {{"shape", {"2", "n", "2", "3"}}})[0];
  Tensor cc = net.add_concat({ex, ex}, 0);                                             // [4,n,2,3]
  std::vector<Tensor> sp = net.add_split(cc, 0, {1, 3});
  Tensor sl0 = sized(LayerKind::kSlice, {sp[1]}, {{"axes", std::vector<int64_t>{0, 1}}, {"starts", std::vector<int64_t>{0, 0}},
                                                  {"ends", placeholder3}, {"steps", std::vector<int64_t>{2, 1}}},
                     {{"ends", {"3", "max(n - 1, 1)"}}})[0];                           // [2,max(n-1,1),2,3]
  Tensor sl = sized(LayerKind::kAsStrided, {sl0},
                    {{"shape", placeholder4}, {"strides", placeholder4}, {"offset", int64_t(0)}},
                    {{"shape", {"2", "max(n - 1, 1)", "2", "3"}}, {"strides", {"max(n - 1, 1)*6", "6", "3", "1"}}})[0];
  Tensor g = net.add_gather(sl, idx, 3);
  Tensor ones = sized(LayerKind::kFill, {}, {{"shape", placeholder4}, {"dtype", std::string("int64")}, {"value", 1.0}},
                      {{"shape", {"1", "max(n - 1, 1)", "2", "3"}}})[0];
  Tensor sc = net.add_scatter(g, ones, g, 0, "add");
  Tensor half = sized(LayerKind::kFill, {}, {{"shape", placeholder4}, {"dtype", std::string("float32")}, {"value", 0.5}},
                      {{"shape", {"2", "max(n - 1, 1)", "2", "3"}}})[0];
  Tensor sel = net.add_select(net.add_elementwise(sc, half, "gt"), sc, half);
  Tensor ar = sized(LayerKind::kArange, {}, {{"size", int64_t(0)}, {"start", 0.0}, {"step", 1.0},
                                             {"dtype", std::string("float32")}}, {{"size", {"n*3"}}})[0];
  Tensor fixed = net.add_arange(3, 0, 1, DataType::kFloat32);
  Tensor pw = net.add_pointwise({fixed, fixed},
                                "input %a: float32[3]\ninput %b: float32[3]\n"
                                "%m: float32[3] = elementwise \"m\" (%a, %b) {op=\"mul\"}\n"
                                "%s: float32[3] = activation \"s\" (%m) {op=\"sigmoid\"}\noutput %s\n")[0];
  Tensor qz = net.add_quantize(net.add_elementwise(sel, pw, "mul"), net.add_unary(w({3}, 15), "abs"), Tensor(),
                               DataType::kUInt8, 0, 200);
  Tensor dq = net.add_dequantize(qz, net.add_unary(w({3}, 15), "abs"), Tensor(), DataType::kFloat32);
  Tensor q8 = net.add_quantize(dq, net.add_unary(w({1}, 16), "abs"), Tensor(), DataType::kInt8);
  Tensor qm =
      net.add_quantized_matmul(q8, net.add_cast(w({3, 3}, 17), DataType::kInt8), net.add_unary(w({3}, 18), "abs"));
  Tensor qc = net.add_quantized_convolution(q8, net.add_cast(w({3, 1, 1, 3}, 19), DataType::kInt8),
                                            net.add_unary(w({3}, 20), "abs"), Tensor(), {}, {}, "none", "nhwc");
  net.mark_output(net.add_cast(net.add_elementwise(dq, net.add_elementwise(qm, qc, "add"), "add"), DataType::kFloat16),
                  "out");
  net.mark_output(am, "argmax");
  net.mark_output(tk[1], "topk_indices");
  net.mark_output(ar, "positions");
  return net;
}

std::vector<HostTensor> inputs(int64_t n) {
  HostTensor idx(DataType::kInt64, {3});
  idx.set(0, 2);
  idx.set(1, -1);
  idx.set(2, 0);
  return {random_tensor(DataType::kFloat32, {n, 2, 6, 6}, 21 + static_cast<unsigned>(n)), idx};
}

}  // namespace

TEST(EveryLayerSized, EveryKindInfersAtEverySize) {
  Network dynamic = network(true, 0);
  std::set<LayerKind> kinds;
  for (const auto& l : dynamic.graph().layers) kinds.insert(l.kind);
  EXPECT_EQ(static_cast<int>(kinds.size()), kNumLayerKinds) << dynamic.to_text();
  const DynamicEngine engine = Builder().build_dynamic(dynamic, 8);
  for (int64_t n : {1, 2, 3, 6}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    Network fixed = network(false, n);
    EXPECT_EQ(dynamic.specialize({{"n", n}}).to_text(), fixed.to_text());
    const std::vector<HostTensor> in = inputs(n);
    const auto want = run_engine(Builder().build(fixed), in);
    const auto got = run_engine(engine.plan({Dims{n, 2, 6, 6}, Dims{3}}), in);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i].dims, want[i].values(), 0.0, "output");
  }
}
