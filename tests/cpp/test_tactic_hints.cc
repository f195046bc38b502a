// kernels/tactic_hints.h: a build that records leaves each layer's choice by (layer, kind), a build
// that follows finds it, and neither happens without hints or in the other mode.
#include <thread>
#include <vector>

#include "kernels/kernel.h"
#include "test_util.h"

using namespace tft;

TEST(TacticHints, RecordThenFollowByLayerAndKind) {
  TacticHints hints;
  ir::Layer conv;
  conv.name = "conv1";
  BuilderConfig config;
  const KernelSpec recording{conv, {}, {}, config, HintUse{&hints, false}};
  const KernelSpec following{conv, {}, {}, config, HintUse{&hints, true}};
  const KernelSpec plain{conv, {}, {}, config};
  std::string text;
  record_hint(following, "cuDNN", "ignored");  // a following build never records
  record_hint(plain, "cuDNN", "ignored");      // nor one without hints
  EXPECT_EQ(hints.size(), 0u);
  record_hint(recording, "cuDNN", "0 0 1 1 0 16 12");
  EXPECT_FALSE(followed_hint(recording, "cuDNN", text));  // the recording build does not follow
  EXPECT_FALSE(followed_hint(plain, "cuDNN", text));
  EXPECT_FALSE(followed_hint(following, "cuBLASLt", text));  // another kind of kernel
  ASSERT_TRUE(followed_hint(following, "cuDNN", text));
  EXPECT_EQ(text, "0 0 1 1 0 16 12");
  ir::Layer other;
  other.name = "conv2";
  EXPECT_FALSE(followed_hint(KernelSpec{other, {}, {}, config, HintUse{&hints, true}}, "cuDNN", text));
  record_hint(recording, "cuDNN", "1 0 1 1 0 8 -1");  // a later record replaces
  ASSERT_TRUE(followed_hint(following, "cuDNN", text));
  EXPECT_EQ(text, "1 0 1 1 0 8 -1");
}

TEST(TacticHints, HelperThreadsRecordAtOnce) {
  TacticHints hints;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&hints, t] {
      for (int i = 0; i < 200; ++i) hints.record("layer" + std::to_string(i), "k" + std::to_string(t), std::to_string(i));
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(hints.size(), 1600u);
  std::string text;
  ASSERT_TRUE(hints.find("layer199", "k7", text));
  EXPECT_EQ(text, "199");
}
