// Named sizes of networks with dynamic input dims (ir/sizes.h, docs/dynamic_shapes.md): their text
// form, the binding input shapes imply (with every error naming the input, dim and range), and the
// network specialized to a binding, which must compute what the same network written with those
// extents computes.
#include "ir/sizes.h"

#include <thread>

#include "builder/weight_pool.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

namespace tft {
namespace {

// A convolution, a reshape that infers the batch, a softmax, and a second input sharing the batch.
std::string net_text(const std::string& batch, const std::string& seq, int b, int s) {
  const std::string B = std::to_string(b), S = std::to_string(s);
  return "input %x: float32[" + batch + ",3,6,6]\n"
         "input %ids: int64[" + batch + "," + seq + "]\n"
         "%w: float32[5,3,3,3] = constant \"w\" () {value=float32[5,3,3,3]}\n"
         "%c: float32[" + B + ",5,4,4] = convolution \"c\" (%x, %w, none) {}\n"
         "%r: float32[" + B + ",80] = reshape \"r\" (%c) {shape=[-1, 80]}\n"
         "%s: float32[" + B + ",80] = softmax \"s\" (%r) {}\n"
         "%e: float32[" + B + "," + S + "] = cast \"e\" (%ids) {dtype=\"float32\"}\n"
         "output %s\noutput %e\n";
}

const std::string kSizes = "size batch: min 1, opt 4, max 64\nsize seq: min 2, opt 8, max 512\n";

ir::Graph dynamic_net() { return ir::parse_text(kSizes + net_text("batch", "seq", 4, 8)); }

std::vector<HostTensor> run_graph(const ir::Graph& g, const std::vector<HostTensor>& inputs) {
  return run_engine(Engine(assemble_engine(g, BuilderConfig{}, {})), inputs);
}

TEST(Sizes, TextRoundTrip) {
  const ir::Graph g = dynamic_net();
  ASSERT_EQ(g.sizes.size(), 2u);
  EXPECT_EQ(g.sizes.at("seq").max, 512);
  EXPECT_EQ(g.input_sizes.at("ids"), (std::vector<std::string>{"batch", "seq"}));
  EXPECT_EQ(g.input_sizes.at("x"), (std::vector<std::string>{"batch", "", "", ""}));
  EXPECT_EQ(g.tensors[g.inputs[0]].dims, Dims({4, 3, 6, 6}));  // at the opt values
  const std::string text = ir::to_text(g);
  EXPECT_EQ(text.find(kSizes), 0u) << text;
  EXPECT_NE(text.find("input %x: float32[batch,3,6,6]\ninput %ids: int64[batch,seq]\n"), std::string::npos) << text;
  EXPECT_EQ(ir::to_text(ir::parse_text(text)), text);
}

TEST(Sizes, SpecializeInfersEveryLayerAgainAndComputesTheStaticNetwork) {
  const ir::Graph g = dynamic_net();
  for (auto [b, s] : {std::pair<int, int>{1, 2}, {64, 512}, {7, 100}}) {
    const ir::Graph one = ir::specialize(g, {{"batch", b}, {"seq", s}});
    EXPECT_TRUE(one.sizes.empty() && one.input_sizes.empty());
    EXPECT_EQ(one.tensors[one.outputs[0]].dims, Dims({b, 80}));
    EXPECT_EQ(one.tensors[one.outputs[1]].dims, Dims({b, s}));
    // The same text as the network written for these extents (layers and shapes alike).
    const std::string B = std::to_string(b), S = std::to_string(s);
    EXPECT_EQ(ir::to_text(one), ir::to_text(ir::parse_text(net_text(B, S, b, s))));
  }
  // Numerically: the specialized network against the static one, on the CPU kernels.
  const ir::Graph one = ir::specialize(g, {{"batch", 3}, {"seq", 5}});
  const ir::Graph fixed = ir::parse_text(net_text("3", "5", 3, 5));
  const std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, Dims{3, 3, 6, 6}, 1),
                                      random_tensor(DataType::kInt64, Dims{3, 5}, 2, -9, 9)};
  const auto want = run_graph(fixed, in), got = run_graph(one, in);
  ASSERT_EQ(got.size(), 2u);
  for (int o = 0; o < 2; ++o) expect_close(got[o], want[o].dims, want[o].values(), 0.0, "output " + std::to_string(o));
}

TEST(Sizes, SpecializeErrors) {
  const ir::Graph g = dynamic_net();
  expect_error([&] { ir::specialize(g, {{"batch", 2}}); }, ErrorCode::kInvalidArgument, {"no value for size seq"});
  expect_error([&] { ir::specialize(g, {{"batch", 65}, {"seq", 8}}); }, ErrorCode::kInvalidArgument,
               {"65 is outside size batch (1..64)"});
  // A reshape written with the opt batch fits no other: the layer's error, with the values.
  std::string text = kSizes + net_text("batch", "seq", 4, 8);
  text.replace(text.find("shape=[-1, 80]"), 14, "shape=[4, 80]");
  const ir::Graph fixed_reshape = ir::parse_text(text);
  expect_error([&] { ir::specialize(fixed_reshape, {{"batch", 2}, {"seq", 8}}); }, ErrorCode::kInvalidNetwork,
               {"at sizes batch=2, seq=8", "layer 'r' (reshape)"});
}

TEST(Sizes, BindFromInputShapes) {
  const ir::Graph g = dynamic_net();
  const ir::SymBindings b = ir::bind_sizes(g, {Dims{9, 3, 6, 6}, Dims{9, 40}});
  EXPECT_EQ(b, (ir::SymBindings{{"batch", 9}, {"seq", 40}}));
  expect_error([&] { ir::bind_sizes(g, {Dims{3, 3, 6, 6}, Dims{5, 40}}); }, ErrorCode::kInvalidArgument,
               {"input 'ids' dim 0 is 5 but input 'x' dim 0 made size batch 3"});
  expect_error([&] { ir::bind_sizes(g, {Dims{3, 3, 6, 6}, Dims{3, 600}}); }, ErrorCode::kInvalidArgument,
               {"input 'ids' dim 1 is 600, outside size seq (2..512)"});
  expect_error([&] { ir::bind_sizes(g, {Dims{0, 3, 6, 6}, Dims{0, 4}}); }, ErrorCode::kInvalidArgument,
               {"input 'x' dim 0 is 0, outside size batch (1..64)"});
  expect_error([&] { ir::bind_sizes(g, {Dims{3, 4, 6, 6}, Dims{3, 4}}); }, ErrorCode::kInvalidArgument,
               {"input 'x' dim 1 is 4, the network's is 3"});
  expect_error([&] { ir::bind_sizes(g, {Dims{3, 3, 6}, Dims{3, 4}}); }, ErrorCode::kInvalidArgument,
               {"input 'x': rank 3, expected 4"});
  expect_error([&] { ir::bind_sizes(g, {Dims{3, 3, 6, 6}}); }, ErrorCode::kInvalidArgument,
               {"the network has 2 inputs, 1 shapes were given"});
}

TEST(Sizes, ListAttributesWrittenWithSizes) {
  const std::string body =
      "input %x: float32[batch,6]\n"
      "%r: float32[8,3] = reshape \"r\" (%x) {shape=[batch*2, 3]}\n"
      "%m: float32[8,3] = reshape \"m\" (%r) {shape=[max(batch, 1)*2, min(3, seq)]}\n"
      "output %m\n";
  const ir::Graph g = ir::parse_text(kSizes + body);
  EXPECT_EQ(ir::attr_ints(g.layers[1], "shape"), (std::vector<int64_t>{8, 3}));  // at the opt values
  const std::string text = ir::to_text(g);
  EXPECT_NE(text.find("{shape=[batch*2, 3]}"), std::string::npos) << text;
  EXPECT_NE(text.find("{shape=[max(batch, 1)*2, min(3, seq)]}"), std::string::npos) << text;
  EXPECT_EQ(ir::to_text(ir::parse_text(text)), text);
  // At batch 5: the reshapes' sizes follow, and the network computes what the one written with 10 does.
  const ir::Graph five = ir::specialize(g, {{"batch", 5}, {"seq", 9}});
  EXPECT_EQ(ir::attr_ints(five.layers[0], "shape"), (std::vector<int64_t>{10, 3}));
  EXPECT_TRUE(five.layers[0].size_attrs.empty());
  const ir::Graph fixed = ir::parse_text(
      "input %x: float32[5,6]\n%r: float32[10,3] = reshape \"r\" (%x) {shape=[10, 3]}\n"
      "%m: float32[10,3] = reshape \"m\" (%r) {shape=[10, 3]}\noutput %m\n");
  EXPECT_EQ(ir::to_text(five), ir::to_text(fixed));
  const std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, Dims{5, 6}, 3)};
  const auto want = run_graph(fixed, in), got = run_graph(five, in);
  expect_close(got[0], want[0].dims, want[0].values(), 0.0, "reshaped");
  // seq 2 makes the second reshape [10, 2]: a volume the layer refuses, with the values named.
  expect_error([&] { ir::specialize(g, {{"batch", 5}, {"seq", 2}}); }, ErrorCode::kInvalidNetwork,
               {"at sizes batch=5, seq=2", "layer 'm' (reshape)"});
  expect_error([&] { ir::parse_text(kSizes + "input %x: float32[batch,6]\n"
                                              "%r: float32[8,3] = reshape \"r\" (%x) {shape=[foo*2, 3]}\n"); },
               ErrorCode::kInvalidNetwork, {"line 4", "no size named foo"});
  expect_error([&] { ir::parse_text(kSizes + "input %x: float32[batch,6]\n"
                                              "%r: float32[8,3] = reshape \"r\" (%x) {shape=[batch**2, 3]}\n"); },
               ErrorCode::kInvalidNetwork, {"line 4", "expected an operator or the end"});
}

TEST(Sizes, IntegerAttributesWrittenWithSizes) {
  // arange's length is an integer attribute: written "(expr)" in the text form, evaluated per binding.
  const std::string body =
      "input %x: float32[batch,6]\n"
      "%a: float32[9] = arange \"a\" () {dtype=\"float32\", size=(batch*2 + 1), start=0, step=1}\n"
      "output %a\n";
  const ir::Graph g = ir::parse_text(kSizes + body);
  EXPECT_EQ(ir::attr_int(g.layers[0], "size"), 9);
  const std::string text = ir::to_text(g);
  EXPECT_NE(text.find("size=(batch*2 + 1)"), std::string::npos) << text;
  EXPECT_EQ(ir::to_text(ir::parse_text(text)), text);
  const ir::Graph five = ir::specialize(g, {{"batch", 5}, {"seq", 9}});
  EXPECT_EQ(ir::attr_int(five.layers[0], "size"), 11);
  EXPECT_EQ(five.tensors[five.outputs[0]].dims, Dims({11}));
  Network net;
  net.add_size("batch", 1, 2, 8);
  net.add_dynamic_input("x", DataType::kFloat32, {"batch", "3"});
  Tensor a = net.add_sized_layer(LayerKind::kArange, {}, {{"size", int64_t(0)}, {"dtype", std::string("int64")}},
                                 {{"size", {"batch*3"}}})[0];
  EXPECT_EQ(a.dims(), Dims({6}));
  expect_error([&] { net.add_sized_layer(LayerKind::kArange, {}, {{"size", int64_t(0)}}, {{"size", {"batch", "2"}}}); },
               ErrorCode::kInvalidArgument, {"attribute size", "an integer takes one expression"});
  expect_error([&] { ir::parse_text(kSizes + "input %x: float32[batch,6]\n"
                                              "%a: float32[9] = arange \"a\" () {size=(batch*2}\n"); },
               ErrorCode::kInvalidNetwork, {"line 4", "unbalanced parentheses"});
}

TEST(Sizes, PublicNetworkApi) {
  Network net;
  net.add_size("batch", 1, 2, 8);
  Tensor x = net.add_dynamic_input("x", DataType::kFloat32, {"batch", "3"});
  EXPECT_EQ(x.dims(), Dims({2, 3}));
  net.mark_output(net.add_softmax(x), "y");
  EXPECT_NE(net.to_text().find("input %x: float32[batch,3]"), std::string::npos) << net.to_text();
  expect_error([&] { Builder().build(net); }, ErrorCode::kUnsupported, {"named sizes (batch)", "specialize"});
  const Engine five = Builder().build(net.specialize({{"batch", 5}}));
  EXPECT_EQ(five.io_tensors()[0].dims, Dims({5, 3}));
  EXPECT_EQ(five.io_tensors()[1].dims, Dims({5, 3}));
  expect_error([&] { net.add_size("batch", 1, 1, 1); }, ErrorCode::kInvalidArgument, {"the size already exists"});
  expect_error([&] { net.add_dynamic_input("z", DataType::kFloat32, {"3x"}); }, ErrorCode::kInvalidArgument,
               {"dim 0 is '3x', neither an extent nor a size"});
}

TEST(Sizes, DynamicEngineBuildsAPlanPerBinding) {
  Network net;
  net.add_size("batch", 1, 2, 8);
  Tensor x = net.add_dynamic_input("x", DataType::kFloat32, {"batch", "3"});
  net.mark_output(net.add_softmax(x), "y");
  const DynamicEngine d = Builder().build_dynamic(net, 2);
  ASSERT_EQ(d.sizes().size(), 1u);
  EXPECT_EQ(d.sizes()[0].name, "batch");
  EXPECT_EQ(d.plans_built(), 1);
  const Engine five = d.plan({Dims{5, 3}});
  EXPECT_EQ(five.io_tensors()[1].dims, Dims({5, 3}));
  const std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, Dims{5, 3}, 4)};
  const auto got = run_engine(five, in);
  const auto want = run_engine(Builder().build(net.specialize({{"batch", 5}})), in);
  expect_close(got[0], want[0].dims, want[0].values(), 0.0, "batch 5");
  EXPECT_EQ(d.plan({Dims{5, 3}}).io_tensors()[0].dims, Dims({5, 3}));
  EXPECT_EQ(d.plans_built(), 2);  // the second call reused the plan
  d.plan({Dims{7, 3}});           // a third plan: the opt one (least recently used) is dropped
  EXPECT_EQ(d.plans_kept(), 2);
  d.plan({Dims{2, 3}});
  EXPECT_EQ(d.plans_built(), 4);
  expect_error([&] { d.plan({Dims{9, 3}}); }, ErrorCode::kInvalidArgument,
               {"input 'x' dim 0 is 9, outside size batch (1..8)"});
  expect_error([&] { Builder().build_dynamic(net, 0); }, ErrorCode::kInvalidArgument, {"max_plans must be in 1..1024"});
}

TEST(Sizes, PlansShareOneCopyOfEachConstant) {
  Network net;
  net.add_size("batch", 1, 2, 8);
  Tensor x = net.add_dynamic_input("x", DataType::kFloat32, {"batch", "6"});
  const HostTensor w = random_tensor(DataType::kFloat32, Dims{6, 4}, 5);
  Tensor y = net.add_matmul(x, net.add_constant(to_weights(w), "w"));
  net.mark_output(net.add_activation(y, "relu"), "y");
  const DynamicEngine d = Builder().build_dynamic(net, 4);
  const size_t once = d.weights_size();
  EXPECT_GE(once, 6u * 4u * 4u);
  auto constant_data = [](const Engine& e) {
    std::vector<const void*> out;
    const EngineImpl& impl = e.impl();
    for (const ir::Layer& l : impl.graph.layers)
      if (l.kind == LayerKind::kConstant) out.push_back(impl.locations[l.outputs[0]].data);
    return out;
  };
  const Engine two = d.plan({Dims{2, 6}}), five = d.plan({Dims{5, 6}});
  ASSERT_FALSE(constant_data(two).empty());
  EXPECT_EQ(constant_data(two), constant_data(five));  // the same bytes, not a copy
  EXPECT_EQ(d.weights_size(), once);                     // the second plan added none
  const std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, Dims{5, 6}, 6)};
  const auto want = run_engine(Builder().build(net.specialize({{"batch", 5}})), in);
  expect_close(run_engine(five, in)[0], want[0].dims, want[0].values(), 0.0, "batch 5");
}

TEST(Sizes, PlansDeriveMergedWeightsOnce) {
  // Three linear layers reading one activation: merge_parallel_matmuls concatenates their weights in
  // every plan, and the plans share one copy of the result. (The pool would also dedupe copies made
  // again; that later plans do not make them is the memo's part, checked on the pool below.)
  Network net;
  net.add_size("batch", 1, 2, 8);
  Tensor x = net.add_dynamic_input("x", DataType::kFloat32, {"batch", "6"});
  for (unsigned k = 0; k < 3; ++k) {
    Tensor w = net.add_constant(to_weights(random_tensor(DataType::kFloat32, Dims{6, 4}, 10 + k)));
    net.mark_output(net.add_matmul(x, w), "y" + std::to_string(k));
  }
  const DynamicEngine d = Builder().build_dynamic(net, 4);
  auto merged = [](const Engine& e) {
    for (const ir::Layer& l : e.impl().graph.layers)
      if (l.kind == LayerKind::kConstant && e.impl().graph.tensors[l.outputs[0]].dims == Dims{6, 12})
        return e.impl().locations[l.outputs[0]].data;
    return static_cast<const void*>(nullptr);
  };
  const Engine three = d.plan({Dims{3, 6}}), seven = d.plan({Dims{7, 6}});
  ASSERT_NE(merged(three), nullptr) << three.inspect();
  EXPECT_EQ(merged(three), merged(seven));
  // Threads building plans of other sizes at once derive through the one pool: every plan is right.
  std::vector<std::thread> threads;
  std::vector<std::string> errors(6);
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      try {
        const int64_t b = 1 + t % 3 + (t >= 3 ? 4 : 0);  // 1, 2, 3, 5, 6, 7: six plans
        const std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, Dims{b, 6}, 40 + t)};
        const auto want = run_engine(Builder().build(net.specialize({{"batch", b}})), in);
        const auto got = run_engine(d.plan({Dims{b, 6}}), in);
        for (size_t k = 0; k < want.size(); ++k)
          if (got[k].values() != want[k].values())
            errors[t] = "batch " + std::to_string(b) + " output " + std::to_string(k);
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  // The pool as a memo: the same kind from the same bytes (another copy of them) is made once.
  WeightPool pool;
  const HostTensor h = random_tensor(DataType::kFloat32, Dims{2, 3}, 3);
  int made = 0;
  auto make = [&] { ++made; return to_weights(h); };
  const Weights a = pool.derive("k", {to_weights(h)}, make), b = pool.derive("k", {to_weights(h)}, make);
  EXPECT_EQ(made, 1);
  EXPECT_EQ(a.data(), b.data());
  pool.derive("other", {to_weights(h)}, make);
  EXPECT_EQ(made, 2);
}

TEST(Sizes, TextErrorsNameTheLine) {
  expect_error([] { ir::parse_text("input %x: float32[batch,3]\n"); }, ErrorCode::kInvalidNetwork,
               {"line 1", "no size named batch"});
  expect_error([] { ir::parse_text("size b: min 5, opt 4, max 9\n"); }, ErrorCode::kInvalidNetwork,
               {"line 1", "needs 0 <= min <= opt <= max, got min 5, opt 4, max 9"});
  expect_error([] { ir::parse_text("size b: min 1, opt 4, max 9\nsize b: min 1, opt 4, max 9\n"); },
               ErrorCode::kInvalidNetwork, {"line 2", "size b is declared twice"});
  expect_error([] { ir::parse_text("size b: min 1, max 9\n"); }, ErrorCode::kInvalidNetwork,
               {"line 1", "expected 'opt'"});
  expect_error([] { ir::parse_text("size max: min 1, opt 1, max 9\n"); }, ErrorCode::kInvalidNetwork,
               {"line 1", "not a symbol name"});
  expect_error([] { ir::parse_text("size b: min 1, opt 2.5, max 9\n"); }, ErrorCode::kInvalidNetwork,
               {"line 1", "a size's bound must be an integer"});
}

}  // namespace
}  // namespace tft
