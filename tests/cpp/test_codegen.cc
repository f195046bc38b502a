// The code generator of fused pointwise kernels: layouts, and generated sources that NVRTC compiles
// (NVRTC needs no GPU, so this runs wherever the CUDA backend is built); the kernel cache in memory
// and on disk, including damaged cache files. The kernels' numbers are tested on the GPU
// (tests/python/test_cuda_fused.py). Also the disk cache's entries (any payload) and the stored
// convolution plans' text form.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ir/pointwise_program.h"
#include "test_util.h"

#ifdef TENSORFORGE_WITH_CUDA
#include "codegen/disk_cache.h"
#include "codegen/nvrtc_cache.h"
#include "codegen/pointwise_source.h"
#include "kernels/cuda/choice_store.h"
#include "kernels/cuda/conv_plan_store.h"
#endif

namespace tft {
namespace {

// A body with one layer per formula of the table (and casts, select, bool ops) over x and y.
std::string every_formula_body(const std::string& dt) {
  std::string t = dt + "[2,3]";
  std::string s = "input %x: " + t + "\ninput %y: " + dt + "[3]\ninput %c: bool[2,1]\n";
  int n = 0;
  auto name = [&] { return "v" + std::to_string(n++); };
  std::vector<std::string> outs;
  for (const std::string& op : ir::pw_formula_names(ir::PwOp::kUnary)) {
    std::string v = name();
    s += "%" + v + ": " + t + " = unary \"" + v + "\" (%x) {op=\"" + op + "\"}\n";
    outs.push_back(v);
  }
  for (const std::string& op : ir::pw_formula_names(ir::PwOp::kActivation)) {
    std::string v = name();
    s += "%" + v + ": " + t + " = activation \"" + v + "\" (%x) {alpha=0.5, beta=2, op=\"" + op + "\"}\n";
    outs.push_back(v);
  }
  for (const std::string& op : ir::pw_formula_names(ir::PwOp::kBinary)) {
    std::string v = name();
    s += "%" + v + ": " + t + " = elementwise \"" + v + "\" (%x, %y) {op=\"" + op + "\"}\n";
    outs.push_back(v);
  }
  for (const std::string& op : ir::pw_formula_names(ir::PwOp::kCompare)) {
    std::string v = name();
    s += "%" + v + ": bool[2,3] = elementwise \"" + v + "\" (%x, %y) {op=\"" + op + "\"}\n";
    outs.push_back(v);
  }
  s += "%p: bool[2,3] = unary \"p\" (%x) {op=\"isinf\"}\n%q: bool[2,3] = unary \"q\" (%p) {op=\"not\"}\n";
  s += "%h: float16[2,3] = cast \"h\" (%x) {dtype=\"float16\"}\n%bf: bfloat16[2,3] = cast \"bf\" (%h) {dtype=\"bfloat16\"}\n";
  s += "%sel: " + t + " = select \"sel\" (%c, %x, %y)\n";
  for (const std::string& v : outs) s += "output %" + v + "\n";
  s += "output %q\noutput %bf\noutput %sel\n";
  return s;
}

TEST(PointwiseProgram, CompilesEveryFormulaAndRejectsOtherLayers) {
  ir::PwProgram p = ir::compile_pointwise_body(every_formula_body("float16"));
  EXPECT_EQ(p.shape, (Dims{2, 3}));
  EXPECT_EQ(p.input_dtypes.size(), 3u);
  expect_error([] { ir::compile_pointwise_body("input %x: float32[4]\n%s: float32[] = reduce \"s\" (%x) {op=\"sum\"}\noutput %s\n"); },
               ErrorCode::kInvalidNetwork, {"pointwise body", "is a reduce"});
  expect_error([] { ir::compile_pointwise_body("input %x: int64[4]\n%s: int64[4] = unary \"s\" (%x) {op=\"neg\"}\noutput %s\n"); },
               ErrorCode::kInvalidNetwork, {"int64"});
  expect_error([] {
    ir::compile_pointwise_body("input %x: float32[4]\ninput %y: float32[3,1]\n"
                               "%a: float32[3,4] = elementwise \"a\" (%x, %y) {op=\"add\"}\noutput %a\noutput %x\n");
  }, ErrorCode::kInvalidNetwork, {"different shapes"});
}

#ifdef TENSORFORGE_WITH_CUDA

TEST(Codegen, LayoutMergesDimsEveryInputWalksAlike) {
  ir::PwProgram p = ir::compile_pointwise_body(
      "input %x: float32[8,4,6,5]\ninput %b: float32[6,5]\ninput %s: float32[8,1,1,1]\n"
      "%a: float32[8,4,6,5] = elementwise \"a\" (%x, %b) {op=\"add\"}\n"
      "%m: float32[8,4,6,5] = elementwise \"m\" (%a, %s) {op=\"mul\"}\noutput %m\n");
  codegen::PointwiseLayout l = codegen::pointwise_layout(p);
  EXPECT_EQ(l.shape, (std::vector<int64_t>{8, 4, 30}));
  EXPECT_EQ(l.strides[0], (std::vector<int64_t>{120, 30, 1}));
  EXPECT_EQ(l.strides[1], (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(l.strides[2], (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(l.elements, 960);
}

TEST(Codegen, AViewSplitsTheIterationIntoItsFinerDims) {
  // Swin's window reverse read in place: the body's [2, 14, 14, 96] input is the [2, 2, 7, 2, 7, 96]
  // transpose of a [2, 2, 2, 7, 7, 96] tensor; the walk runs over the finer dims, the residual's
  // contiguous strides split with them, and the dims both walk alike merge again.
  ir::PwProgram p = ir::compile_pointwise_body(
      "input %t: float16[2,14,14,96]\ninput %r: float16[2,14,14,96]\n"
      "%a: float16[2,14,14,96] = elementwise \"a\" (%t, %r) {op=\"add\"}\noutput %a\n");
  ir::apply_input_views(p, {0, 6, 2, 2, 7, 2, 7, 96, 18816, 9408, 672, 4704, 96, 1, 0});
  const ir::PwIteration it = ir::pointwise_iteration(p);
  EXPECT_EQ(it.shape, Dims({2, 2, 7, 2, 7, 96}));
  EXPECT_EQ(it.strides[0], (std::vector<int64_t>{18816, 9408, 672, 4704, 96, 1}));
  EXPECT_EQ(it.strides[1], (std::vector<int64_t>{18816, 9408, 1344, 672, 96, 1}));
  // A view that does not refine with the shape, and one of another volume, are refused.
  ir::PwProgram q = ir::compile_pointwise_body(
      "input %t: float32[2,3]\n%e: float32[2,3] = unary \"e\" (%t) {op=\"exp\"}\noutput %e\n");
  EXPECT_THROW(ir::apply_input_views(q, {0, 2, 3, 2, 1, 3, 0}), Error);
  EXPECT_THROW(ir::apply_input_views(q, {0, 1, 7, 1, 0}), Error);
#ifdef TENSORFORGE_WITH_CUDA
  codegen::PointwiseLayout l = codegen::pointwise_layout(p);
  EXPECT_EQ(l.shape, (std::vector<int64_t>{4, 7, 2, 672}));  // (2, 2) and (7, 96) merge
  ::setenv("TENSORFORGE_KERNEL_CACHE", "off", 1);
  EXPECT_GT(codegen::compile_cubin(codegen::pointwise_source(p, l), 90).size(), 1000u);
  ::unsetenv("TENSORFORGE_KERNEL_CACHE");
#endif
}

TEST(Codegen, AViewMayStepBackwards) {
  // rotate_half(q) read in place: the last dim (64) split in halves, the outer half-stride -32 from
  // an offset of 32; the walk keeps the halves apart (they do not merge), the source offsets use
  // signed arithmetic, and the vector entry point still moves whole 16-byte runs of each half.
  ir::PwProgram p = ir::compile_pointwise_body(
      "input %t: float16[2,8,16,64]\ninput %s: float16[64]\n"
      "%a: float16[2,8,16,64] = elementwise \"a\" (%t, %s) {op=\"mul\"}\noutput %a\n");
  ir::apply_input_views(p, {0, 5, 2, 8, 16, 2, 32, 49152, 64, 3072, -32, 1, 32});
  const ir::PwIteration it = ir::pointwise_iteration(p);
  EXPECT_EQ(it.shape, Dims({2, 8, 16, 2, 32}));
  EXPECT_EQ(it.strides[0], (std::vector<int64_t>{49152, 64, 3072, -32, 1}));
  // A view whose first element lies before the tensor's is refused.
  ir::PwProgram q = ir::compile_pointwise_body(
      "input %t: float32[4]\n%e: float32[4] = unary \"e\" (%t) {op=\"exp\"}\noutput %e\n");
  EXPECT_THROW(ir::apply_input_views(q, {0, 2, 2, 2, -2, 1, 1}), Error);
  ir::apply_input_views(q, {0, 2, 2, 2, -2, 1, 2});  // [2, 3, 0, 1]
#ifdef TENSORFORGE_WITH_CUDA
  codegen::PointwiseLayout l = codegen::pointwise_layout(p);
  const std::string src = codegen::pointwise_source(p, l);
  EXPECT_NE(src.find("-32"), std::string::npos) << src;
  EXPECT_GT(codegen::pointwise_vector_width(p, l), 1);
  ::setenv("TENSORFORGE_KERNEL_CACHE", "off", 1);
  EXPECT_GT(codegen::compile_cubin(src, 90).size(), 1000u);
  ::unsetenv("TENSORFORGE_KERNEL_CACHE");
#endif
}

TEST(Codegen, VectorWidthFollowsTheWidestFullOperandAndTheInnermostExtent) {
  auto width = [](const std::string& body) {
    ir::PwProgram p = ir::compile_pointwise_body(body);
    return codegen::pointwise_vector_width(p, codegen::pointwise_layout(p));
  };
  // float16 throughout: 8 per thread; the [2, 1, 1, 16] weights read per element do not count.
  EXPECT_EQ(width("input %x: float16[2,6,5,16]\ninput %w: float32[2,1,1,16]\n"
                  "%h: float16[2,1,1,16] = cast \"h\" (%w) {dtype=\"float16\"}\n"
                  "%m: float16[2,6,5,16] = elementwise \"m\" (%x, %h) {op=\"mul\"}\noutput %m\n"),
            8);
  // a float32 output: 4; 15 elements (one merged dim) allow no vector, nor does a scalar result.
  EXPECT_EQ(width("input %x: float16[3,8]\n%c: float32[3,8] = cast \"c\" (%x) {dtype=\"float32\"}\noutput %c\n"), 4);
  EXPECT_EQ(width("input %x: float32[5,3]\n%e: float32[5,3] = unary \"e\" (%x) {op=\"exp\"}\noutput %e\n"), 1);
  // a row broadcast with rows of 6 halves: a vector of 8 would cross rows.
  EXPECT_EQ(width("input %x: float16[4,6]\ninput %b: float16[6]\n"
                  "%a: float16[4,6] = elementwise \"a\" (%x, %b) {op=\"add\"}\noutput %a\n"),
            1);
  EXPECT_EQ(width("input %x: float32[]\n%e: float32[] = unary \"e\" (%x) {op=\"exp\"}\noutput %e\n"), 1);
}

TEST(Codegen, VectorKernelsCompileWithNvrtc) {
  // Vectors of every storage size: 16-bit and 32-bit floats, bools (8 bytes per thread), inputs
  // read per element with a unit stride, per vector, and a scalar.
  ::setenv("TENSORFORGE_KERNEL_CACHE", "off", 1);
  ir::PwProgram p = ir::compile_pointwise_body(
      "input %x: bfloat16[2,3,16]\ninput %b: bfloat16[3,16]\ninput %s: float32[]\ninput %k: bool[2,3,16]\n"
      "%a: bfloat16[2,3,16] = elementwise \"a\" (%x, %b) {op=\"add\"}\n"
      "%sb: bfloat16[] = cast \"sb\" (%s) {dtype=\"bfloat16\"}\n"
      "%m: bfloat16[2,3,16] = elementwise \"m\" (%a, %sb) {op=\"mul\"}\n"
      "%g: bool[2,3,16] = elementwise \"g\" (%m, %x) {op=\"gt\"}\n"
      "%o: bool[2,3,16] = elementwise \"o\" (%g, %k) {op=\"logical_or\"}\n"
      "%f: float32[2,3,16] = cast \"f\" (%m) {dtype=\"float32\"}\n"
      "output %m\noutput %o\noutput %f\n");
  codegen::PointwiseLayout l = codegen::pointwise_layout(p);
  ASSERT_EQ(codegen::pointwise_vector_width(p, l), 4);
  std::string src = codegen::pointwise_source(p, l);
  EXPECT_NE(src.find(codegen::kPointwiseVectorKernelName), std::string::npos);
  EXPECT_NE(src.find("uint4"), std::string::npos);  // the float32 output: 4 x 4 bytes
  EXPECT_GT(codegen::compile_cubin(src, 90).size(), 1000u);
  ::unsetenv("TENSORFORGE_KERNEL_CACHE");
}

TEST(Codegen, ConcatsAreReadInPlaceAndCompileWithNvrtc) {
  // NCHW channels: the concat's axis keeps its own dim (H and W merge, C does not join them); the
  // pieces are told apart by the coordinate along it, each read at its offset shifted back.
  ::setenv("TENSORFORGE_KERNEL_CACHE", "off", 1);
  ir::PwProgram p = ir::compile_pointwise_body(
      "input %a: float16[2,3,4,5]\ninput %b: float16[2,2,4,5]\n"
      "%c: float16[2,5,4,5] = concat \"c\" (%a, %b) {axis=1}\n"
      "%r: float16[2,5,4,5] = activation \"r\" (%c) {op=\"relu\"}\noutput %r\n");
  codegen::PointwiseLayout l = codegen::pointwise_layout(p);
  EXPECT_EQ(l.shape, (std::vector<int64_t>{2, 5, 20}));
  EXPECT_EQ(l.concat_dim, (std::vector<int>{1}));
  EXPECT_EQ(l.strides[1], (std::vector<int64_t>{40, 20, 1}));  // b's own strides
  EXPECT_EQ(codegen::pointwise_vector_width(p, l), 1);
  std::string src = codegen::pointwise_source(p, l);
  EXPECT_NE(src.find("ax0 < 3 ?"), std::string::npos) << src;
  EXPECT_NE(src.find("o1 - 60"), std::string::npos) << src;  // b starts at channel 3: 3 * 20
  EXPECT_GT(codegen::compile_cubin(src, 90).size(), 1000u);
  ::unsetenv("TENSORFORGE_KERNEL_CACHE");
}

TEST(Codegen, EveryFormulaCompilesWithNvrtcInEveryDtype) {
  ::setenv("TENSORFORGE_KERNEL_CACHE", "off", 1);
  for (const char* dt : {"float32", "float16", "bfloat16"}) {
    ir::PwProgram p = ir::compile_pointwise_body(every_formula_body(dt));
    std::string src = codegen::pointwise_source(p, codegen::pointwise_layout(p));
    std::vector<char> cubin = codegen::compile_cubin(src, 90);
    EXPECT_GT(cubin.size(), 1000u) << dt;
  }
  ::unsetenv("TENSORFORGE_KERNEL_CACHE");
}

TEST(Codegen, KernelCacheServesFromMemoryThenDiskAndSurvivesDamage) {
  std::string dir = ::testing::TempDir() + "tf_kernel_cache";
  std::filesystem::remove_all(dir);
  ::setenv("TENSORFORGE_KERNEL_CACHE", dir.c_str(), 1);
  ir::PwProgram p = ir::compile_pointwise_body(
      "input %x: float32[7]\n%e: float32[7] = unary \"e\" (%x) {op=\"exp\"}\n"
      "%r: float32[7] = activation \"r\" (%e) {op=\"relu\"}\noutput %r\n");
  std::string src = codegen::pointwise_source(p, codegen::pointwise_layout(p));
  codegen::CompileStats s0 = codegen::compile_stats();
  std::vector<char> first = codegen::compile_cubin(src, 90);
  std::vector<char> again = codegen::compile_cubin(src, 90);
  codegen::clear_memory_cache();
  std::vector<char> from_disk = codegen::compile_cubin(src, 90);
  codegen::CompileStats s1 = codegen::compile_stats();
  EXPECT_EQ(s1.compiled - s0.compiled, 1);
  EXPECT_EQ(s1.memory_hits - s0.memory_hits, 1);
  EXPECT_EQ(s1.disk_hits - s0.disk_hits, 1);
  EXPECT_EQ(first, again);
  EXPECT_EQ(first, from_disk);
  // Damage every cache file: the next build compiles again and rewrites it.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << "TFKERNEL garbage";
    ++files;
  }
  EXPECT_EQ(files, 1);
  codegen::clear_memory_cache();
  EXPECT_EQ(codegen::compile_cubin(src, 90), first);
  EXPECT_EQ(codegen::compile_stats().compiled - s1.compiled, 1);
  ::unsetenv("TENSORFORGE_KERNEL_CACHE");
}

TEST(Codegen, CompileErrorsCarryNvrtcsLog) {
  ::setenv("TENSORFORGE_KERNEL_CACHE", "off", 1);
  expect_error([] { codegen::compile_cubin("extern \"C\" __global__ void k() { undefined_thing(); }", 90); },
               ErrorCode::kRuntime, {"NVRTC could not compile", "undefined_thing"});
  ::unsetenv("TENSORFORGE_KERNEL_CACHE");
}


TEST(DiskCache, EntriesComeBackOnlyWhole) {
  const std::string dir = ::testing::TempDir() + "tf_disk_cache";
  std::filesystem::remove_all(dir);
  const std::string key = "a key\nwith lines", file = codegen::cache_file(dir, key, ".bin");
  EXPECT_EQ(codegen::cache_file("", key, ".bin"), "");
  EXPECT_NE(file, codegen::cache_file(dir, key + "!", ".bin"));
  std::vector<char> payload = {'p', 0, 'q', 1, 2, 3}, got;
  EXPECT_FALSE(codegen::read_entry(file, key, got));  // absent
  codegen::write_entry(dir, file, key, payload);
  ASSERT_TRUE(codegen::read_entry(file, key, got));
  EXPECT_EQ(got, payload);
  EXPECT_FALSE(codegen::read_entry(file, key + "!", got));  // another key in the file
  EXPECT_TRUE(got.empty());
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (size_t cut : {size_t(3), bytes.size() / 2, bytes.size() - 1}) {  // truncated anywhere
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes.substr(0, cut);
    EXPECT_FALSE(codegen::read_entry(file, key, got)) << cut;
  }
  std::string flipped = bytes;
  flipped[bytes.size() - 10] ^= 0x40;  // a payload byte: the checksum no longer matches
  std::ofstream(file, std::ios::binary | std::ios::trunc) << flipped;
  EXPECT_FALSE(codegen::read_entry(file, key, got));
  std::filesystem::remove_all(dir);
}

TEST(DiskCache, ConcurrentWritersLeaveOneWholeEntry) {
  const std::string dir = ::testing::TempDir() + "tf_disk_cache_threads";
  std::filesystem::remove_all(dir);
  const std::string key = "shared key", file = codegen::cache_file(dir, key, ".bin");
  std::vector<std::thread> writers;
  std::atomic<int> torn{0};
  for (int t = 0; t < 8; ++t)
    writers.emplace_back([&, t] {
      std::vector<char> mine(4096 + t, static_cast<char>('a' + t)), got;
      for (int round = 0; round < 20; ++round) {
        codegen::write_entry(dir, file, key, mine);
        if (codegen::read_entry(file, key, got)) {  // whichever writer won, its whole payload
          const char c = got.front();
          if (got.size() != 4096u + static_cast<size_t>(c - 'a') ||
              std::count(got.begin(), got.end(), c) != static_cast<std::ptrdiff_t>(got.size()))
            ++torn;
        }
      }
    });
  for (auto& w : writers) w.join();
  EXPECT_EQ(torn.load(), 0);
  std::vector<char> got;
  EXPECT_TRUE(codegen::read_entry(file, key, got));
  int leftovers = 0;  // no temporary file stays behind
  for (const auto& e : std::filesystem::directory_iterator(dir)) leftovers += e.path().string() != file;
  EXPECT_EQ(leftovers, 0);
  std::filesystem::remove_all(dir);
}

TEST(ChoiceStore, ChoicesRoundTripOnDiskAndDamageReadsAsAMiss) {
  const cuda::IndexedChoice c{2, 8, "00ff10ab", "cuBLASLt algorithm 3 of the heuristic's 8 (timed: 0.01 ms)"};
  const std::string text = cuda::encode_choice(c);
  cuda::IndexedChoice back;
  ASSERT_TRUE(cuda::decode_choice(text, back));
  EXPECT_EQ(back.index, 2u);
  EXPECT_EQ(back.count, 8u);
  EXPECT_EQ(back.id, c.id);
  EXPECT_EQ(back.why, c.why);
  for (size_t cut = 0; cut < text.find('\n') + 1; ++cut)  // any cut before the why line
    EXPECT_FALSE(cuda::decode_choice(text.substr(0, cut), back)) << cut;
  for (const char* bad : {"8 8 00ff\nwhy", "-1 8 00ff\nwhy", "1 8 \nwhy", "1 8 00 ff\nwhy", "1000 2000 00\nwhy",
                          "x 8 00\nwhy", "1 8 00\nwhy\nmore"})
    EXPECT_FALSE(cuda::decode_choice(bad, back)) << bad;

  const std::string dir = ::testing::TempDir() + "tf_choice_store";
  std::filesystem::remove_all(dir);
  std::string got;
  EXPECT_FALSE(cuda::load_choice(dir, "kind", "key", got));
  cuda::store_choice(dir, "kind", "key", text);
  ASSERT_TRUE(cuda::load_choice(dir, "kind", "key", got));
  EXPECT_EQ(got, text);
  EXPECT_FALSE(cuda::load_choice(dir, "other kind", "key", got));  // kinds are apart
  EXPECT_FALSE(cuda::load_choice(dir, "kind", "other key", got));
  EXPECT_FALSE(cuda::load_choice("", "kind", "key", got));  // caching off
  cuda::store_choice("", "kind", "key", text);              // nothing happens
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {  // a damaged entry is a miss
    std::filesystem::resize_file(entry.path(), std::filesystem::file_size(entry.path()) - 3);
  }
  EXPECT_FALSE(cuda::load_choice(dir, "kind", "key", got));
  EXPECT_EQ(cuda::timing_cache_folder("/some/folder"), "/some/folder");
  std::filesystem::remove_all(dir);
}

TEST(ConvPlanStore, TextFormRoundTripsAndRejectsDamage) {
  cuda::StoredConvPlans p;
  p.main = {false, false, true, true, false, 16, std::string("{\"json\": 1}\0", 12)};
  p.has_loose = true;
  p.loose = {false, false, false, true, false, 2, "{\"loose\": [1, 2]}"};
  const std::string text = cuda::encode_plans(p);
  cuda::StoredConvPlans back;
  ASSERT_TRUE(cuda::decode_plans(text, back));
  EXPECT_EQ(back.main.json, p.main.json);
  EXPECT_TRUE(back.main.fused && back.main.nhwc && !back.main.staged && !back.main.direct);
  EXPECT_EQ(back.main.align, 16);
  EXPECT_TRUE(back.has_loose);
  EXPECT_EQ(back.loose.json, p.loose.json);
  EXPECT_EQ(back.loose.align, 2);
  cuda::StoredConvPlans direct;
  direct.main.direct = true;
  ASSERT_TRUE(cuda::decode_plans(cuda::encode_plans(direct), back));
  EXPECT_TRUE(back.main.direct && !back.has_loose && back.main.json.empty());
  cuda::StoredConvPlans gemm;
  gemm.main.gemm = true;
  ASSERT_TRUE(cuda::decode_plans(cuda::encode_plans(gemm), back));
  EXPECT_TRUE(back.main.gemm && !back.main.direct);
  cuda::StoredConvPlans both = gemm;
  both.main.direct = true;  // one of ours or the other, never both
  EXPECT_FALSE(cuda::decode_plans(cuda::encode_plans(both), back));
  for (size_t cut = 0; cut < text.size(); ++cut) EXPECT_FALSE(cuda::decode_plans(text.substr(0, cut), back)) << cut;
  EXPECT_FALSE(cuda::decode_plans(text + "x", back));
  std::string bad_flag = text;
  bad_flag[bad_flag.find('\n', bad_flag.find('\n') + 1) + 1] = '7';  // the main plan's "direct" flag
  EXPECT_FALSE(cuda::decode_plans(bad_flag, back));
  cuda::StoredConvPlans no_json;  // a cuDNN plan without its JSON is malformed
  EXPECT_FALSE(cuda::decode_plans(cuda::encode_plans(no_json), back));
}
#endif  // TENSORFORGE_WITH_CUDA

}  // namespace
}  // namespace tft
