// The engine file format: round trip (same text, same tactics, same outputs), and the reader's
// behaviour on truncated, bit-flipped, foreign, newer and structurally damaged files: always a
// clear Error(kCorruptFile), never a crash. The mutation test fixes up the checksum after each
// mutation so that the parser itself (not just the checksum) sees the damage.
#include <cstdio>
#include <fstream>

#include "serialize/bytes.h"
#include "serialize/format.h"
#include "test_util.h"

using namespace tft;

namespace {

// A network touching every attribute type (int, float, string, int list, weights) and several kinds.
Network sample_network() {
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  HostTensor w = random_tensor(DataType::kFloat32, {3}, 4);
  Tensor c = net.add_constant(to_weights(w), "w");
  Tensor y = net.add_elementwise(x, c, "mul", "scale");
  y = net.add_activation(y, "leaky_relu", 0.25, 0.0, "act");
  Tensor f = net.add_layer(LayerKind::kFill, {}, {{"shape", std::vector<int64_t>{2, 3}}, {"value", 0.5}}, "half")[0];
  Tensor m = net.add_elementwise(y, f, "max", "floor");
  Tensor b = net.add_elementwise(m, f, "gt", "mask");
  Tensor s = net.add_layer(LayerKind::kSelect, {b, m, f}, {}, "pick")[0];
  net.mark_output(net.add_cast(s, DataType::kFloat16, "out"));
  net.mark_output(b, "mask_out");
  return net;
}

std::vector<uint8_t> sample_bytes() { return Builder().build(sample_network()).serialize(); }

void fix_checksum(std::vector<uint8_t>& b) {
  if (b.size() < 8) return;
  uint64_t h = serialize::checksum(b.data(), b.size() - 8, file_version(b));
  std::memcpy(b.data() + b.size() - 8, &h, 8);
}

// Deserializes; returns true on success, false on a kCorruptFile error; fails the test on anything else.
bool load_or_reject(const std::vector<uint8_t>& b) {
  try {
    Engine e = Engine::deserialize(b.data(), b.size());
    // A file that loads must also run without crashing.
    std::vector<HostTensor> bufs;
    std::vector<void*> bind;
    for (const auto& t : e.io_tensors()) {
      bufs.emplace_back(t.dtype, t.dims);
      bind.push_back(bufs.back().data());
    }
    auto ctx = e.create_execution_context();
    try {
      ctx.execute(bind);
    } catch (const Error& err) {
      EXPECT_EQ(static_cast<int>(err.code()), static_cast<int>(ErrorCode::kRuntime)) << err.what();
    }
    return true;
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(ErrorCode::kCorruptFile)) << e.what();
    EXPECT_GT(std::strlen(e.what()), 20u);
    return false;
  }
}

}  // namespace

TEST(Serialize, RoundTripKeepsNetworkTacticsAndResults) {
  Network net = sample_network();
  Engine e = Builder().build(net);
  std::vector<uint8_t> bytes = e.serialize();
  Engine r = Engine::deserialize(bytes.data(), bytes.size());
  EXPECT_EQ(r.network_text(), e.network_text());
  EXPECT_EQ(r.inspect(), e.inspect());
  EXPECT_EQ(r.serialize(), bytes);  // byte-identical when written again
  HostTensor x = random_tensor(DataType::kFloat32, {2, 3}, 9);
  auto a = run(net, {x}), b = run(net, {x}, true);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) expect_close(b[i], a[i].dims, a[i].values(), 0);
}

TEST(Serialize, SaveAndLoadFiles) {
  Engine e = Builder().build(sample_network());
  std::string path = ::testing::TempDir() + "/sample.tfengine";
  e.save(path);
  Engine r = Engine::load(path);
  EXPECT_EQ(r.network_text(), e.network_text());
  expect_error([] { Engine::load("/nonexistent/dir/x.tfengine"); }, ErrorCode::kInvalidArgument, {"cannot open"});
  std::ofstream(path, std::ios::binary) << "garbage";
  expect_error([&] { Engine::load(path); }, ErrorCode::kCorruptFile, {path, "too short"});
  std::remove(path.c_str());
}

TEST(Serialize, ForeignNewerTruncatedFlipped) {
  std::vector<uint8_t> good = sample_bytes();
  std::vector<uint8_t> foreign = good;
  foreign[0] = 'X';
  expect_error([&] { Engine::deserialize(foreign.data(), foreign.size()); }, ErrorCode::kCorruptFile,
               {"not a TensorForge engine file"});
  std::vector<uint8_t> newer = good;
  uint32_t v = serialize::kFormatVersion + 1;
  std::memcpy(newer.data() + 8, &v, 4);
  fix_checksum(newer);
  expect_error([&] { Engine::deserialize(newer.data(), newer.size()); }, ErrorCode::kCorruptFile,
               {"version " + std::to_string(v), "newer than this build reads (" +
                                                     std::to_string(serialize::kFormatVersion) + ")"});
  // A version-1 file (FNV-1a checksum) is still read.
  std::vector<uint8_t> v1 = good;
  const uint32_t one = 1;
  std::memcpy(v1.data() + 8, &one, 4);
  fix_checksum(v1);
  EXPECT_EQ(Engine::deserialize(v1.data(), v1.size()).nb_layers(), Engine::deserialize(good.data(), good.size()).nb_layers());
  std::vector<uint8_t> v1_with_v2_sum = v1;
  std::memcpy(v1_with_v2_sum.data() + v1.size() - 8, good.data() + good.size() - 8, 8);
  expect_error([&] { Engine::deserialize(v1_with_v2_sum.data(), v1_with_v2_sum.size()); }, ErrorCode::kCorruptFile,
               {"checksum mismatch"});
  for (size_t n : {size_t(0), size_t(5), size_t(19), good.size() / 2, good.size() - 1})
    expect_error([&] { Engine::deserialize(good.data(), n); }, ErrorCode::kCorruptFile, {});
  std::vector<uint8_t> flipped = good;
  flipped[good.size() / 3] ^= 0x10;
  expect_error([&] { Engine::deserialize(flipped.data(), flipped.size()); }, ErrorCode::kCorruptFile, {"checksum"});
  expect_error([&] { Engine::deserialize(nullptr, 0); }, ErrorCode::kCorruptFile, {"too short"});
}

TEST(Serialize, EveryTruncationIsRejected) {
  std::vector<uint8_t> good = sample_bytes();
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> b(good.begin(), good.begin() + n);
    fix_checksum(b);  // so the parser, not the checksum, must notice
    EXPECT_FALSE(load_or_reject(b)) << "a file cut at " << n << " of " << good.size() << " bytes loaded";
  }
}

TEST(Serialize, MutationFuzzNeverCrashes) {
  std::vector<uint8_t> good = sample_bytes();
  std::mt19937 rng(12345);
  int loaded = 0;
  const int kTrials = 3000;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::vector<uint8_t> b = good;
    int kind = trial % 4;
    size_t body = b.size() - 8;
    if (kind == 0) {  // flip one bit
      b[rng() % body] ^= static_cast<uint8_t>(1u << (rng() % 8));
    } else if (kind == 1) {  // overwrite a 4- or 8-byte field with an extreme value
      size_t at = rng() % (body - 8);
      uint64_t vals[] = {0, 1, 0xffffffffull, 0x7fffffffull, 0x80000000ull, ~0ull, 1ull << 40, 255};
      uint64_t v = vals[rng() % 8];
      std::memcpy(b.data() + at, &v, (rng() % 2) ? 4 : 8);
    } else if (kind == 2) {  // several random bytes
      for (int k = 0; k < 4; ++k) b[rng() % body] = static_cast<uint8_t>(rng());
    } else {  // delete or duplicate a span
      size_t at = rng() % body, len = 1 + rng() % 16;
      if (rng() % 2)
        b.erase(b.begin() + at, b.begin() + std::min(body, at + len));
      else
        b.insert(b.begin() + at, b.begin() + at, b.begin() + std::min(body, at + len));
    }
    fix_checksum(b);
    loaded += load_or_reject(b);
  }
  // Most mutations must be caught; some (a changed float value, a renamed tensor) are legitimately valid.
  EXPECT_LT(loaded, kTrials / 2);
}
