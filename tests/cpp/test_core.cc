// Core types, network construction errors, attribute schema checks, the memory planner, the build
// clock, build progress reports, the process cache of kernel decisions and the printer.
#include <atomic>
#include <cstring>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "builder/memory_planner.h"
#include "builder/prepare.h"
#include "builder/tactic_timing.h"
#include "kernels/cpu/parallel.h"
#include "builder/progress.h"
#include "ir/parser.h"
#include "common/build_clock.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/process_cache.h"
#include "test_util.h"

using namespace tft;

TEST(Types, NamesAndSizes) {
  EXPECT_EQ(element_size(DataType::kFloat16), 2u);
  EXPECT_EQ(element_size(DataType::kInt64), 8u);
  EXPECT_STREQ(to_string(DataType::kBFloat16), "bfloat16");
  EXPECT_EQ(parse_data_type("uint8"), DataType::kUInt8);
  expect_error([] { parse_data_type("float64"); }, ErrorCode::kInvalidArgument, {"float64"});
  EXPECT_EQ(Dims({2, 3, 4}).volume(), 24);
  EXPECT_EQ(Dims().volume(), 1);
  EXPECT_EQ(Dims({1, 3}).str(), "[1,3]");
  expect_error([] { Dims(std::vector<int64_t>(9, 1)); }, ErrorCode::kInvalidArgument, {"rank 9"});
}

TEST(Types, HalfConversionsRoundTrip) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.1f, 3.14159f}) {
    EXPECT_NEAR(to_float(to_half(v)), v, std::fabs(v) * 1e-3 + 1e-7) << v;
    EXPECT_NEAR(to_float(to_bfloat16(v)), v, std::fabs(v) * 8e-3 + 1e-30) << v;
  }
  EXPECT_TRUE(std::isinf(to_float(to_half(70000.0f))));
  EXPECT_TRUE(std::isnan(to_float(to_half(NAN))));
  EXPECT_TRUE(std::isnan(to_float(to_bfloat16(NAN))));
  EXPECT_EQ(to_half(1.0f).bits, 0x3c00);
  EXPECT_EQ(to_bfloat16(1.0f).bits, 0x3f80);
  // Round to nearest even: 1 + 2^-11 is halfway between 1 and the next half; it rounds to 1.
  EXPECT_EQ(to_half(1.0f + 0.00048828125f).bits, 0x3c00);
}

TEST(Network, InputsAndNames) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  EXPECT_EQ(x.dims(), Dims({2, 3}));
  expect_error([&] { net.add_input("x", DataType::kFloat32, {1}); }, ErrorCode::kInvalidArgument, {"'x'", "already"});
  expect_error([&] { net.add_input("y", DataType::kFloat32, {-1, 3}); }, ErrorCode::kInvalidArgument, {"negative"});
  Tensor y = net.add_unary(x, "neg", "negate");
  EXPECT_EQ(y.name(), "negate");
  Tensor z = net.add_unary(y, "neg", "negate");  // a taken layer name gets a suffix
  EXPECT_NE(z.name(), y.name());
  net.mark_output(z, "out");
  EXPECT_EQ(z.name(), "out");
  expect_error([&] { net.mark_output(z); }, ErrorCode::kInvalidArgument, {"already an output"});
  EXPECT_EQ(net.tensor("out").id(), z.id());
  expect_error([&] { net.tensor("nope"); }, ErrorCode::kInvalidArgument, {"nope"});
}

TEST(Network, AttributeSchemaErrors) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  expect_error([&] { net.add_layer(LayerKind::kUnary, {x}, {{"opp", std::string("neg")}}, "u"); },
               ErrorCode::kInvalidArgument, {"layer 'u' (unary)", "unknown attribute 'opp'", "op"});
  expect_error([&] { net.add_layer(LayerKind::kUnary, {x}, {}, "u"); }, ErrorCode::kInvalidArgument,
               {"'op' is required"});
  expect_error([&] { net.add_layer(LayerKind::kUnary, {x}, {{"op", int64_t(3)}}, "u"); }, ErrorCode::kInvalidArgument,
               {"'op' must be a string"});
  expect_error([&] { net.add_layer(LayerKind::kUnary, {x, x}, {{"op", std::string("neg")}}, "u"); },
               ErrorCode::kInvalidNetwork, {"takes 1 inputs, got 2"});
  expect_error([&] { net.add_layer(LayerKind::kSelect, {Tensor(), x, x}, {}, "s"); }, ErrorCode::kInvalidNetwork,
               {"'condition' is required"});
  // ints are accepted where floats are expected
  Tensor y = net.add_layer(LayerKind::kActivation, {x}, {{"op", std::string("clip")}, {"alpha", int64_t(0)}, {"beta", int64_t(1)}})[0];
  EXPECT_EQ(y.dims(), Dims({2, 3}));
}

TEST(Network, ValidateNeedsOutputs) {
  Network net;
  net.add_input("x", DataType::kFloat32, {2});
  expect_error([&] { net.validate(); }, ErrorCode::kInvalidNetwork, {"no outputs"});
  expect_error([&] { Builder().build(net); }, ErrorCode::kInvalidNetwork, {"no outputs"});
}

TEST(MemoryPlanner, DisjointLifetimesShareMemory) {
  // a: steps 0-1, b: 1-2, c: 2-3. a and c may share; b overlaps both.
  std::vector<BufferLifetime> bufs = {{1000, 0, 1}, {500, 1, 2}, {1000, 2, 3}};
  size_t total = 0;
  auto off = plan_memory(bufs, total);
  EXPECT_EQ(off[0], off[2]);
  auto overlap = [&](int i, int j) {
    size_t ai = off[i], bi = off[i] + bufs[i].size, aj = off[j], bj = off[j] + bufs[j].size;
    return ai < bj && aj < bi;
  };
  EXPECT_FALSE(overlap(0, 1));
  EXPECT_FALSE(overlap(1, 2));
  EXPECT_LE(total, 1024u + 512u);
  for (size_t o : off) EXPECT_EQ(o % kArenaAlignment, 0u);
}

TEST(MemoryPlanner, RandomPlansNeverOverlap) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferLifetime> bufs;
    for (int i = 0; i < 30; ++i) {
      int a = rng() % 20, b = a + rng() % 6;
      bufs.push_back({static_cast<size_t>(rng() % 5000), a, b});
    }
    size_t total = 0;
    auto off = plan_memory(bufs, total);
    for (size_t i = 0; i < bufs.size(); ++i) {
      EXPECT_LE(off[i] + bufs[i].size, total);
      for (size_t j = i + 1; j < bufs.size(); ++j) {
        bool live = bufs[i].first <= bufs[j].last && bufs[j].first <= bufs[i].last;
        bool mem = off[i] < off[j] + bufs[j].size && off[j] < off[i] + bufs[i].size;
        EXPECT_FALSE(live && mem && bufs[i].size && bufs[j].size) << i << " " << j;
      }
    }
  }
}

TEST(Engine, OutputsThatAreInputsOrConstants) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {3});
  HostTensor c = random_tensor(DataType::kFloat32, {2}, 1);
  Tensor k = net.add_constant(to_weights(c), "k");
  net.mark_output(x, "x_out");
  net.mark_output(k);
  HostTensor in = random_tensor(DataType::kFloat32, {3}, 2);
  for (bool rt : {false, true}) {
    auto outs = run(net, {in}, rt);
    expect_close(outs[0], {3}, in.values(), 0);
    expect_close(outs[1], {2}, c.values(), 0);
  }
}

TEST(Engine, ArenaIsReusedAlongAChain) {
  Network net;
  Tensor t = net.add_input("x", DataType::kFloat32, {1024});
  for (int i = 0; i < 10; ++i) t = net.add_unary(t, "neg");
  net.mark_output(t);
  Engine e = Builder().build(net);
  // 9 intermediate tensors of 4 KiB each, but at most two are alive at once.
  EXPECT_LE(e.arena_size(), 2u * 4096u);
  HostTensor in = random_tensor(DataType::kFloat32, {1024}, 3);
  auto out = run(net, {in});
  expect_close(out[0], {1024}, in.values(), 0);
}

TEST(Engine, UnboundBufferIsAnError) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {3});
  net.mark_output(net.add_unary(x, "neg"), "y");
  Engine e = Builder().build(net);
  ExecutionContext ctx = e.create_execution_context();
  expect_error([&] { ctx.execute(); }, ErrorCode::kInvalidArgument, {"input 'x'"});
  expect_error([&] { ctx.set_tensor_address("z", nullptr); }, ErrorCode::kInvalidArgument, {"'z'", "x, y"});
  expect_error([&] { ctx.execute({nullptr}); }, ErrorCode::kInvalidArgument, {"expected 2 bindings"});
}

TEST(Builder, ConfigValidation) {
  BuilderConfig c;
  c.optimization_level = 6;
  expect_error([&] { Builder b(c); }, ErrorCode::kInvalidArgument, {"optimization_level", "0..5"});
  c.optimization_level = 0;
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {3});
  net.mark_output(net.add_unary(x, "neg"));
  EXPECT_EQ(Builder(c).build(net).optimization_level(), 0);
  c.device = DeviceKind::kCUDA;
  if (cuda::device_count() == 0)
    expect_error([&] { Builder(c).build(net); }, ErrorCode::kUnsupported, {"cuda"});
  else
    EXPECT_EQ(Builder(c).build(net).device(), DeviceKind::kCUDA);
}

TEST(Printer, OneLinePerLayer) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  float vals[3] = {1, 2, 3};
  Tensor c = net.add_constant(Weights(DataType::kFloat32, {3}, vals), "c");
  Tensor y = net.add_elementwise(x, c, "add", "plus");
  Tensor z = net.add_cast(y, DataType::kFloat16, "half");
  net.mark_output(z, "out");
  const std::string expected =
      "input %x: float32[2,3]\n"
      "%c: float32[3] = constant \"c\" () {value=float32[3]{1, 2, 3}}\n"
      "%plus: float32[2,3] = elementwise \"plus\" (%x, %c) {op=\"add\"}\n"
      "%out: float16[2,3] = cast \"half\" (%plus) {dtype=\"float16\"}\n"
      "output %out\n";
  EXPECT_EQ(net.to_text(), expected);
  Engine e = Builder().build(net);
  EXPECT_EQ(e.network_text(), expected);
  EXPECT_NE(e.inspect().find("plus [elementwise] tactic=cpu.elementwise -> float32[2,3]"), std::string::npos)
      << e.inspect();
}

TEST(Engine, PerLayerProfile) {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {256});
  HostTensor c = random_tensor(DataType::kFloat32, {256}, 1);
  Tensor y = net.add_elementwise(x, net.add_constant(to_weights(c), "c"), "mul", "scale");
  net.mark_output(net.add_unary(y, "exp", "e"), "out");
  Engine e = Builder().build(net);
  ExecutionContext ctx = e.create_execution_context();
  HostTensor in = random_tensor(DataType::kFloat32, {256}, 2), out(DataType::kFloat32, {256});
  ctx.execute({in.data(), out.data()});
  EXPECT_EQ(ctx.profiled_runs(), 0);  // off by default
  ctx.set_profiling(true);
  ctx.execute({in.data(), out.data()});
  ctx.execute({in.data(), out.data()});
  EXPECT_EQ(ctx.profiled_runs(), 2);
  std::vector<double> ms = ctx.layer_times_ms();
  ASSERT_EQ(static_cast<int>(ms.size()), e.nb_layers());
  EXPECT_EQ(ms[0], 0.0);  // the constant does no work
  EXPECT_GT(ms[1] + ms[2], 0.0);
  for (double v : ms) EXPECT_GE(v, 0.0);
  ctx.reset_profile();
  EXPECT_EQ(ctx.profiled_runs(), 0);
  for (double v : ctx.layer_times_ms()) EXPECT_EQ(v, 0.0);
}

TEST(BuildClock, PartsGoToTheInnermostOpenClockOfTheThread) {
  tensorforge::BuildClock::add("dropped", 5.0);  // no clock open: nothing to keep it
  tensorforge::BuildClock outer;
  tensorforge::BuildClock::add("plans", 2.0);
  {
    tensorforge::BuildClock inner;
    tensorforge::BuildClock::add("plans", 1.0);
    { tensorforge::TimedPart timed("timing"); }
    EXPECT_EQ(inner.ms().at("plans"), 1.0);
    EXPECT_GE(inner.ms().at("timing"), 0.0);
  }
  tensorforge::BuildClock::add("plans", 0.5);
  EXPECT_EQ(outer.ms().size(), 1u);
  EXPECT_EQ(outer.ms().at("plans"), 2.5);
  double other_thread = -1;
  std::thread([&] {
    tensorforge::BuildClock::add("plans", 7.0);  // another thread has no open clock
    tensorforge::BuildClock own;
    tensorforge::BuildClock::add("x", 3.0);
    other_thread = own.ms().at("x");
  }).join();
  EXPECT_EQ(other_thread, 3.0);
  EXPECT_EQ(outer.ms().at("plans"), 2.5);
}

TEST(BuildProgress, ReportsAfterAFewSecondsThenEveryFewAndClearsItsLine) {
  double now = 100;
  std::vector<std::string> logged, drawn;
  {
    tensorforge::BuildProgress p(
        10, [&] { return now; }, [&](const std::string& m) { logged.push_back(m); },
        [&](const std::string& m) { drawn.push_back(m); });
    for (size_t i = 0; i < 10; ++i) {
      p.layer(i, "layer 'l" + std::to_string(i) + "' (convolution)");
      now += 1.0;  // each layer takes a second
    }
    // At 3 s (layer 3), then at 5, 7 and 9 s.
    ASSERT_EQ(logged.size(), 4u);
    EXPECT_EQ(logged[0], "building the engine: 3 of 10 layers done, 3 s so far; now layer 'l3' (convolution)");
    EXPECT_EQ(drawn.size(), 4u);
    EXPECT_EQ(drawn[0], "[tensorforge] building the engine: 3 of 10 layers done, 3 s so far");
  }
  ASSERT_EQ(drawn.size(), 5u);
  EXPECT_EQ(drawn.back(), "");  // the line is cleared at the end
  logged.clear();
  drawn.clear();
  {
    tensorforge::BuildProgress quick(
        5, [&] { return now; }, [&](const std::string& m) { logged.push_back(m); },
        [&](const std::string& m) { drawn.push_back(m); });
    for (size_t i = 0; i < 5; ++i) quick.layer(i, "x");  // no time passes: nothing to say
  }
  EXPECT_TRUE(logged.empty());
  EXPECT_TRUE(drawn.empty());
}

TEST(ProcessCache, KeepsTheFirstValueOfAKeyAndStartsOverWhenFull) {
  tensorforge::cuda::ProcessCache<int> cache(2);
  EXPECT_FALSE(cache.find("a").has_value());
  EXPECT_EQ(cache.insert("a", 1), 1);
  EXPECT_EQ(cache.insert("a", 2), 1);  // another thread's value, stored first, stays
  EXPECT_EQ(cache.insert("b", 3), 3);
  EXPECT_EQ(cache.find("a").value(), 1);
  EXPECT_EQ(cache.insert("c", 4), 4);  // full: starts over
  EXPECT_FALSE(cache.find("a").has_value());
  EXPECT_EQ(cache.find("c").value(), 4);
  std::vector<std::thread> threads;
  std::atomic<int> disagree{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const int kept = cache.insert("k" + std::to_string(i % 3), t);
        const std::optional<int> seen = cache.find("k" + std::to_string(i % 3));
        if (seen && (*seen < 0 || *seen > 7)) ++disagree;
        if (kept < 0 || kept > 7) ++disagree;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(disagree.load(), 0);
}

TEST(ProcessCache, TakeRemovesTheEntry) {
  tensorforge::cuda::ProcessCache<int> cache(4);
  cache.insert("a", 1);
  EXPECT_EQ(cache.take("a").value(), 1);
  EXPECT_FALSE(cache.take("a").has_value());
  EXPECT_FALSE(cache.find("a").has_value());
}

namespace {
// Counters of the fake prepare functions below (plain function pointers, as KernelEntry takes).
std::atomic<int> g_prepared_act{0}, g_prepared_other{0}, g_in_flight{0}, g_most_in_flight{0};

void prepare_activation(const tensorforge::KernelSpec& s) {
  const int now = ++g_in_flight;
  for (int seen = g_most_in_flight.load(); now > seen && !g_most_in_flight.compare_exchange_weak(seen, now);) {
  }
  // Stay a moment so that the other threads start (the test machine may have two cores).
  {
    tensorforge::TimedPart part("fake preparation");  // summed over the helpers (parts())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(s.layer.kind, tensorforge::LayerKind::kActivation);
  ASSERT_EQ(s.inputs.size(), 1u);
  ASSERT_EQ(s.inputs[0]->dims, tensorforge::Dims({2, 3}));
  ++g_prepared_act;
  --g_in_flight;
  if (s.layer.name == "a2") throw std::runtime_error("a prepare function that throws is dropped");
}
void prepare_other(const tensorforge::KernelSpec&) { ++g_prepared_other; }
std::unique_ptr<tensorforge::Kernel> create_nothing(const tensorforge::KernelSpec&) { return nullptr; }
}  // namespace

TEST(PrepareKernels, CallsEachMatchingEntryOncePerLayerOnSeveralThreads) {
  using namespace tensorforge;
  std::string text = "input %x: float32[2,3]\n";
  for (int i = 0; i < 6; ++i)
    text += "%a" + std::to_string(i) + ": float32[2,3] = activation \"a" + std::to_string(i) + "\" (%x) {op=\"relu\"}\n";
  text += "%s: float32[2,3] = elementwise \"s\" (%a0, %a1) {op=\"add\"}\noutput %s\n";
  for (int i = 2; i < 6; ++i) text += "output %a" + std::to_string(i) + "\n";
  const ir::Graph g = ir::parse_text(text);
  const std::vector<KernelEntry> list = {
      {LayerKind::kActivation, "fake.activation", create_nothing, prepare_activation},
      {LayerKind::kActivation, "fake.activation.other", create_nothing, prepare_other},
      {LayerKind::kElementwise, "fake.elementwise", create_nothing},  // no prepare
  };
  auto reset = [] { g_prepared_act = g_prepared_other = g_most_in_flight = 0; };

  BuilderConfig config;
  config.build_threads = 4;
  EXPECT_EQ(prepare_kernels(g, list, config, {}), 12);
  EXPECT_EQ(g_prepared_act.load(), 6);  // the one that threw counted before throwing
  EXPECT_EQ(g_prepared_other.load(), 6);
  EXPECT_GT(g_most_in_flight.load(), 1);

  reset();
  config.disabled_tactics = {"fake.activation.other"};
  EXPECT_EQ(prepare_kernels(g, list, config, {}), 6);
  EXPECT_EQ(g_prepared_other.load(), 0);

  reset();  // the tactics an engine file names: only those entries prepare
  std::vector<std::string> tactics(g.layers.size());
  for (size_t li = 0; li < g.layers.size(); ++li)
    if (g.layers[li].kind == LayerKind::kActivation) tactics[li] = "fake.activation.other";
  config.disabled_tactics.clear();
  EXPECT_EQ(prepare_kernels(g, list, config, tactics), 6);
  EXPECT_EQ(g_prepared_act.load(), 0);
  EXPECT_EQ(g_prepared_other.load(), 6);

  reset();  // one thread: nothing ahead, create() does it all
  config.build_threads = 1;
  EXPECT_EQ(prepare_kernels(g, list, config, {}), 0);
  EXPECT_EQ(g_prepared_act.load() + g_prepared_other.load(), 0);
  config.build_threads = 0;
  EXPECT_GE(preparation_threads(config), 1);
  EXPECT_LE(preparation_threads(config), 8);
  config.build_threads = -1;
  expect_error([&] { config.validate(); }, ErrorCode::kInvalidArgument, {"build_threads"});

  // Beside kernel creation: wait_for(layer) returns once that layer's calls have returned, while
  // later layers may still be in preparation.
  reset();
  config.build_threads = 2;
  {
    KernelPreparation preparation(g, list, config, {});
    EXPECT_EQ(preparation.calls(), 12);
    size_t a0 = 0, a1 = 0;
    while (g.layers[a0].name != "a0") ++a0;
    while (g.layers[a1].name != "a1") ++a1;
    // wait_for(a1) alone does not wait for a0: a helper started late may still be in a0's call
    // when the other has finished a1's (seen under load on two cores).
    preparation.wait_for(a1);
    preparation.wait_for(a0);
    EXPECT_GE(g_prepared_act.load(), 2);  // a0's and a1's (each sleeps 20 ms)
    EXPECT_GE(preparation.finish(), 0.0);
    EXPECT_EQ(g_prepared_act.load(), 6);
    // Each helper's timed parts, summed over the threads: six calls of at least 20 ms.
    ASSERT_EQ(preparation.parts().count("fake preparation"), 1u);
    EXPECT_GE(preparation.parts().at("fake preparation"), 6 * 20.0);
  }
  reset();  // destroyed at once: the calls not yet started are dropped
  { KernelPreparation preparation(g, list, config, {}); }
  EXPECT_LT(g_prepared_act.load() + g_prepared_other.load(), 12);
}

namespace {
// relu over float32, taking `sleep_us` per call; `wrong` adds one to every output; `throws` fails.
class FakeRelu : public tensorforge::Kernel {
 public:
  FakeRelu(int sleep_us, bool wrong, bool throws) : sleep_us_(sleep_us), wrong_(wrong), throws_(throws) {}
  void run(const tensorforge::TensorView* in, const tensorforge::TensorView* out, void*) const override {
    if (throws_) throw tensorforge::Error(tensorforge::ErrorCode::kRuntime, "this candidate cannot run");
    for (int64_t i = 0; i < in[0].numel(); ++i)
      out[0].as<float>()[i] = std::max(in[0].as<float>()[i], 0.0f) + (wrong_ ? 1.0f : 0.0f);
    if (sleep_us_) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_));
  }

 private:
  int sleep_us_;
  bool wrong_, throws_;
};
std::unique_ptr<tensorforge::Kernel> create_slow(const tensorforge::KernelSpec&) { return std::make_unique<FakeRelu>(3000, false, false); }
std::unique_ptr<tensorforge::Kernel> create_fast(const tensorforge::KernelSpec&) { return std::make_unique<FakeRelu>(0, false, false); }
std::unique_ptr<tensorforge::Kernel> create_wrong(const tensorforge::KernelSpec&) { return std::make_unique<FakeRelu>(0, true, false); }
std::unique_ptr<tensorforge::Kernel> create_failing(const tensorforge::KernelSpec&) { return std::make_unique<FakeRelu>(0, false, true); }
}  // namespace

TEST(TacticTiming, KeepsTheFastestCandidateThatAgreesWithTheFirst) {
  using namespace tensorforge;
  const ir::Graph g = ir::parse_text(
      "input %x: float32[300]\n%y: float32[300] = activation \"a\" (%x) {op=\"relu\"}\noutput %y\n");
  const ir::Layer& l = g.layers.back();
  const KernelEntry slow{LayerKind::kActivation, "fake.slow", create_slow},
      fast{LayerKind::kActivation, "fake.fast", create_fast}, wrong{LayerKind::kActivation, "fake.wrong", create_wrong},
      failing{LayerKind::kActivation, "fake.failing", create_failing};
  BuilderConfig config;
  config.timing_iterations = 2;
  const KernelSpec spec = kernel_spec(g, l, config);
  auto candidates = [&](std::vector<const KernelEntry*> entries) {
    std::vector<TacticCandidate> c;
    for (const KernelEntry* e : entries) c.push_back(TacticCandidate{e, e->create(spec)});
    return c;
  };
  std::string summary;
  std::vector<TacticCandidate> c = candidates({&slow, &wrong, &failing, &fast});
  EXPECT_EQ(choose_by_timing(g, l, c, config, summary), 3u) << summary;  // the wrong one is faster still
  EXPECT_GT(c[0].ms, 2.0);
  EXPECT_FALSE(c[1].agrees);
  EXPECT_FALSE(c[2].failure.empty());
  EXPECT_NE(summary.find("fake.wrong"), std::string::npos);
  EXPECT_NE(summary.find("disagrees"), std::string::npos);
  EXPECT_NE(summary.find("failed"), std::string::npos);

  c = candidates({&fast, &slow});  // the first is fastest: it stays
  EXPECT_EQ(choose_by_timing(g, l, c, config, summary), 0u) << summary;

  c = candidates({&failing, &fast});  // no reference: the first stays, nothing is compared
  EXPECT_EQ(choose_by_timing(g, l, c, config, summary), 0u) << summary;

  // The chosen kernel keeps its behaviour, with the summary in front of its own choice.
  c = candidates({&slow, &fast});
  const size_t best = choose_by_timing(g, l, c, config, summary);
  std::unique_ptr<Kernel> k = with_tactic_summary(std::move(c[best].kernel), summary);
  EXPECT_EQ(k->choice().rfind("kernels timed: fake.slow", 0), 0u) << k->choice();
  float x[300], y[300];
  for (int i = 0; i < 300; ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  TensorView in{x, DataType::kFloat32, Dims({300})}, out{y, DataType::kFloat32, Dims({300})};
  k->run(&in, &out, nullptr);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[6], 3.0f);
  config.optimization_level = 3;
  EXPECT_FALSE(times_tactics(config));
  config.optimization_level = 4;
  EXPECT_TRUE(times_tactics(config));
}

TEST(PublicMemory, BuffersCopyBothWaysAndHalfConversionsRoundTrip) {
  using namespace tensorforge;
  DeviceBuffer b(DeviceKind::kCPU, 16);
  EXPECT_EQ(b.size(), 16u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  const float in[4] = {1.5f, -2.0f, 0.25f, 65504.0f};
  float out[4] = {};
  b.upload(in, sizeof(in));
  b.download(out, sizeof(out));
  EXPECT_EQ(std::memcmp(in, out, sizeof(in)), 0);
  expect_error([&] { b.upload(in, 17); }, ErrorCode::kInvalidArgument, {"17 bytes", "16"});
  DeviceBuffer moved = std::move(b);
  EXPECT_EQ(moved.size(), 16u);
  EXPECT_EQ(b.data(), nullptr);
  synchronize(DeviceKind::kCPU);
  if (!cuda::built_with_cuda() || cuda::device_count() == 0)
    expect_error([] { DeviceBuffer(DeviceKind::kCUDA, 4); }, ErrorCode::kUnsupported, {"cuda"});
  for (float v : in) {
    EXPECT_EQ(half_to_float(float_to_half(v)), v);
    EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(v)), v == 65504.0f ? 65536.0f : v);
  }
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_bfloat16(1.0f), 0x3f80);
}

TEST(ParallelFor, CoversEveryIndexOnceReportsErrorsAndServesConcurrentCallers) {
  using tensorforge::cpu::parallel_for;
  EXPECT_GE(tensorforge::cpu::cpu_threads(), 1);
  for (int64_t n : {0, 1, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    parallel_for(n, 64, [&](int64_t b, int64_t e) {
      ASSERT_LE(0, b);
      ASSERT_LE(e, n);
      for (int64_t i = b; i < e; ++i) ++seen[static_cast<size_t>(i)];
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)].load(), 1) << n << " " << i;
  }
  EXPECT_THROW(parallel_for(100000, 16,
                            [](int64_t, int64_t e) {  // the range holding the end, on whichever thread
                              if (e == 100000) throw tensorforge::Error(tensorforge::ErrorCode::kRuntime, "range failed");
                            }),
               tensorforge::Error);
  // Several callers at once (an engine run from several threads): every sum is whole.
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int r = 0; r < 50; ++r) {
        std::atomic<int64_t> sum{0};
        parallel_for(20000, 100, [&](int64_t b, int64_t e) {
          int64_t s = 0;
          for (int64_t i = b; i < e; ++i) s += i;
          sum += s;
        });
        if (sum.load() != int64_t(20000) * 19999 / 2) ++wrong;
      }
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
}
