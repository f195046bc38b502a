// One network with a layer of every kind, built through the typed C++ helpers: each helper makes a
// valid layer of its kind, the network builds and runs, and the engine survives a file round trip
// and a mutation fuzz of its bytes (with the checksum fixed up) without crashing.
#include <set>

#include "ir/graph.h"
#include "serialize/bytes.h"
#include "test_util.h"

using namespace tft;

namespace {

Network every_layer_network() {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 6, 6});
  Tensor idx = net.add_input("idx", DataType::kInt64, {3});
  auto w = [&](Dims d, unsigned seed) { return net.add_constant(to_weights(random_tensor(DataType::kFloat32, d, seed))); };
  Tensor c = net.add_convolution(x, w({4, 2, 3, 3}, 1), w({4}, 2), {1, 1}, {1, 1});
  Tensor d = net.add_deconvolution(c, w({4, 2, 2, 2}, 3), Tensor(), {2, 2});                  // [1,2,12,12]
  Tensor p = net.add_pooling(d, "max", {2, 2});                                               // [1,2,6,6]
  Tensor a = net.add_adaptive_pooling(p, "avg", {3, 3});                                     // [1,2,3,3]
  Tensor pd = net.add_pad(a, {0, 0, 1, 1, 0, 0, 1, 1}, "reflect");                         // [1,2,5,5]
  Tensor rs = net.add_resize(pd, {6, 6}, "linear");                                        // [1,2,6,6]
  Tensor e = net.add_elementwise(rs, x, "add");
  Tensor u = net.add_unary(e, "tanh");
  Tensor act = net.add_activation(u, "gelu_erf");
  Tensor pr = net.add_prelu(act, w({2, 1, 1}, 4));
  Tensor bn = net.add_batch_norm(pr, w({2}, 5), net.add_unary(w({2}, 6), "abs"), w({2}, 7), w({2}, 8));
  Tensor gn = net.add_group_norm(bn, 2, w({2}, 9), w({2}, 10));
  Tensor r = net.add_reshape(gn, {1, 2, 36});
  Tensor ln = net.add_layer_norm(r, 1, w({36}, 11), w({36}, 12));
  Tensor rms = net.add_rms_norm(ln, 1, w({36}, 13));
  Tensor t = net.add_transpose(rms, {0, 2, 1});                                             // [1,36,2]
  Tensor mm = net.add_matmul(t, w({2, 8}, 14));                                             // [1,36,8]
  Tensor q = net.add_reshape(mm, {1, 2, 36, 4});
  Tensor att = net.add_attention(q, q, q, Tensor(), true);
  Tensor sm = net.add_softmax(att, -1);
  Tensor red = net.add_reduce(sm, "sum", {3});                                               // [1,2,36]
  Tensor am = net.add_arg_reduce(red, "argmax", 2);                                         // [1,2] int64
  Tensor cs = net.add_cumsum(red, 2);
  std::vector<Tensor> tk = net.add_topk(cs, 3, -1);
  Tensor ex = net.add_expand(tk[0], {2, 2, 3});
  Tensor cc = net.add_concat({ex, ex}, 0);                                                   // [4,2,3]
  std::vector<Tensor> sp = net.add_split(cc, 0, {1, 3});
  Tensor sl0 = net.add_slice(sp[1], {0, 2}, {0, 0}, {3, 3}, {2, 1});                        // [2,2,3]
  Tensor sl = net.add_as_strided(sl0, {2, 2, 3}, {1, 3, 0}, 2);                               // [2,2,3]
  Tensor g = net.add_gather(sl, idx, 2);                                                     // [2,2,3]
  Tensor sc = net.add_scatter(g, net.add_fill({1, 2, 3}, DataType::kInt64, 1), g, 0, "add");
  Tensor f = net.add_fill({2, 2, 3}, DataType::kFloat32, 0.5);
  Tensor ar = net.add_arange(3, 0, 1, DataType::kFloat32);
  Tensor cond = net.add_elementwise(sc, f, "gt");
  Tensor sel = net.add_select(cond, sc, net.add_elementwise(f, ar, "mul"));
  Tensor pw = net.add_pointwise({sel, f},
                                "input %a: float32[2,2,3]\ninput %b: float32[2,2,3]\n"
                                "%m: float32[2,2,3] = elementwise \"m\" (%a, %b) {op=\"mul\"}\n"
                                "%s: float32[2,2,3] = activation \"s\" (%m) {op=\"sigmoid\"}\noutput %s\n")[0];
  HostTensor zp(DataType::kInt32, {2, 1, 1});
  zp.set(0, 3);
  zp.set(1, -2);
  Tensor qz = net.add_quantize(pw, w({1}, 15), net.add_constant(to_weights(zp)), DataType::kInt8);
  Tensor dq = net.add_dequantize(qz, net.add_unary(w({2, 1, 1}, 16), "abs"), net.add_constant(to_weights(zp)));
  Tensor qm = net.add_quantized_matmul(net.add_reshape(qz, {4, 3}), net.add_cast(w({3, 3}, 17), DataType::kInt8),
                                       net.add_unary(w({3}, 18), "abs"), w({3}, 19), true, "relu");
  Tensor qc = net.add_quantized_convolution(net.add_reshape(qz, {1, 2, 2, 3}), net.add_cast(w({3, 1, 1, 3}, 20),
                                            DataType::kInt8), net.add_unary(w({3}, 21), "abs"), w({3}, 22), {}, {},
                                            "relu", "nhwc");
  Tensor sum = net.add_elementwise(net.add_reshape(qm, {2, 2, 3}), net.add_reshape(qc, {2, 2, 3}), "add");
  net.mark_output(net.add_cast(net.add_elementwise(dq, sum, "add"), DataType::kFloat16), "out");
  net.mark_output(am, "argmax");
  net.mark_output(tk[1], "topk_indices");
  return net;
}

std::vector<HostTensor> inputs() {
  HostTensor x = random_tensor(DataType::kFloat32, {1, 2, 6, 6}, 21);
  HostTensor idx(DataType::kInt64, {3});
  idx.set(0, 2);
  idx.set(1, -1);
  idx.set(2, 0);
  return {x, idx};
}

}  // namespace

TEST(EveryLayer, TypedHelpersCoverEveryKindAndRun) {
  Network net = every_layer_network();
  std::set<LayerKind> kinds;
  for (const auto& l : net.graph().layers) kinds.insert(l.kind);
  EXPECT_EQ(static_cast<int>(kinds.size()), kNumLayerKinds) << net.to_text();
  auto a = run(net, inputs());
  auto b = run(net, inputs(), /*roundtrip=*/true);
  ASSERT_EQ(a.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) {
    expect_close(b[i], a[i].dims, a[i].values(), 0, "output " + std::to_string(i));
    for (double v : a[i].values()) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(EveryLayer, MutatedEnginesNeverCrash) {
  std::vector<uint8_t> good = Builder().build(every_layer_network()).serialize();
  std::mt19937 rng(99);
  int loaded = 0;
  const int kTrials = 1500;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::vector<uint8_t> bytes = good;
    size_t body = bytes.size() - 8;
    for (int k = 0; k < 1 + trial % 3; ++k) {
      size_t at = rng() % (body - 8);
      if (rng() % 2) {
        bytes[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
      } else {
        int64_t vals[] = {0, -1, 1, 2, 7, 1 << 20, INT64_MAX, INT64_MIN};
        int64_t v = vals[rng() % 8];
        std::memcpy(bytes.data() + at, &v, 8);
      }
    }
    uint64_t h = serialize::checksum(bytes.data(), body, file_version(bytes));
    std::memcpy(bytes.data() + body, &h, 8);
    try {
      Engine e = Engine::deserialize(bytes.data(), bytes.size());
      ++loaded;
      std::vector<HostTensor> in = inputs(), out;
      std::vector<void*> bind;
      for (const auto& t : e.io_tensors()) {
        if (t.is_input) continue;
        out.emplace_back(t.dtype, t.dims);
      }
      bool inputs_fit = e.nb_inputs() == 2 && e.io_tensors()[0].dims == in[0].dims &&
                        e.io_tensors()[0].dtype == in[0].dtype && e.io_tensors()[1].dims == in[1].dims &&
                        e.io_tensors()[1].dtype == in[1].dtype;
      if (!inputs_fit) continue;
      for (auto& h2 : in) bind.push_back(h2.data());
      for (auto& h2 : out) bind.push_back(h2.data());
      try {
        e.create_execution_context().execute(bind);
      } catch (const Error& err) {
        EXPECT_EQ(static_cast<int>(err.code()), static_cast<int>(ErrorCode::kRuntime)) << err.what();
      }
    } catch (const Error& err) {
      EXPECT_EQ(static_cast<int>(err.code()), static_cast<int>(ErrorCode::kCorruptFile)) << err.what();
    }
  }
  EXPECT_LT(loaded, kTrials);
}
