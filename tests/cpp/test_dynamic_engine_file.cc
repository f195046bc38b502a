// Dynamic engine files (docs/file-format.md, "Dynamic engine files"): a DynamicEngine written and
// read back keeps its sizes, ranges, dynamic inputs and attributes written with sizes, and its opt
// plan (loading builds nothing), and computes what the original does at any binding; static and dynamic readers refuse each other's files with
// a clear error; every truncation and a mutation fuzz of the SIZE section are clear kCorruptFile
// errors, never a crash.
#include <cstring>
#include <random>

#include "serialize/format.h"
#include "test_util.h"
#include "tensorforge/dynamic_engine.h"

namespace tensorforge::serialize {
uint64_t checksum(const uint8_t* data, size_t n, uint32_t version);
}  // namespace tensorforge::serialize

namespace tft {
namespace {

// A reshape whose target follows the batch (batch*2, 3), an arange whose length does (batch + 1),
// and a softmax; batch 1..8, opt 2.
Network dynamic_network() {
  Network net;
  net.add_size("batch", 1, 2, 8);
  Tensor x = net.add_dynamic_input("x", DataType::kFloat32, {"batch", "6"});
  Tensor r = net.add_sized_layer(LayerKind::kReshape, {x}, {{"shape", std::vector<int64_t>{0, 3}}},
                                 {{"shape", {"batch*2", "3"}}}, "r")[0];
  net.mark_output(net.add_softmax(r), "y");
  Tensor a = net.add_sized_layer(LayerKind::kArange, {}, {{"size", int64_t(0)}, {"dtype", std::string("float32")}},
                                 {{"size", {"batch + 1"}}}, "a")[0];
  net.mark_output(a, "positions");
  return net;
}

void fix_checksum(std::vector<uint8_t>& b) {
  if (b.size() < 8) return;
  const uint64_t h = serialize::checksum(b.data(), b.size() - 8, file_version(b));
  std::memcpy(b.data() + b.size() - 8, &h, 8);
}

TEST(DynamicEngineFile, RoundTripKeepsSizesAndResults) {
  Network net = dynamic_network();
  const DynamicEngine d = Builder().build_dynamic(net, 3);
  const std::vector<uint8_t> bytes = d.serialize();
  const DynamicEngine back = DynamicEngine::deserialize(bytes.data(), bytes.size());
  ASSERT_EQ(back.sizes().size(), 1u);
  EXPECT_EQ(back.sizes()[0].name, "batch");
  EXPECT_EQ(back.sizes()[0].min, 1);
  EXPECT_EQ(back.sizes()[0].opt, 2);
  EXPECT_EQ(back.sizes()[0].max, 8);
  EXPECT_EQ(back.max_plans(), 3);
  EXPECT_EQ(back.plans_built(), 0);   // the file's opt plan: loading built nothing
  EXPECT_EQ(back.plans_kept(), 1);
  EXPECT_EQ(back.serialize(), bytes);  // the same file again
  // Without its opt plan (dropped: one plan kept, another shape's), a file loads by building it.
  const DynamicEngine one = Builder().build_dynamic(net, 1);
  (void)one.plan({Dims{7, 6}});
  const std::vector<uint8_t> planless = one.serialize();
  EXPECT_LT(planless.size(), bytes.size());
  const DynamicEngine rebuilt = DynamicEngine::deserialize(planless.data(), planless.size());
  EXPECT_EQ(rebuilt.plans_built(), 1);
  for (int64_t b : {1, 5, 8}) {
    const std::vector<HostTensor> in = {random_tensor(DataType::kFloat32, Dims{b, 6}, 7)};
    const auto got = run_engine(back.plan({Dims{b, 6}}), in);
    const auto want = run_engine(Builder().build(net.specialize({{"batch", b}})), in);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].dims, Dims({2 * b, 3}));
    EXPECT_EQ(got[1].dims, Dims({b + 1}));
    for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i].dims, want[i].values(), 0.0, "batch");
  }
  expect_error([&] { back.plan({Dims{9, 6}}); }, ErrorCode::kInvalidArgument, {"outside size batch (1..8)"});
  // Each reader names the other for the other's files.
  expect_error([&] { Engine::deserialize(bytes.data(), bytes.size()); }, ErrorCode::kUnsupported,
               {"holds a dynamic engine", "DynamicEngine::load"});
  const std::vector<uint8_t> fixed = Builder().build(net.specialize({{"batch", 4}})).serialize();
  expect_error([&] { DynamicEngine::deserialize(fixed.data(), fixed.size()); }, ErrorCode::kInvalidArgument,
               {"holds a static engine", "Engine::load"});
}

TEST(DynamicEngineFile, SaveAndLoad) {
  const DynamicEngine d = Builder().build_dynamic(dynamic_network(), 4);
  const std::string path = testing::TempDir() + "dynamic.tfengine";
  d.save(path);
  const DynamicEngine back = DynamicEngine::load(path);
  EXPECT_EQ(back.serialize(), d.serialize());
  expect_error([&] { DynamicEngine::load(path + ".missing"); }, ErrorCode::kInvalidArgument, {".missing"});
}

// Loads; true on success, false on kCorruptFile; fails the test on any other error.
bool load_or_reject(const std::vector<uint8_t>& b) {
  try {
    const DynamicEngine d = DynamicEngine::deserialize(b.data(), b.size());
    (void)d.plan({Dims{3, 6}});  // a file that loads must also plan
    return true;
  } catch (const Error& e) {
    const bool ok = e.code() == ErrorCode::kCorruptFile || e.code() == ErrorCode::kInvalidArgument;
    EXPECT_TRUE(ok) << static_cast<int>(e.code()) << ": " << e.what();
    return false;
  }
}

TEST(DynamicEngineFile, EveryTruncationIsRejected) {
  const std::vector<uint8_t> good = Builder().build_dynamic(dynamic_network(), 2).serialize();
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> b(good.begin(), good.begin() + n);
    fix_checksum(b);
    EXPECT_FALSE(load_or_reject(b)) << "a file cut at " << n << " of " << good.size() << " bytes loaded";
  }
}

TEST(DynamicEngineFile, MutationsOfTheSizesAndPlansNeverCrash) {
  const std::vector<uint8_t> good = Builder().build_dynamic(dynamic_network(), 2).serialize();
  // The SIZE and PLAN sections are the last ones: mutate their bytes (up to the checksum).
  const uint32_t tag = serialize::kSizesTag;
  size_t at = 0;
  for (size_t i = 0; i + 4 < good.size(); ++i)
    if (std::memcmp(good.data() + i, &tag, 4) == 0) at = i;
  ASSERT_GT(at, 0u);
  std::mt19937 rng(7);
  int loaded = 0;
  const int kTrials = 600;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::vector<uint8_t> b = good;
    const size_t lo = at + 12, hi = b.size() - 8;
    if (trial % 2) {
      b[lo + rng() % (hi - lo)] ^= static_cast<uint8_t>(1u << (rng() % 8));
    } else {
      const uint64_t vals[] = {0, 1, 0xffffffffull, 0x7fffffffull, ~0ull, 9, 1ull << 40};
      const uint64_t v = vals[rng() % 7];
      std::memcpy(b.data() + lo + rng() % (hi - lo - 8), &v, (rng() % 2) ? 4 : 8);
    }
    fix_checksum(b);
    loaded += load_or_reject(b);
  }
  EXPECT_LT(loaded, kTrials / 2);
}

}  // namespace
}  // namespace tft
