// Golden tests of the optimizer: network text in, the pass, expected network text out (both
// normalized through the parser and printer, so attribute defaults and ordering need not be
// spelled out); each also runs both graphs on the CPU kernels and compares outputs. Plus the text
// parser itself: round trips, and errors that name the line.
#include "ir/parser.h"

#include "golden_util.h"
#include "ir/printer.h"
#include "opt/cancel_transposes.h"
#include "opt/causal_masks.h"
#include "opt/channels_last.h"
#include "opt/compose_views.h"
#include "opt/constant_memo.h"
#include "opt/eliminate_dead_layers.h"
#include "opt/fold_attention_views.h"
#include "opt/batch_norm_to_affine.h"
#include "opt/fold_batch_norm.h"
#include "opt/fold_channel_scales.h"
#include "opt/fold_matmul_broadcasts.h"
#include "opt/fold_pads.h"
#include "opt/fold_transposes.h"
#include "opt/fuse_epilogues.h"
#include "opt/fuse_pointwise.h"
#include "opt/fuse_reduce_prologue.h"
#include "opt/merge_parallel_matmuls.h"
#include "opt/merge_sibling_copies.h"
#include "opt/move_activation_into_quantize.h"
#include "opt/move_row_transposes.h"
#include "opt/pass.h"
#include "opt/recognize_rms_norm.h"
#include "opt/rebuild.h"
#include "opt/recognize_attention.h"
#include "opt/recognize_rotate_half.h"
#include "opt/remove_identities.h"
#include "opt/share_attention_masks.h"
#include "runtime/engine_impl.h"
#include "test_util.h"

#include <filesystem>
#include <fstream>
#include <set>

namespace tft {
namespace {

// `before` and `after` give the same first output on the CPU kernels, within `tol`.
void expect_same_output(const ir::Graph& before, const ir::Graph& after, double tol, const std::string& what) {
  std::vector<HostTensor> in = random_inputs(before);
  std::vector<HostTensor> want = run_graph(before, in), got = run_graph(after, in);
  expect_close(got[0], want[0].dims, want[0].values(), tol, what);
}

// `g` through every pass of the CUDA pipeline at the default level.
ir::Graph cuda_pipeline(const ir::Graph& g) {
  BuilderConfig cuda;
  cuda.device = DeviceKind::kCUDA;
  return opt::optimize(g, cuda, {});
}

// How many layers of `kind` `g` has.
int count_layers(const ir::Graph& g, LayerKind kind) {
  int n = 0;
  for (const ir::Layer& l : g.layers) n += l.kind == kind;
  return n;
}

TEST(Parser, RoundTripsEveryCorpusStyleNetwork) {
  const std::string text =
      "input %x: float32[1,2,4,4]\n"
      "input %idx: int64[3]\n"
      "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
      "%c: float32[1,3,4,4] = convolution \"c\" (%x, %w, none) {activation=\"relu\", dilation=[], groups=1, "
      "padding=[1, 1], stride=[]}\n"
      "%r: float32[1,48] = reshape \"r\" (%c) {shape=[1, -1]}\n"
      "%g: float32[1,3] = gather \"g\" (%r, %idx) {axis=1, mode=\"take\"}\n"
      "%t:0: float32[1,2], %t:1: int64[1,2] = topk \"t\" (%g) {axis=-1, k=2, largest=1, sorted=1}\n"
      "%s: float32[1,3] = activation \"s\" (%g) {alpha=0.5, beta=-inf, op=\"leaky_relu\"}\n"
      "output %t:0\n"
      "output %t:1\n"
      "output %s\n";
  ir::Graph g = ir::parse_text(text);
  EXPECT_EQ(g.layers.size(), 6u);
  EXPECT_EQ(ir::to_text(ir::parse_text(ir::to_text(g))), ir::to_text(g));
  EXPECT_EQ(g.tensors[g.outputs[2]].name, "s");
  EXPECT_EQ(ir::attr_float(g.layers[5], "alpha"), 0.5);
}

TEST(Parser, KeepsSmallWeightsExactly) {
  ir::Graph g = ir::parse_text(
      "%k: int64[3] = constant \"k\" () {value=int64[3]{9007199254740993, -1, 2}}\n"
      "%h: float16[2] = constant \"h\" () {value=float16[2]{0.5, -inf}}\n"
      "output %k\noutput %h\n");
  EXPECT_NE(ir::to_text(g).find("int64[3]{9.00719925e+15, -1, 2}"), std::string::npos) << ir::to_text(g);
  const Weights& k = ir::attr_weights(g.layers[0], "value");
  EXPECT_EQ(static_cast<const int64_t*>(k.data())[0], 9007199254740993);
}

TEST(Parser, ErrorsNameTheLine) {
  expect_error([] { ir::parse_text("input %x: float32[2]\n%y: float32[3] = activation \"a\" (%x) {op=\"relu\"}\n"); },
               ErrorCode::kInvalidNetwork, {"line 2", "written float32[3]", "gives float32[2]"});
  expect_error([] { ir::parse_text("input %x: float32[2]\n%y: float32[2] = activation \"a\" (%z) {}\n"); },
               ErrorCode::kInvalidNetwork, {"line 2", "unknown tensor '%z'"});
  expect_error([] { ir::parse_text("input %x: float99[2]\n"); }, ErrorCode::kInvalidNetwork,
               {"line 1", "unknown dtype 'float99'"});
  expect_error([] { ir::parse_text("input %x: float32[2]\n%y: float32[2] = frobnicate \"a\" (%x)\n"); },
               ErrorCode::kInvalidNetwork, {"unknown layer kind 'frobnicate'"});
  expect_error([] { ir::parse_text("input %x: float32[2]\n%y: float32[2] = activation \"a\" (%x) {op=\"relu\"} junk\n"); },
               ErrorCode::kInvalidNetwork, {"unexpected text"});
  expect_error([] { ir::parse_text("input %x: float32[2]\n"); }, ErrorCode::kInvalidNetwork, {"no outputs"});
}

TEST(PassGolden, EliminateDeadLayers) {
  expect_golden(eliminate_dead_layers,
                "input %x: float32[2,3]\n"
                "input %unused: float32[4]\n"
                "%c: float32[3] = constant \"c\" () {value=float32[3]{1, 2, 3}}\n"
                "%a: float32[2,3] = elementwise \"a\" (%x, %c) {op=\"add\"}\n"
                "%dead: float32[2,3] = activation \"dead\" (%a) {op=\"relu\"}\n"
                "%dead2: float32[2] = reduce \"dead2\" (%dead) {axes=[1], op=\"sum\"}\n"
                "%e: float32[2,3] = unary \"e\" (%a) {op=\"exp\"}\n"
                "output %e\n",
                "input %x: float32[2,3]\n"
                "input %unused: float32[4]\n"
                "%c: float32[3] = constant \"c\" () {value=float32[3]{1, 2, 3}}\n"
                "%a: float32[2,3] = elementwise \"a\" (%x, %c) {op=\"add\"}\n"
                "%e: float32[2,3] = unary \"e\" (%a) {op=\"exp\"}\n"
                "output %e\n");
}

TEST(PassGolden, FoldBatchNorm) {
  // s = weight / sqrt(var + eps) = 2 (var 1, eps 0): W' = 2 W, b' = (b - mean) * 2 + bias.
  expect_golden(fold_batch_norm,
                "input %x: float32[1,1,3,3]\n"
                "%w: float32[2,1,1,1] = constant \"w\" () {value=float32[2,1,1,1]{1, -3}}\n"
                "%b: float32[2] = constant \"b\" () {value=float32[2]{0.5, 1}}\n"
                "%c: float32[1,2,3,3] = convolution \"c\" (%x, %w, %b) {}\n"
                "%m: float32[2] = constant \"m\" () {value=float32[2]{1, 2}}\n"
                "%v: float32[2] = constant \"v\" () {value=float32[2]{1, 1}}\n"
                "%g: float32[2] = constant \"g\" () {value=float32[2]{2, 2}}\n"
                "%be: float32[2] = constant \"be\" () {value=float32[2]{0.25, 0}}\n"
                "%bn: float32[1,2,3,3] = batch_norm \"bn\" (%c, %m, %v, %g, %be) {eps=0}\n"
                "%r: float32[1,2,3,3] = activation \"r\" (%bn) {op=\"relu\"}\n"
                "output %r\n",
                "input %x: float32[1,1,3,3]\n"
                "%w: float32[2,1,1,1] = constant \"w\" () {value=float32[2,1,1,1]{1, -3}}\n"
                "%b: float32[2] = constant \"b\" () {value=float32[2]{0.5, 1}}\n"
                "%m: float32[2] = constant \"m\" () {value=float32[2]{1, 2}}\n"
                "%v: float32[2] = constant \"v\" () {value=float32[2]{1, 1}}\n"
                "%g: float32[2] = constant \"g\" () {value=float32[2]{2, 2}}\n"
                "%be: float32[2] = constant \"be\" () {value=float32[2]{0.25, 0}}\n"
                "%c.folded_weight: float32[2,1,1,1] = constant \"c.folded_weight\" () {value=float32[2,1,1,1]{2, -6}}\n"
                "%c.folded_bias: float32[2] = constant \"c.folded_bias\" () {value=float32[2]{-0.75, -2}}\n"
                "%bn: float32[1,2,3,3] = convolution \"c\" (%x, %c.folded_weight, %c.folded_bias) {}\n"
                "%r: float32[1,2,3,3] = activation \"r\" (%bn) {op=\"relu\"}\n"
                "output %r\n");
}

TEST(PassGolden, BatchNormToAffine) {
  // scale = g / sqrt(v + eps) = {2, 0.5}, shift = be - m * scale = {-1.75, -1}; the batch norm with
  // a non-constant mean stays.
  expect_golden(batch_norm_to_affine,
                "input %x: float32[2,2,3]\n"
                "input %mv: float32[2]\n"
                "%m: float32[2] = constant \"m\" () {value=float32[2]{1, 2}}\n"
                "%v: float32[2] = constant \"v\" () {value=float32[2]{1, 16}}\n"
                "%g: float32[2] = constant \"g\" () {value=float32[2]{2, 2}}\n"
                "%be: float32[2] = constant \"be\" () {value=float32[2]{0.25, 0}}\n"
                "%bn: float32[2,2,3] = batch_norm \"bn\" (%x, %m, %v, %g, %be) {eps=0}\n"
                "%r: float32[2,2,3] = activation \"r\" (%bn) {op=\"relu\"}\n"
                "%bn2: float32[2,2,3] = batch_norm \"bn2\" (%r, %mv, %v) {eps=0.5}\n"
                "output %bn2\n",
                "input %x: float32[2,2,3]\n"
                "input %mv: float32[2]\n"
                "%m: float32[2] = constant \"m\" () {value=float32[2]{1, 2}}\n"
                "%v: float32[2] = constant \"v\" () {value=float32[2]{1, 16}}\n"
                "%g: float32[2] = constant \"g\" () {value=float32[2]{2, 2}}\n"
                "%be: float32[2] = constant \"be\" () {value=float32[2]{0.25, 0}}\n"
                "%bn.scale: float32[1,2,1] = constant \"bn.scale\" () {value=float32[1,2,1]{2, 0.5}}\n"
                "%bn.shift: float32[1,2,1] = constant \"bn.shift\" () {value=float32[1,2,1]{-1.75, -1}}\n"
                "%bn.mul: float32[2,2,3] = elementwise \"bn.mul\" (%x, %bn.scale) {op=\"mul\"}\n"
                "%bn: float32[2,2,3] = elementwise \"bn\" (%bn.mul, %bn.shift) {op=\"add\"}\n"
                "%r: float32[2,2,3] = activation \"r\" (%bn) {op=\"relu\"}\n"
                "%bn2: float32[2,2,3] = batch_norm \"bn2\" (%r, %mv, %v) {eps=0.5}\n"
                "output %bn2\n");
}

TEST(PassGolden, FoldPadsIntoTheConvolution) {
  // An even (1, 1) x (2, 2) zero pad joins the convolution's padding; the pad is left for its other
  // reader. An uneven pad, a pad of the channels and a reflect pad stay as they are.
  expect_golden(fold_pads,
                "input %x: float32[1,2,5,6]\n"
                "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                "%p: float32[1,2,7,10] = pad \"p\" (%x) {pads=[0, 0, 1, 2, 0, 0, 1, 2]}\n"
                "%c: float32[1,3,5,8] = convolution \"c\" (%p, %w, none) {padding=[0, 0]}\n"
                "%e: float32[1,2,7,10] = unary \"e\" (%p) {op=\"exp\"}\n"
                "%u: float32[1,2,6,7] = pad \"u\" (%x) {pads=[0, 0, 0, 0, 0, 0, 1, 1]}\n"
                "%cu: float32[1,3,2,3] = convolution \"cu\" (%u, %w, none) {stride=[2, 2]}\n"
                "%r: float32[1,2,7,8] = pad \"r\" (%x) {pads=[0, 0, 1, 1, 0, 0, 1, 1], mode=\"reflect\"}\n"
                "%cr: float32[1,3,5,6] = convolution \"cr\" (%r, %w, none) {}\n"
                "output %c\noutput %e\noutput %cu\noutput %cr\n",
                "input %x: float32[1,2,5,6]\n"
                "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                "%p: float32[1,2,7,10] = pad \"p\" (%x) {pads=[0, 0, 1, 2, 0, 0, 1, 2]}\n"
                "%c: float32[1,3,5,8] = convolution \"c\" (%x, %w, none) {padding=[1, 2]}\n"
                "%e: float32[1,2,7,10] = unary \"e\" (%p) {op=\"exp\"}\n"
                "%u: float32[1,2,6,7] = pad \"u\" (%x) {pads=[0, 0, 0, 0, 0, 0, 1, 1]}\n"
                "%cu: float32[1,3,2,3] = convolution \"cu\" (%u, %w, none) {stride=[2, 2]}\n"
                "%r: float32[1,2,7,8] = pad \"r\" (%x) {pads=[0, 0, 1, 1, 0, 0, 1, 1], mode=\"reflect\"}\n"
                "%cr: float32[1,3,5,6] = convolution \"cr\" (%r, %w, none) {}\n"
                "output %c\noutput %e\noutput %cu\noutput %cr\n");
}

TEST(PassGolden, FoldTransposesIntoMatMulFlags) {
  // q @ k^T with k^T a transpose of the last two dims: the flag flips (also when already set), the
  // transpose stays for its other reader; a transpose that moves a batch dim is not folded.
  expect_golden(fold_transposes,
                "input %q: float32[2,3,4,5]\n"
                "input %k: float32[2,3,6,5]\n"
                "input %v: float32[2,3,6,4]\n"
                "input %w: float32[3,2,6,4]\n"
                "%kt: float32[2,3,5,6] = transpose \"kt\" (%k) {perm=[0, 1, 3, 2]}\n"
                "%s: float32[2,3,4,6] = matmul \"s\" (%q, %kt) {}\n"
                "%vt: float32[2,3,4,6] = transpose \"vt\" (%v) {perm=[0, 1, 3, 2]}\n"
                "%o: float32[2,3,4,4] = matmul \"o\" (%s, %vt) {transpose_b=1}\n"
                "%b: float32[3,2,4,6] = transpose \"b\" (%s) {perm=[1, 0, 2, 3]}\n"
                "%z: float32[3,2,4,4] = matmul \"z\" (%b, %w) {}\n"
                "%e: float32[2,3,5,6] = unary \"e\" (%kt) {op=\"exp\"}\n"
                "output %o\noutput %z\noutput %e\n",
                "input %q: float32[2,3,4,5]\n"
                "input %k: float32[2,3,6,5]\n"
                "input %v: float32[2,3,6,4]\n"
                "input %w: float32[3,2,6,4]\n"
                "%kt: float32[2,3,5,6] = transpose \"kt\" (%k) {perm=[0, 1, 3, 2]}\n"
                "%s: float32[2,3,4,6] = matmul \"s\" (%q, %k) {transpose_b=1}\n"
                "%vt: float32[2,3,4,6] = transpose \"vt\" (%v) {perm=[0, 1, 3, 2]}\n"
                "%o: float32[2,3,4,4] = matmul \"o\" (%s, %v) {}\n"
                "%b: float32[3,2,4,6] = transpose \"b\" (%s) {perm=[1, 0, 2, 3]}\n"
                "%z: float32[3,2,4,4] = matmul \"z\" (%b, %w) {}\n"
                "%e: float32[2,3,5,6] = unary \"e\" (%kt) {op=\"exp\"}\n"
                "output %o\noutput %z\noutput %e\n");
}

TEST(PassGolden, FuseReducePrologueReadsThePredicateInTheReduction) {
  // isinf(z).any(-1) fuses (rows 0 and 2 of the constant hold an infinity); isnan(z) has a second
  // reader and stays; not(z).all() of a network output stays too; a sum of a predicate's cast is
  // not an any/all and stays.
  expect_golden(fuse_reduce_prologue,
                "input %x: float16[2,3,4]\n"
                "%c: float16[3,4] = constant \"c\" () {value=float16[3,4]{0, inf, 0, 0, 0, 0, 0, 0, -inf, 0, 0, 0}}\n"
                "%z: float16[2,3,4] = elementwise \"z\" (%x, %c) {op=\"add\"}\n"
                "%i: bool[2,3,4] = unary \"i\" (%z) {op=\"isinf\"}\n"
                "%a: bool[2,3] = reduce \"a\" (%i) {op=\"any\", axes=[-1]}\n"
                "%n: bool[2,3,4] = unary \"n\" (%z) {op=\"isnan\"}\n"
                "%b: bool[] = reduce \"b\" (%n) {op=\"any\"}\n"
                "%o: bool[2,3,4] = unary \"o\" (%z) {op=\"not\"}\n"
                "%d: bool[] = reduce \"d\" (%o) {op=\"all\"}\n"
                "output %a\noutput %b\noutput %n\noutput %d\noutput %o\n",
                "input %x: float16[2,3,4]\n"
                "%c: float16[3,4] = constant \"c\" () {value=float16[3,4]{0, inf, 0, 0, 0, 0, 0, 0, -inf, 0, 0, 0}}\n"
                "%z: float16[2,3,4] = elementwise \"z\" (%x, %c) {op=\"add\"}\n"
                "%a: bool[2,3] = reduce \"a\" (%z) {op=\"any\", axes=[-1], prologue=\"isinf\"}\n"
                "%n: bool[2,3,4] = unary \"n\" (%z) {op=\"isnan\"}\n"
                "%b: bool[] = reduce \"b\" (%n) {op=\"any\"}\n"
                "%o: bool[2,3,4] = unary \"o\" (%z) {op=\"not\"}\n"
                "%d: bool[] = reduce \"d\" (%o) {op=\"all\"}\n"
                "output %a\noutput %b\noutput %n\noutput %d\noutput %o\n");
  // The fused reduce gives what the two layers gave: rows 0 and 2 true, row 1 false, per batch.
  ir::Graph g = fuse_reduce_prologue(ir::parse_text(
      "input %x: float32[2,3]\n"
      "%c: float32[2,3] = constant \"c\" () {value=float32[2,3]{0, inf, 0, 0, 0, 0}}\n"
      "%z: float32[2,3] = elementwise \"z\" (%x, %c) {op=\"add\"}\n"
      "%i: bool[2,3] = unary \"i\" (%z) {op=\"isinf\"}\n"
      "%a: bool[2] = reduce \"a\" (%i) {op=\"any\", axes=[1]}\n"
      "output %a\n"));
  ASSERT_EQ(count_layers(g, LayerKind::kUnary), 0);
  std::vector<HostTensor> out = run_graph(g, random_inputs(g));
  expect_close(out[0], Dims{2}, {1.0, 0.0}, 0, "isinf(z).any(1)");
}

TEST(Inference, ReducePrologueIsCheckedAgainstItsOpAndDtype) {
  const std::pair<const char*, const char*> cases[] = {
      {"float32[4]", "float32[] = reduce \"r\" (%x) {op=\"sum\", prologue=\"isinf\"}"},
      {"float32[4]", "bool[] = reduce \"r\" (%x) {op=\"any\", prologue=\"exp\"}"},
      {"int32[4]", "bool[] = reduce \"r\" (%x) {op=\"any\", prologue=\"isnan\"}"},
  };
  for (const auto& [input, layer] : cases) {
    const std::string text = std::string("input %x: ") + input + "\n%r: " + layer + "\noutput %r\n";
    try {
      ir::parse_text(text);
      ADD_FAILURE() << "accepted: " << layer;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("prologue"), std::string::npos) << e.what();
    }
  }
}

// The head split of nn.MultiheadAttention as ATen writes it: the in-projection's [L, N, 3E] output
// (here the input %x: L 3, N 2, E 8, 2 heads of 4) unflattened, moved, split by select and viewed as
// [N, H, L, D]; the merge transposes back. Every chain becomes a view of %x: q[n, h, l, d] =
// x[l, n, h * 4 + d] (strides 24, 4, 48, 1; k and v at offsets 8 and 16), and the attention writes
// the merge's output %p itself.
const char* const kMhaSplit =
    "input %x: float32[3,2,24]\n"
    "%v2: float32[3,2,3,8] = reshape \"v2\" (%x) {shape=[3, 2, 3, 8]}\n"
    "%u: float32[1,3,2,3,8] = reshape \"u\" (%v2) {shape=[1, 3, 2, 3, 8]}\n"
    "%t1: float32[3,3,2,1,8] = transpose \"t1\" (%u) {perm=[3, 1, 2, 0, 4]}\n"
    "%sq: float32[3,3,2,8] = reshape \"sq\" (%t1) {shape=[3, 3, 2, 8]}\n"
    "%s0: float32[1,3,2,8] = slice \"s0\" (%sq) {axes=[0], starts=[0], ends=[1]}\n"
    "%s1: float32[1,3,2,8] = slice \"s1\" (%sq) {axes=[0], starts=[1], ends=[2]}\n"
    "%s2: float32[1,3,2,8] = slice \"s2\" (%sq) {axes=[0], starts=[2], ends=[3]}\n"
    "%q3: float32[3,4,4] = reshape \"q3\" (%s0) {shape=[3, 4, 4]}\n"
    "%k3: float32[3,4,4] = reshape \"k3\" (%s1) {shape=[3, 4, 4]}\n"
    "%w3: float32[3,4,4] = reshape \"w3\" (%s2) {shape=[3, 4, 4]}\n"
    "%qt: float32[4,3,4] = transpose \"qt\" (%q3) {perm=[1, 0, 2]}\n"
    "%kt: float32[4,3,4] = transpose \"kt\" (%k3) {perm=[1, 0, 2]}\n"
    "%wt: float32[4,3,4] = transpose \"wt\" (%w3) {perm=[1, 0, 2]}\n"
    "%q: float32[2,2,3,4] = reshape \"q\" (%qt) {shape=[2, 2, 3, 4]}\n"
    "%k: float32[2,2,3,4] = reshape \"k\" (%kt) {shape=[2, 2, 3, 4]}\n"
    "%w: float32[2,2,3,4] = reshape \"w\" (%wt) {shape=[2, 2, 3, 4]}\n";

TEST(PassGolden, FoldAttentionViewsReadsTheHeadSplitOfMultiHeadAttentionInPlace) {
  const std::string head = kMhaSplit;
  expect_golden(fold_attention_views,
                head +
                    "%a: float32[2,2,3,4] = attention \"a\" (%q, %k, %w, none) {}\n"
                    "%p: float32[3,2,2,4] = transpose \"p\" (%a) {perm=[2, 0, 1, 3]}\n"
                    "%o: float32[6,8] = reshape \"o\" (%p) {shape=[6, 8]}\n"
                    "output %o\n",
                head +
                    "%p: float32[3,2,2,4] = attention \"a\" (%x, %x, %x, none) {"
                    "q_view=[2, 2, 3, 4, 24, 4, 48, 1, 0], k_view=[2, 2, 3, 4, 24, 4, 48, 1, 8], "
                    "v_view=[2, 2, 3, 4, 24, 4, 48, 1, 16], out_perm=[2, 0, 1, 3]}\n"
                    "%o: float32[6,8] = reshape \"o\" (%p) {shape=[6, 8]}\n"
                    "output %o\n");
}

TEST(PassGolden, FoldAttentionViewsReadsASplitWithGroupedKeyHeadsInFloat16) {
  // GPT-2's split of [N, L, ...] into q (2 heads of 4), and here one key/value head (grouped-query
  // attention); %kt is also a network output, so its chain stays for that reader. The key's head dim
  // has extent 1: it gets the stride a packed tensor would give it (5 * 16).
  const std::string head =
      "input %x: float16[2,5,16]\n"
      "%sp:0: float16[2,5,8], %sp:1: float16[2,5,4], %sp:2: float16[2,5,4] = split \"sp\" (%x) "
      "{axis=2, sizes=[8, 4, 4]}\n"
      "%qr: float16[2,5,2,4] = reshape \"qr\" (%sp:0) {shape=[2, 5, 2, 4]}\n"
      "%kr: float16[2,5,1,4] = reshape \"kr\" (%sp:1) {shape=[2, 5, 1, 4]}\n"
      "%vr: float16[2,5,1,4] = reshape \"vr\" (%sp:2) {shape=[2, 5, 1, 4]}\n"
      "%qt: float16[2,2,5,4] = transpose \"qt\" (%qr) {perm=[0, 2, 1, 3]}\n"
      "%kt: float16[2,1,5,4] = transpose \"kt\" (%kr) {perm=[0, 2, 1, 3]}\n"
      "%vt: float16[2,1,5,4] = transpose \"vt\" (%vr) {perm=[0, 2, 1, 3]}\n";
  expect_golden(fold_attention_views,
                head +
                    "%a: float16[2,2,5,4] = attention \"a\" (%qt, %kt, %vt, none) {causal=1}\n"
                    "%m: float16[2,5,2,4] = transpose \"m\" (%a) {perm=[0, 2, 1, 3]}\n"
                    "%o: float16[2,5,8] = reshape \"o\" (%m) {shape=[2, 5, 8]}\n"
                    "output %o\noutput %kt\n",
                head +
                    "%m: float16[2,5,2,4] = attention \"a\" (%x, %x, %x, none) {causal=1, "
                    "q_view=[2, 2, 5, 4, 80, 4, 16, 1, 0], k_view=[2, 1, 5, 4, 80, 80, 16, 1, 8], "
                    "v_view=[2, 1, 5, 4, 80, 80, 16, 1, 12], out_perm=[0, 2, 1, 3]}\n"
                    "%o: float16[2,5,8] = reshape \"o\" (%m) {shape=[2, 5, 8]}\n"
                    "output %o\noutput %kt\n",
                1e-3);
}

TEST(PassGolden, FoldAttentionViewsWritesAHeadMergeBehindReshapes) {
  // Swin's window attention runs over [B, windows, heads]; its head merge is a transpose of the
  // [B * windows, heads, L, E] view. The attention writes [B, windows, L, heads, E] (the transpose
  // with the merged dim moving as its two) and one reshape gives the transpose's shape.
  expect_golden(fold_attention_views,
                "input %q: float32[2,2,2,3,8]\ninput %k: float32[2,2,2,3,8]\ninput %v: float32[2,2,2,3,8]\n"
                "%a: float32[2,2,2,3,8] = attention \"a\" (%q, %k, %v) {}\n"
                "%r: float32[4,2,3,8] = reshape \"r\" (%a) {shape=[4, 2, 3, 8]}\n"
                "%t: float32[4,3,2,8] = transpose \"t\" (%r) {perm=[0, 2, 1, 3]}\n"
                "output %t\n",
                "input %q: float32[2,2,2,3,8]\ninput %k: float32[2,2,2,3,8]\ninput %v: float32[2,2,2,3,8]\n"
                "%a: float32[2,2,3,2,8] = attention \"a\" (%q, %k, %v) {out_perm=[0, 1, 3, 2, 4]}\n"
                "%t: float32[4,3,2,8] = reshape \"t\" (%a) {shape=[4, 3, 2, 8]}\n"
                "output %t\n");
}

TEST(PassGolden, FoldAttentionViewsLeavesWhatStridesCannotRead) {
  // A key transposed over its last dim (no unit stride), a value that is a plain reshape (free
  // already), an output with two readers: nothing changes.
  const std::string text =
      "input %x: float32[2,2,4,3]\n"
      "input %y: float32[2,2,3,4]\n"
      "input %z: float32[4,3,4]\n"
      "%kt: float32[2,2,3,4] = transpose \"kt\" (%x) {perm=[0, 1, 3, 2]}\n"
      "%v: float32[2,2,3,4] = reshape \"v\" (%z) {shape=[2, 2, 3, 4]}\n"
      "%a: float32[2,2,3,4] = attention \"a\" (%y, %kt, %v, none) {}\n"
      "%p: float32[2,3,2,4] = transpose \"p\" (%a) {perm=[0, 2, 1, 3]}\n"
      "%e: float32[2,2,3,4] = unary \"e\" (%a) {op=\"exp\"}\n"
      "output %p\noutput %e\n";
  expect_golden(fold_attention_views, text, text);
}

// BERT's self-attention input: three linear layers over one activation (each through its own view
// to [N * L, E]), each + bias, split into 2 heads of 2 and read by one attention.
const std::string kProjectionWeights =
    "%wq: float32[4,4] = constant \"wq\" () {value=float32[4,4]{-0.25, -0.5, 0.5, 1, -0.75, -1, 1, 0.25, "
    "-0.25, -0.25, 1, 1, 0.75, -0.5, -0.25, -0.5}}\n"
    "%bq: float32[4] = constant \"bq\" () {value=float32[4]{0.75, -1, -0.75, -0.5}}\n"
    "%wk: float32[4,4] = constant \"wk\" () {value=float32[4,4]{-1, 0.25, -1, 0.25, 1, 0.75, 0.75, 0.75, "
    "1, -0.5, 0.5, -0.75, -1, -0.5, 1, -0.25}}\n"
    "%bk: float32[4] = constant \"bk\" () {value=float32[4]{0.25, 0.75, 0.25, 0.75}}\n"
    "%wv: float32[4,4] = constant \"wv\" () {value=float32[4,4]{0.75, 0.5, 0.75, -0.25, 0.5, -1, 0.25, -0.5, "
    "0.5, -0.75, -0.25, 0.25, 0.25, -0.75, -0.75, 1}}\n"
    "%bv: float32[4] = constant \"bv\" () {value=float32[4]{1, -0.75, 0.5, -0.75}}\n";
// The head split of %qb, %kb and %vb ([6, 4] each) and the attention reading it.
const std::string kProjectionHeads =
    "%qr: float32[2,3,2,2] = reshape \"qr\" (%qb) {shape=[2, 3, 2, 2]}\n"
    "%qt: float32[2,2,3,2] = transpose \"qt\" (%qr) {perm=[0, 2, 1, 3]}\n"
    "%kr: float32[2,3,2,2] = reshape \"kr\" (%kb) {shape=[2, 3, 2, 2]}\n"
    "%kt: float32[2,2,3,2] = transpose \"kt\" (%kr) {perm=[0, 2, 1, 3]}\n"
    "%vr: float32[2,3,2,2] = reshape \"vr\" (%vb) {shape=[2, 3, 2, 2]}\n"
    "%vt: float32[2,2,3,2] = transpose \"vt\" (%vr) {perm=[0, 2, 1, 3]}\n"
    "%a: float32[2,2,3,2] = attention \"a\" (%qt, %kt, %vt, none) {}\n"
    "output %a\n";
const std::string kSeparateProjections =
    "input %x: float32[2,3,4]\n" + kProjectionWeights +
    "%x1: float32[6,4] = reshape \"x1\" (%x) {shape=[6, 4]}\n"
    "%q: float32[6,4] = matmul \"q\" (%x1, %wq) {transpose_b=1}\n"
    "%qb: float32[6,4] = elementwise \"qb\" (%q, %bq) {op=\"add\"}\n"
    "%x2: float32[6,4] = reshape \"x2\" (%x) {shape=[6, 4]}\n"
    "%k: float32[6,4] = matmul \"k\" (%x2, %wk) {transpose_b=1}\n"
    "%kb: float32[6,4] = elementwise \"kb\" (%bk, %k) {op=\"add\"}\n"
    "%x3: float32[6,4] = reshape \"x3\" (%x) {shape=[6, 4]}\n"
    "%v: float32[6,4] = matmul \"v\" (%x3, %wv) {transpose_b=1}\n"
    "%vb: float32[6,4] = elementwise \"vb\" (%v, %bv) {op=\"add\"}\n" +
    kProjectionHeads;

TEST(PassGolden, MergeParallelMatMulsJoinsQueryKeyAndValueProjections) {
  // One matmul over the concatenated weights ([3 * 4, 4], transposed like each), one bias add of the
  // concatenated biases, one split giving q, k and v their places; the other views of %x stay for
  // eliminate_dead_layers.
  expect_golden(merge_parallel_matmuls, kSeparateProjections,
                "input %x: float32[2,3,4]\n" + kProjectionWeights +
                "%x1: float32[6,4] = reshape \"x1\" (%x) {shape=[6, 4]}\n"
                "%q.merged_weight: float32[12,4] = constant \"q.merged_weight\" () {value=float32[12,4]}\n"
                "%q.merged: float32[6,12] = matmul \"q.merged\" (%x1, %q.merged_weight) {transpose_b=1}\n"
                "%q.merged_bias: float32[12] = constant \"q.merged_bias\" () {value=float32[12]{0.75, -1, -0.75, "
                "-0.5, 0.25, 0.75, 0.25, 0.75, 1, -0.75, 0.5, -0.75}}\n"
                "%q.merged_bias_add: float32[6,12] = elementwise \"q.merged_bias_add\" (%q.merged, %q.merged_bias) "
                "{op=\"add\"}\n"
                "%qb: float32[6,4], %kb: float32[6,4], %vb: float32[6,4] = split \"q.merged_split\" "
                "(%q.merged_bias_add) {axis=1, sizes=[4, 4, 4]}\n"
                "%x2: float32[6,4] = reshape \"x2\" (%x) {shape=[6, 4]}\n"
                "%x3: float32[6,4] = reshape \"x3\" (%x) {shape=[6, 4]}\n" +
                    kProjectionHeads);
}

TEST(PassGolden, MergeParallelQuantizedMatMulsJoinsWeightOnlyProjections) {
  // Two weight-only products of one float16 row ([2, 8] and [3, 8] int8 weights, per-column scales,
  // no bias) become one over the weights and scales concatenated along N, and a split; a third with
  // a residual stays apart.
  const std::string inputs =  // unchanged by the pass
      "input %x: float16[1,8]\n"
      "input %r: float16[1,2]\n"
      "%w1: int8[2,8] = constant \"w1\" () {value=int8[2,8]}\n"
      "%s1: float32[2] = constant \"s1\" () {value=float32[2]{0.5, 0.25}}\n"
      "%w2: int8[3,8] = constant \"w2\" () {value=int8[3,8]}\n"
      "%s2: float32[3] = constant \"s2\" () {value=float32[3]{0.125, 1, 2}}\n";
  const std::string before =
      inputs +
      "%q1: float16[1,2] = quantized_matmul \"q1\" (%x, %w1, %s1, none) {dtype=\"float16\", transpose_b=1}\n"
      "%q2: float16[1,3] = quantized_matmul \"q2\" (%x, %w2, %s2, none) {dtype=\"float16\", transpose_b=1}\n"
      "%q3: float16[1,2] = quantized_matmul \"q3\" (%x, %w1, %s1, none, %r) {dtype=\"float16\", transpose_b=1}\n"
      "output %q1\noutput %q2\noutput %q3\n";
  expect_golden(merge_parallel_quantized_matmuls, before,
                inputs +
                "%q1.merged_weight: int8[5,8] = constant \"q1.merged_weight\" () {value=int8[5,8]}\n"
                "%q1.merged_scale: float32[5] = constant \"q1.merged_scale\" () "
                "{value=float32[5]{0.5, 0.25, 0.125, 1, 2}}\n"
                "%q1.merged: float16[1,5] = quantized_matmul \"q1.merged\" (%x, %q1.merged_weight, "
                "%q1.merged_scale, none) {dtype=\"float16\", transpose_b=1}\n"
                "%q1: float16[1,2], %q2: float16[1,3] = split \"q1.merged_split\" (%q1.merged) "
                "{axis=1, sizes=[2, 3]}\n"
                "%q3: float16[1,2] = quantized_matmul \"q3\" (%x, %w1, %s1, none, %r) "
                "{dtype=\"float16\", transpose_b=1}\n"
                "output %q1\noutput %q2\noutput %q3\n",
                2e-3);
}

TEST(PassGolden, MergeParallelQuantizedMatMulsLooksThroughEachLayersReshape) {
  // Each product views the [1, 1, 8] activation as [1, 8] itself: the views have one source and
  // shape, so the products merge, reading the first view (the other stays for eliminate_dead_layers).
  const std::string inputs =  // unchanged by the pass
      "input %x: float16[1,1,8]\n"
      "%w1: int8[2,8] = constant \"w1\" () {value=int8[2,8]}\n"
      "%s1: float32[2] = constant \"s1\" () {value=float32[2]{0.5, 0.25}}\n"
      "%w2: int8[2,8] = constant \"w2\" () {value=int8[2,8]}\n"
      "%s2: float32[2] = constant \"s2\" () {value=float32[2]{2, 4}}\n"
      "%r1: float16[1,8] = reshape \"r1\" (%x) {shape=[1, 8]}\n";
  const std::string before =
      inputs +
      "%q1: float16[1,2] = quantized_matmul \"q1\" (%r1, %w1, %s1, none) {dtype=\"float16\", transpose_b=1}\n"
      "%r2: float16[1,8] = reshape \"r2\" (%x) {shape=[1, 8]}\n"
      "%q2: float16[1,2] = quantized_matmul \"q2\" (%r2, %w2, %s2, none) {dtype=\"float16\", transpose_b=1}\n"
      "output %q1\noutput %q2\n";
  expect_golden(merge_parallel_quantized_matmuls, before,
                inputs +
                "%q1.merged_weight: int8[4,8] = constant \"q1.merged_weight\" () {value=int8[4,8]}\n"
                "%q1.merged_scale: float32[4] = constant \"q1.merged_scale\" () {value=float32[4]{0.5, 0.25, 2, 4}}\n"
                "%q1.merged: float16[1,4] = quantized_matmul \"q1.merged\" (%r1, %q1.merged_weight, "
                "%q1.merged_scale, none) {dtype=\"float16\", transpose_b=1}\n"
                "%q1: float16[1,2], %q2: float16[1,2] = split \"q1.merged_split\" (%q1.merged) "
                "{axis=1, sizes=[2, 2]}\n"
                "%r2: float16[1,8] = reshape \"r2\" (%x) {shape=[1, 8]}\n"
                "output %q1\noutput %q2\n",
                2e-3);
}

TEST(PassGolden, MergeParallelMatMulsKeepsCopiesSmallAndBiasesWhole) {
  // Row-major weights ([K, N], not transposed) concatenated row by row; one of the two has no bias,
  // so the bias add stays on its piece; the pieces are read by pointwise layers (the split copies),
  // which is merged only while the result is small: the [4096, 2 * 512] float32 pair (16 MB) stays.
  const std::string small =
      "input %x: float32[5,3]\n"
      "%w1: float32[3,4] = constant \"w1\" () {value=float32[3,4]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}\n"
      "%w2: float32[3,2] = constant \"w2\" () {value=float32[3,2]{-1, -2, -3, -4, -5, -6}}\n"
      "%b1: float32[4] = constant \"b1\" () {value=float32[4]{0.5, 0.25, 0, -1}}\n"
      "%m1: float32[5,4] = matmul \"m1\" (%x, %w1) {}\n"
      "%a1: float32[5,4] = elementwise \"a1\" (%m1, %b1) {op=\"add\"}\n"
      "%m2: float32[5,2] = matmul \"m2\" (%x, %w2) {}\n"
      "%s: float32[5,2] = activation \"s\" (%m2) {op=\"relu\"}\n"
      "output %a1\noutput %s\n";
  expect_golden(merge_parallel_matmuls, small,
                "input %x: float32[5,3]\n"
                "%w1: float32[3,4] = constant \"w1\" () {value=float32[3,4]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}\n"
                "%w2: float32[3,2] = constant \"w2\" () {value=float32[3,2]{-1, -2, -3, -4, -5, -6}}\n"
                "%b1: float32[4] = constant \"b1\" () {value=float32[4]{0.5, 0.25, 0, -1}}\n"
                "%m1.merged_weight: float32[3,6] = constant \"m1.merged_weight\" () {value=float32[3,6]}\n"
                "%m1.merged: float32[5,6] = matmul \"m1.merged\" (%x, %m1.merged_weight) {}\n"
                "%m1: float32[5,4], %m2: float32[5,2] = split \"m1.merged_split\" (%m1.merged) "
                "{axis=1, sizes=[4, 2]}\n"
                "%a1: float32[5,4] = elementwise \"a1\" (%m1, %b1) {op=\"add\"}\n"
                "%s: float32[5,2] = activation \"s\" (%m2) {op=\"relu\"}\n"
                "output %a1\noutput %s\n");
  const std::string large =
      "input %x: float32[4096,64]\n"
      "%w1: float32[64,512] = constant \"w1\" () {value=float32[64,512]}\n"
      "%w2: float32[64,512] = constant \"w2\" () {value=float32[64,512]}\n"
      "%m1: float32[4096,512] = matmul \"m1\" (%x, %w1) {}\n"
      "%m2: float32[4096,512] = matmul \"m2\" (%x, %w2) {}\n"
      "%p: float32[4096,512] = elementwise \"p\" (%m1, %m2) {op=\"mul\"}\n"
      "output %p\n";
  ir::Graph g = ir::parse_text(large);
  EXPECT_EQ(ir::to_text(merge_parallel_matmuls(g)), ir::to_text(g));
}

TEST(Pipeline, TheCUDAPipelineReadsMergedProjectionsThroughAttentionViews) {
  // After the merge, attention reads q, k and v through strides of the one product (as GPT-2's packed
  // projection): one matmul (bias folded in), no split, no copy; the CPU kernels agree.
  ir::Graph g = ir::parse_text(kSeparateProjections);
  ir::Graph out = cuda_pipeline(g);
  EXPECT_EQ(count_layers(out, LayerKind::kMatMul), 1) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kSplit), 0) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kTranspose), 0) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kReshape), 1) << ir::to_text(out);  // x viewed as [6, 4]
  expect_same_output(g, out, 1e-5, "merged projections on the CPU");
}

// nn.MultiheadAttention's heads (batch_first, N 2, L 3, E 4, one head): the in-projection's result
// %a [L, N, 3E] split into q, k and v [N, L, E] through views, and their attention %att.
const char* const kBatchFirstHeads =
      "%h: float32[3,2,3,4] = reshape \"h\" (%a) {shape=[3, 2, 3, 4]}\n"
      "%hp: float32[3,2,3,4] = transpose \"hp\" (%h) {perm=[2, 1, 0, 3]}\n"
      "%s:0: float32[1,2,3,4], %s:1: float32[1,2,3,4], %s:2: float32[1,2,3,4] = split \"s\" (%hp) "
      "{axis=0, sizes=[1, 1, 1]}\n"
      "%q: float32[2,3,4] = reshape \"q\" (%s:0) {shape=[2, 3, 4]}\n"
      "%k: float32[2,3,4] = reshape \"k\" (%s:1) {shape=[2, 3, 4]}\n"
      "%vv: float32[2,3,4] = reshape \"vv\" (%s:2) {shape=[2, 3, 4]}\n"
      "%att: float32[2,3,4] = attention \"att\" (%q, %k, %vv, none) {}\n";

TEST(PassGolden, MoveRowTransposesAroundBatchFirstProjections) {
  // nn.MultiheadAttention with batch_first: x [N 2, L 3, E 4] is transposed to [L, N, E] for the
  // in-projection (+ bias through a view) whose result only the attention reads (through views),
  // and the out-projection reads the attention's head merge (a transpose) and is transposed back.
  // The first transpose moves after the in-projection and its bias; the second moves before the
  // out-projection, composed with the head merge. A transpose feeding a linear layer whose result
  // is a network output (not absorbed: the copy would grow) stays.
  const std::string head =
      "input %x: float32[2,3,4]\n"
      "%w: float32[4,12] = constant \"w\" () {value=float32[4,12]}\n"
      "%b: float32[12] = constant \"b\" () {value=float32[12]}\n"
      "%wo: float32[4,4] = constant \"wo\" () {value=float32[4,4]}\n";
  const std::string attention =
      std::string(kBatchFirstHeads) +
      "%merge: float32[3,2,4] = transpose \"merge\" (%att) {perm=[1, 0, 2]}\n"
      "%mr: float32[6,4] = reshape \"mr\" (%merge) {shape=[6, 4]}\n"
      "%o: float32[6,4] = matmul \"o\" (%mr, %wo) {}\n";
  const std::string tail =
      "%t2: float32[3,2,4] = transpose \"t2\" (%x) {perm=[1, 0, 2]}\n"
      "%r2: float32[6,4] = reshape \"r2\" (%t2) {shape=[6, 4]}\n"
      "%m2: float32[6,4] = matmul \"m2\" (%r2, %wo) {}\n"
      "output %back\noutput %m2\n";
  expect_golden(move_row_transposes,
                head +
                    "%t: float32[3,2,4] = transpose \"t\" (%x) {perm=[1, 0, 2]}\n"
                    "%r: float32[6,4] = reshape \"r\" (%t) {shape=[6, 4]}\n"
                    "%m: float32[6,12] = matmul \"m\" (%r, %w) {}\n"
                    "%v: float32[3,2,12] = reshape \"v\" (%m) {shape=[3, 2, 12]}\n"
                    "%a: float32[3,2,12] = elementwise \"a\" (%v, %b) {op=\"add\"}\n" +
                    attention +
                    "%ov: float32[3,2,4] = reshape \"ov\" (%o) {shape=[3, 2, 4]}\n"
                    "%back: float32[2,3,4] = transpose \"back\" (%ov) {perm=[1, 0, 2]}\n" + tail,
                head +
                    "%r: float32[6,4] = reshape \"r\" (%x) {shape=[6, 4]}\n"
                    "%m: float32[6,12] = matmul \"m\" (%r, %w) {}\n"
                    "%m_rows: float32[2,3,12] = reshape \"m_rows\" (%m) {shape=[2, 3, 12]}\n"
                    "%a_rows: float32[2,3,12] = elementwise \"a\" (%m_rows, %b) {op=\"add\"}\n"
                    "%t: float32[3,2,12] = transpose \"t\" (%a_rows) {perm=[1, 0, 2]}\n"
                    "%a: float32[3,2,12] = reshape \"a_view\" (%t) {shape=[3, 2, 12]}\n" +
                    kBatchFirstHeads +
                    "%merge: float32[2,3,4] = transpose \"merge\" (%att) {perm=[0, 1, 2]}\n"
                    "%mr: float32[6,4] = reshape \"mr\" (%merge) {shape=[6, 4]}\n"
                    "%o: float32[6,4] = matmul \"o\" (%mr, %wo) {}\n"
                    "%back: float32[2,3,4] = reshape \"ov\" (%o) {shape=[2, 3, 4]}\n" + tail);
}

TEST(PassGolden, MoveRowTransposesPastPerTensorQuantizePairs) {
  // The same attention block as exported by tensorforge.quantize: a per-tensor quantize/dequantize
  // pair stands between each transpose and its projection, and the in-projection is a 3-D matmul of
  // the transposed rows (no reshape to rows). Both transposes move as without the pairs, which move
  // with them (a per-tensor scale commutes with reordering the rows); the per-channel pair (the
  // weight's) and a pair with a per-row scale stay where they are.
  const std::string head =
      "input %x: float32[2,3,4]\n"
      "%w: float32[4,12] = constant \"w\" () {value=float32[4,12]}\n"
      "%b: float32[12] = constant \"b\" () {value=float32[12]}\n"
      "%wo: float32[4,4] = constant \"wo\" () {value=float32[4,4]}\n"
      "%s1: float32[] = constant \"s1\" () {value=float32[]{0.05}}\n"
      "%s2: float32[] = constant \"s2\" () {value=float32[]{0.02}}\n";
  const std::string attention = kBatchFirstHeads;
  const std::string out_pair =
      "%oq: int8[6,4] = quantize \"oq\" (%mr, %s2, none) {dtype=\"int8\", qmax=127, qmin=-128}\n"
      "%od: float32[6,4] = dequantize \"od\" (%oq, %s2, none) {dtype=\"float32\"}\n"
      "%o: float32[6,4] = matmul \"o\" (%od, %wo) {}\n";
  expect_golden(move_row_transposes,
                head +
                    "%t: float32[3,2,4] = transpose \"t\" (%x) {perm=[1, 0, 2]}\n"
                    "%xq: int8[3,2,4] = quantize \"xq\" (%t, %s1, none) {dtype=\"int8\", qmax=127, qmin=-128}\n"
                    "%xd: float32[3,2,4] = dequantize \"xd\" (%xq, %s1, none) {dtype=\"float32\"}\n"
                    "%m: float32[3,2,12] = matmul \"m\" (%xd, %w) {}\n"
                    "%a: float32[3,2,12] = elementwise \"a\" (%m, %b) {op=\"add\"}\n" +
                    attention +
                    "%merge: float32[3,2,4] = transpose \"merge\" (%att) {perm=[1, 0, 2]}\n"
                    "%mr: float32[6,4] = reshape \"mr\" (%merge) {shape=[6, 4]}\n" +
                    out_pair +
                    "%ov: float32[3,2,4] = reshape \"ov\" (%o) {shape=[3, 2, 4]}\n"
                    "%back: float32[2,3,4] = transpose \"back\" (%ov) {perm=[1, 0, 2]}\n"
                    "output %back\n",
                head +
                    "%xq: int8[2,3,4] = quantize \"xq\" (%x, %s1, none) {dtype=\"int8\", qmax=127, qmin=-128}\n"
                    "%xd: float32[2,3,4] = dequantize \"xd\" (%xq, %s1, none) {dtype=\"float32\"}\n"
                    "%m_a: float32[6,4] = reshape \"m_a\" (%xd) {shape=[6, 4]}\n"
                    "%m: float32[6,12] = matmul \"m\" (%m_a, %w) {}\n"
                    "%m_rows: float32[2,3,12] = reshape \"m_rows\" (%m) {shape=[2, 3, 12]}\n"
                    "%a_rows: float32[2,3,12] = elementwise \"a\" (%m_rows, %b) {op=\"add\"}\n"
                    "%t: float32[3,2,12] = transpose \"t\" (%a_rows) {perm=[1, 0, 2]}\n"
                    "%a: float32[3,2,12] = reshape \"a_view\" (%t) {shape=[3, 2, 12]}\n" +
                    attention +
                    "%merge: float32[2,3,4] = transpose \"merge\" (%att) {perm=[0, 1, 2]}\n"
                    "%mr: float32[6,4] = reshape \"mr\" (%merge) {shape=[6, 4]}\n" +
                    out_pair +
                    "%back: float32[2,3,4] = reshape \"ov\" (%o) {shape=[2, 3, 4]}\n"
                    "output %back\n");  // each row's products as before: the same values
  // A scale per row of the transposed tensor does not commute with the transpose: nothing moves.
  const std::string per_row =
      std::string("input %x: float32[2,3,4]\n"
      "%w: float32[4,12] = constant \"w\" () {value=float32[4,12]}\n"
      "%sr: float32[3,2,1] = constant \"sr\" () {value=float32[3,2,1]}\n"
      "%t: float32[3,2,4] = transpose \"t\" (%x) {perm=[1, 0, 2]}\n"
      "%xq: int8[3,2,4] = quantize \"xq\" (%t, %sr, none) {dtype=\"int8\", qmax=127, qmin=-128}\n"
      "%xd: float32[3,2,4] = dequantize \"xd\" (%xq, %sr, none) {dtype=\"float32\"}\n"
      "%a: float32[3,2,12] = matmul \"m\" (%xd, %w) {}\n") +
      kBatchFirstHeads +
      "output %att\n";
  ir::Graph g = ir::parse_text(per_row);
  EXPECT_EQ(ir::to_text(move_row_transposes(g)), ir::to_text(g));
}

TEST(PassGolden, ComposeViewsCopiesAKeyHeadOnceAndRemoveIdentitiesDropsItsConcat) {
  // GPT-2's key: split of the projection (a copy), view, transpose (a copy) -> one as_strided read of
  // the projection (k[n, h, l, d] = x[n, l, 8 + 4h + d]); a transpose after a plain reshape (one copy
  // already) stays. Then the one-tensor concat to the cache output is dropped: the as_strided layer
  // writes the output, which keeps its name.
  const std::string before =
      "input %x: float32[2,5,16]\n"
      "%sp:0: float32[2,5,8], %sp:1: float32[2,5,8] = split \"sp\" (%x) {axis=2, sizes=[8, 8]}\n"
      "%kr: float32[2,5,2,4] = reshape \"kr\" (%sp:1) {shape=[2, 5, 2, 4]}\n"
      "%kt: float32[2,2,5,4] = transpose \"kt\" (%kr) {perm=[0, 2, 1, 3]}\n"
      "%key: float32[2,2,5,4] = concat \"cat\" (%kt) {axis=2}\n"
      "%xr: float32[2,5,4,4] = reshape \"xr\" (%x) {shape=[2, 5, 4, 4]}\n"
      "%xt: float32[2,4,5,4] = transpose \"xt\" (%xr) {perm=[0, 2, 1, 3]}\n"
      "output %key\noutput %xt\noutput %sp:0\n";
  const std::string composed =
      "input %x: float32[2,5,16]\n"
      "%sp:0: float32[2,5,8], %sp:1: float32[2,5,8] = split \"sp\" (%x) {axis=2, sizes=[8, 8]}\n"
      "%kr: float32[2,5,2,4] = reshape \"kr\" (%sp:1) {shape=[2, 5, 2, 4]}\n"
      "%kt: float32[2,2,5,4] = as_strided \"kt\" (%x) {shape=[2, 2, 5, 4], strides=[80, 4, 16, 1], offset=8}\n"
      "%key: float32[2,2,5,4] = concat \"cat\" (%kt) {axis=2}\n"
      "%xr: float32[2,5,4,4] = reshape \"xr\" (%x) {shape=[2, 5, 4, 4]}\n"
      "%xt: float32[2,4,5,4] = transpose \"xt\" (%xr) {perm=[0, 2, 1, 3]}\n"
      "output %key\noutput %xt\noutput %sp:0\n";
  expect_golden(compose_views, before, composed);
  expect_golden(remove_identities, composed,
                "input %x: float32[2,5,16]\n"
                "%sp:0: float32[2,5,8], %sp:1: float32[2,5,8] = split \"sp\" (%x) {axis=2, sizes=[8, 8]}\n"
                "%kr: float32[2,5,2,4] = reshape \"kr\" (%sp:1) {shape=[2, 5, 2, 4]}\n"
                "%key: float32[2,2,5,4] = as_strided \"kt\" (%x) {shape=[2, 2, 5, 4], strides=[80, 4, 16, 1], "
                "offset=8}\n"
                "%xr: float32[2,5,4,4] = reshape \"xr\" (%x) {shape=[2, 5, 4, 4]}\n"
                "%xt: float32[2,4,5,4] = transpose \"xt\" (%xr) {perm=[0, 2, 1, 3]}\n"
                "output %key\noutput %xt\noutput %sp:0\n");
}

TEST(PassGolden, ComposeViewsTurnsCopiesThatUndoEachOtherIntoAReshape) {
  // A transpose, a view, and the inverse transpose: the input's elements in order, so a reshape.
  expect_golden(compose_views,
                "input %x: float32[2,3,4]\n"
                "%t: float32[3,2,4] = transpose \"t\" (%x) {perm=[1, 0, 2]}\n"
                "%v: float32[3,2,2,2] = reshape \"v\" (%t) {shape=[3, 2, 2, 2]}\n"
                "%b: float32[2,3,2,2] = transpose \"b\" (%v) {perm=[1, 0, 2, 3]}\n"
                "output %b\n",
                "input %x: float32[2,3,4]\n"
                "%t: float32[3,2,4] = transpose \"t\" (%x) {perm=[1, 0, 2]}\n"
                "%v: float32[3,2,2,2] = reshape \"v\" (%t) {shape=[3, 2, 2, 2]}\n"
                "%b: float32[2,3,2,2] = reshape \"b\" (%x) {shape=[2, 3, 2, 2]}\n"
                "output %b\n");
}

TEST(PassGolden, MoveActivationIntoQuantizeTakesAFloat8ProductsGelu) {
  // fc1 -> GELU -> quantize -> fc2 of a float8 MLP: fc1's GELU moves into the quantize that alone
  // reads it; fc2's relu (cuBLASLt's epilogue takes it) and a GELU whose result a network output also
  // reads stay. The result differs from before by the product's rounding to float16 before the GELU:
  // at most one float8 step of the quantized values.
  const std::string head =
      "input %x: float16[4,16]\n"
      "%s0: float32[] = constant \"s0\" () {value=float32[]{0.05}}\n"
      "%s1: float32[] = constant \"s1\" () {value=float32[]{0.01}}\n"
      "%w1: float8_e4m3fn[32,16] = constant \"w1\" () {value=float8_e4m3fn[32,16]}\n"
      "%c1: float32[32] = constant \"c1\" () {value=float32[32]}\n"
      "%b1: float32[32] = constant \"b1\" () {value=float32[32]}\n"
      "%w2: float8_e4m3fn[16,32] = constant \"w2\" () {value=float8_e4m3fn[16,32]}\n"
      "%c2: float32[16] = constant \"c2\" () {value=float32[16]}\n"
      "%xq: float8_e4m3fn[4,16] = quantize \"xq\" (%x, %s0, none) {dtype=\"float8_e4m3fn\"}\n";
  auto fc1 = [](const char* act) {
    return std::string("%h: float16[4,32] = quantized_matmul \"fc1\" (%xq, %w1, %c1, %b1) {activation=\"") + act +
           "\", dtype=\"float16\", transpose_b=1}\n";
  };
  auto hq = [](const char* act) {
    return std::string("%hq: float8_e4m3fn[4,32] = quantize \"hq\" (%h, %s1, none) {activation=\"") + act +
           "\", dtype=\"float8_e4m3fn\"}\n";
  };
  const std::string tail =
      "%y: float16[4,16] = quantized_matmul \"fc2\" (%hq, %w2, %c2) {activation=\"relu\", dtype=\"float16\", "
      "transpose_b=1}\n"
      "output %y\n";
  expect_golden(move_activation_into_quantize, head + fc1("gelu") + hq("none") + tail,
                head + fc1("none") + hq("gelu") + tail, 0.1);
  // Through a view (an exported linear layer's reshape back to the batch's dims) the same.
  auto viewed = [](const std::string& text) {
    std::string t = text;
    t.replace(t.find("%h: float16[4,32]"), 17, "%h2: float16[4,32]");
    t.replace(t.find("(%h, %s1"), 8, "(%hv, %s1");
    t.replace(t.find("%hq: float8_e4m3fn[4,32]"), 24,
              "%h: float16[2,2,32] = reshape \"hv0\" (%h2) {shape=[2, 2, 32]}\n"
              "%hv: float16[4,32] = reshape \"hv\" (%h) {shape=[4, 32]}\n%hq: float8_e4m3fn[4,32]");
    return t;
  };
  expect_golden(move_activation_into_quantize, viewed(head + fc1("gelu") + hq("none") + tail),
                viewed(head + fc1("none") + hq("gelu") + tail), 0.1);
  ir::Graph shared = ir::parse_text(head + fc1("gelu") + hq("none") + tail + "output %h\n");
  EXPECT_EQ(ir::to_text(move_activation_into_quantize(shared)), ir::to_text(shared));
}

TEST(PassGolden, FoldMatmulBroadcastsReadsTheWeightOnce) {
  // A weight expanded to each of the 3 batch entries (an exported linear layer on a 3-D input) is
  // read as the one 2-D weight, also where the other operand carries the batch alone (%o); where
  // the other operand's batch (1) would not give the output's (3), the expand stays (%n), and so
  // does one that grows a matrix dim (%p).
  expect_golden(fold_matmul_broadcasts,
                "input %a: float32[3,4,5]\n"
                "input %s: float32[1,4,5]\n"
                "input %v: float32[3,4,1]\n"
                "%w: float32[5,6] = constant \"w\" () {value=float32[5,6]}\n"
                "%e: float32[3,5,6] = expand \"e\" (%w) {shape=[3, 5, 6]}\n"
                "%m: float32[3,4,6] = matmul \"m\" (%a, %e) {}\n"
                "%n: float32[3,4,6] = matmul \"n\" (%s, %e) {}\n"
                "%r: float32[1,6] = constant \"r\" () {value=float32[1,6]}\n"
                "%x: float32[3,1,6] = expand \"x\" (%r) {shape=[3, 1, 6]}\n"
                "%o: float32[3,4,6] = matmul \"o\" (%v, %x) {}\n"
                "%g: float32[3,5,6] = expand \"g\" (%r) {shape=[3, 5, 6]}\n"
                "%p: float32[3,4,6] = matmul \"p\" (%a, %g) {}\n"
                "output %m\noutput %n\noutput %o\noutput %p\n",
                "input %a: float32[3,4,5]\n"
                "input %s: float32[1,4,5]\n"
                "input %v: float32[3,4,1]\n"
                "%w: float32[5,6] = constant \"w\" () {value=float32[5,6]}\n"
                "%e: float32[3,5,6] = expand \"e\" (%w) {shape=[3, 5, 6]}\n"
                "%m: float32[3,4,6] = matmul \"m\" (%a, %w) {}\n"
                "%n: float32[3,4,6] = matmul \"n\" (%s, %e) {}\n"
                "%r: float32[1,6] = constant \"r\" () {value=float32[1,6]}\n"
                "%x: float32[3,1,6] = expand \"x\" (%r) {shape=[3, 1, 6]}\n"
                "%o: float32[3,4,6] = matmul \"o\" (%v, %r) {}\n"
                "%g: float32[3,5,6] = expand \"g\" (%r) {shape=[3, 5, 6]}\n"
                "%p: float32[3,4,6] = matmul \"p\" (%a, %g) {}\n"
                "output %m\noutput %n\noutput %o\noutput %p\n");
}

TEST(PassGolden, RemoveIdentitiesKeepsCopiesItNeeds) {
  // A cast to the same dtype, an identity transpose and a pad by nothing go; a one-tensor concat of a network input
  // (the output would be the input), of a network output (two outputs, one tensor) and a slice that
  // narrows stay.
  expect_golden(remove_identities,
                "input %x: float32[2,3]\n"
                "%e: float32[2,3] = unary \"e\" (%x) {op=\"exp\"}\n"
                "%c: float32[2,3] = cast \"c\" (%e) {dtype=\"float32\"}\n"
                "%t: float32[2,3] = transpose \"t\" (%c) {perm=[0, 1]}\n"
                "%z: float32[2,3] = pad \"z\" (%t) {pads=[0, 0, 0, 0]}\n"
                "%n: float32[2,3] = unary \"n\" (%z) {op=\"neg\"}\n"
                "%cx: float32[2,3] = concat \"cx\" (%x) {axis=0}\n"
                "%cn: float32[2,3] = concat \"cn\" (%n) {axis=1}\n"
                "%s: float32[1,3] = slice \"s\" (%n) {axes=[0], starts=[1], ends=[2]}\n"
                "output %n\noutput %cx\noutput %cn\noutput %s\n",
                "input %x: float32[2,3]\n"
                "%e: float32[2,3] = unary \"e\" (%x) {op=\"exp\"}\n"
                "%n: float32[2,3] = unary \"n\" (%e) {op=\"neg\"}\n"
                "%cx: float32[2,3] = concat \"cx\" (%x) {axis=0}\n"
                "%cn: float32[2,3] = concat \"cn\" (%n) {axis=1}\n"
                "%s: float32[1,3] = slice \"s\" (%n) {axes=[0], starts=[1], ends=[2]}\n"
                "output %n\noutput %cx\noutput %cn\noutput %s\n");
}

TEST(PassGolden, CancelTransposesComposesChainsAndDropsIdentities) {
  // NHWC -> NCHW -> NHWC cancels (the exp reads the NHWC tensor itself); the NCHW tensor %c also
  // feeds a network output, so it stays; three transposes compose into one; a transpose of a
  // network input that cancels keeps its copy (remove_identities leaves inputs alone).
  expect_golden(cancel_transposes,
                "input %x: float32[2,4,5,3]\n"
                "input %y: float32[2,3,4]\n"
                "%r: float32[2,4,5,3] = activation \"r\" (%x) {op=\"relu\"}\n"
                "%c: float32[2,3,4,5] = transpose \"c\" (%r) {perm=[0, 3, 1, 2]}\n"
                "%h: float32[2,4,5,3] = transpose \"h\" (%c) {perm=[0, 2, 3, 1]}\n"
                "%e: float32[2,4,5,3] = unary \"e\" (%h) {op=\"exp\"}\n"
                "%t1: float32[3,2,4] = transpose \"t1\" (%y) {perm=[1, 0, 2]}\n"
                "%t2: float32[4,2,3] = transpose \"t2\" (%t1) {perm=[2, 1, 0]}\n"
                "%t3: float32[2,4,3] = transpose \"t3\" (%t2) {perm=[1, 0, 2]}\n"
                "%u1: float32[3,2,4] = transpose \"u1\" (%y) {perm=[1, 0, 2]}\n"
                "%u2: float32[2,3,4] = transpose \"u2\" (%u1) {perm=[1, 0, 2]}\n"
                "output %e\noutput %c\noutput %t3\noutput %u2\n",
                "input %x: float32[2,4,5,3]\n"
                "input %y: float32[2,3,4]\n"
                "%r: float32[2,4,5,3] = activation \"r\" (%x) {op=\"relu\"}\n"
                "%c: float32[2,3,4,5] = transpose \"c\" (%r) {perm=[0, 3, 1, 2]}\n"
                "%e: float32[2,4,5,3] = unary \"e\" (%r) {op=\"exp\"}\n"
                "%t3: float32[2,4,3] = transpose \"t3\" (%y) {perm=[0, 2, 1]}\n"
                "%u2: float32[2,3,4] = transpose \"u2\" (%y) {perm=[0, 1, 2]}\n"
                "output %e\noutput %c\noutput %t3\noutput %u2\n");
}

TEST(Pipeline, TheCUDAPipelineRunsAConvNeXtBlockWithoutTransposes) {
  // ConvNeXt's block: depthwise 7x7 convolution, permute to [N, H, W, C], layer norm, two linear
  // layers, layer scale, permute back, residual add. In NHWC the permutes and the region's
  // conversions cancel: only the network input's and output's conversions remain. The layer scale
  // folds into the second linear layer's weights, and the residual add, no longer behind
  // transposes, into its epilogue: no pointwise kernel is left.
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,8,6,6]\n"
      "%w0: float16[8,8,1,1] = constant \"w0\" () {value=float16[8,8,1,1]}\n"
      "%stem: float16[2,8,6,6] = convolution \"stem\" (%x, %w0, none) {}\n"
      "%wd: float16[8,1,7,7] = constant \"wd\" () {value=float16[8,1,7,7]}\n"
      "%bd: float16[8] = constant \"bd\" () {value=float16[8]{0.1, -0.1, 0.2, 0, 0.3, -0.2, 0, 0.1}}\n"
      "%dw: float16[2,8,6,6] = convolution \"dw\" (%stem, %wd, %bd) {padding=[3, 3], groups=8}\n"
      "%p: float16[2,6,6,8] = transpose \"p\" (%dw) {perm=[0, 2, 3, 1]}\n"
      "%g: float16[8] = constant \"g\" () {value=float16[8]{1, 0.5, 1, 2, 1, 1, 0.5, 1}}\n"
      "%be: float16[8] = constant \"be\" () {value=float16[8]{0, 0.1, -0.1, 0, 0.2, 0, 0, -0.2}}\n"
      "%ln: float16[2,6,6,8] = layer_norm \"ln\" (%p, %g, %be) {eps=0.000001, normalized_rank=1}\n"
      "%v: float16[72,8] = reshape \"v\" (%ln) {shape=[72, 8]}\n"
      "%w1: float16[8,16] = constant \"w1\" () {value=float16[8,16]}\n"
      "%m1: float16[72,16] = matmul \"m1\" (%v, %w1) {}\n"
      "%a1: float16[72,16] = activation \"a1\" (%m1) {op=\"gelu_erf\"}\n"
      "%w2: float16[16,8] = constant \"w2\" () {value=float16[16,8]}\n"
      "%m2: float16[72,8] = matmul \"m2\" (%a1, %w2) {}\n"
      "%v2: float16[2,6,6,8] = reshape \"v2\" (%m2) {shape=[2, 6, 6, 8]}\n"
      "%ls: float16[8] = constant \"ls\" () {value=float16[8]{0.5, 0.25, 1, 0.5, 0.75, 1, 0.5, 0.25}}\n"
      "%s: float16[2,6,6,8] = elementwise \"s\" (%v2, %ls) {op=\"mul\"}\n"
      "%back: float16[2,8,6,6] = transpose \"back\" (%s) {perm=[0, 3, 1, 2]}\n"
      "%res: float16[2,8,6,6] = elementwise \"res\" (%stem, %back) {op=\"add\"}\n"
      "%wn: float16[8,8,1,1] = constant \"wn\" () {value=float16[8,8,1,1]}\n"
      "%next: float16[2,8,6,6] = convolution \"next\" (%res, %wn, none) {}\n"
      "output %next\n");
  ir::Graph out = cuda_pipeline(g);
  EXPECT_EQ(count_layers(out, LayerKind::kTranspose), 2) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kPointwise), 0) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kElementwise), 0) << ir::to_text(out);
  const ir::Layer& m2 = out.layers[out.tensors[out.by_name.at("m2")].producer];
  ASSERT_EQ(m2.inputs.size(), 4u) << ir::to_text(out);
  EXPECT_GE(m2.inputs[3], 0) << ir::to_text(out);  // the residual
  expect_same_output(g, out, 3e-2, "ConvNeXt block on the CPU");
}

TEST(PassGolden, RecognizeRmsNormAsLlamaWritesIt) {
  // float16 x cast to float32, pow 2, mean over the last axis, + eps, rsqrt, x * r, cast back,
  // weight * (...): one rms_norm; the matched layers remain for eliminate_dead_layers.
  const std::string written =  // also the start of the expected text
      "input %x: float16[2,3,8]\n"
      "%xf: float32[2,3,8] = cast \"xf\" (%x) {dtype=\"float32\"}\n"
      "%two: float32[] = constant \"two\" () {value=float32[]{2}}\n"
      "%p: float32[2,3,8] = elementwise \"p\" (%xf, %two) {op=\"pow\"}\n"
      "%m: float32[2,3,1] = reduce \"m\" (%p) {axes=[-1], keepdim=1, op=\"mean\"}\n"
      "%eps: float32[] = constant \"eps\" () {value=float32[]{0.000001}}\n"
      "%a: float32[2,3,1] = elementwise \"a\" (%m, %eps) {op=\"add\"}\n"
      "%r: float32[2,3,1] = unary \"r\" (%a) {op=\"rsqrt\"}\n"
      "%n: float32[2,3,8] = elementwise \"n\" (%xf, %r) {op=\"mul\"}\n"
      "%h: float16[2,3,8] = cast \"h\" (%n) {dtype=\"float16\"}\n"
      "%w: float16[8] = constant \"w\" () {value=float16[8]{1, 2, 0.5, -1, 1, 1, 3, 0.25}}\n";
  expect_golden(recognize_rms_norm,
                written + "%y: float16[2,3,8] = elementwise \"y\" (%w, %h) {op=\"mul\"}\n"
                          "output %y\n",
                written + "%y: float16[2,3,8] = rms_norm \"y\" (%x, %w) {eps=9.99999997e-07, normalized_rank=1}\n"
                "output %y\n",
                2e-3);
  ir::Graph out = eliminate_dead_layers(recognize_rms_norm(ir::parse_text(
      "input %x: float32[4,16]\n"
      "%s: float32[4,16] = elementwise \"s\" (%x, %x) {op=\"mul\"}\n"
      "%m: float32[4,1] = reduce \"m\" (%s) {axes=[1], keepdim=1, op=\"mean\"}\n"
      "%eps: float32[] = constant \"eps\" () {value=float32[]{0.00001}}\n"
      "%a: float32[4,1] = elementwise \"a\" (%eps, %m) {op=\"add\"}\n"
      "%r: float32[4,1] = unary \"r\" (%a) {op=\"rsqrt\"}\n"
      "%y: float32[4,16] = elementwise \"y\" (%r, %x) {op=\"mul\"}\n"
      "output %y\n")));
  ASSERT_EQ(out.layers.size(), 1u) << ir::to_text(out);  // x * x form, no weight, float32
  EXPECT_EQ(out.layers[0].kind, LayerKind::kRMSNorm);
  EXPECT_EQ(out.layers[0].origins, (std::vector<std::string>{"s", "m", "a", "r", "y"}));
  // The mean also read elsewhere, or a mean over another axis: no match.
  const std::string shared =
      "input %x: float32[4,16]\n"
      "%s: float32[4,16] = elementwise \"s\" (%x, %x) {op=\"mul\"}\n"
      "%m: float32[4,1] = reduce \"m\" (%s) {axes=[1], keepdim=1, op=\"mean\"}\n"
      "%eps: float32[] = constant \"eps\" () {value=float32[]{0.00001}}\n"
      "%a: float32[4,1] = elementwise \"a\" (%m, %eps) {op=\"add\"}\n"
      "%r: float32[4,1] = unary \"r\" (%a) {op=\"rsqrt\"}\n"
      "%y: float32[4,16] = elementwise \"y\" (%x, %r) {op=\"mul\"}\n"
      "output %y\noutput %m\n";
  expect_golden(recognize_rms_norm, shared, shared);
}

// A scale along another dim than the last, and a product read twice: fold_channel_scales leaves them.
const std::string kUnscaledLayers =
    "%h: float32[3,1] = constant \"h\" () {value=float32[3,1]{1, 2, 3}}\n"
    "%m2: float32[6,2] = matmul \"m2\" (%x, %w) {transpose_b=1}\n"
    "%v2: float32[2,3,2] = reshape \"v2\" (%m2) {shape=[2, 3, 2]}\n"
    "%s2: float32[2,3,2] = elementwise \"s2\" (%v2, %h) {op=\"mul\"}\n"
    "%m3: float32[6,2] = matmul \"m3\" (%x, %w) {transpose_b=1}\n"
    "%s3: float32[6,2] = elementwise \"s3\" (%m3, %b) {op=\"mul\"}\n"
    "%e3: float32[6,2] = unary \"e3\" (%m3) {op=\"exp\"}\n"
    "output %s\noutput %s2\noutput %s3\noutput %e3\n";

TEST(PassGolden, FoldChannelScalesScalesTheWeightsAndBias) {
  // gamma * (x W^T + b) viewed as [2, 3, 2]: W's rows and b scaled (W is [N, K], transposed), the
  // multiply gone, its name on the result. A scale along another dim, and a product read twice, stay.
  expect_golden(fold_channel_scales,
                "input %x: float32[6,3]\n"
                "%w: float32[2,3] = constant \"w\" () {value=float32[2,3]{1, 2, 3, 4, 5, 6}}\n"
                "%b: float32[2] = constant \"b\" () {value=float32[2]{0.5, -1}}\n"
                "%g: float32[1,1,2] = constant \"g\" () {value=float32[1,1,2]{2, -0.5}}\n"
                "%mm: float32[6,2] = matmul \"mm\" (%x, %w) {transpose_b=1}\n"
                "%ab: float32[6,2] = elementwise \"ab\" (%b, %mm) {op=\"add\"}\n"
                "%v: float32[2,3,2] = reshape \"v\" (%ab) {shape=[2, 3, 2]}\n"
                "%s: float32[2,3,2] = elementwise \"s\" (%v, %g) {op=\"mul\"}\n" +
                    kUnscaledLayers,
                "input %x: float32[6,3]\n"
                "%w: float32[2,3] = constant \"w\" () {value=float32[2,3]{1, 2, 3, 4, 5, 6}}\n"
                "%b: float32[2] = constant \"b\" () {value=float32[2]{0.5, -1}}\n"
                "%g: float32[1,1,2] = constant \"g\" () {value=float32[1,1,2]{2, -0.5}}\n"
                "%mm.scaled_weight: float32[2,3] = constant \"mm.scaled_weight\" () "
                "{value=float32[2,3]{2, 4, 6, -2, -2.5, -3}}\n"
                "%mm: float32[6,2] = matmul \"mm\" (%x, %mm.scaled_weight) {transpose_b=1}\n"
                "%ab.scaled_bias: float32[2] = constant \"ab.scaled_bias\" () {value=float32[2]{1, 0.5}}\n"
                "%ab: float32[6,2] = elementwise \"ab\" (%ab.scaled_bias, %mm) {op=\"add\"}\n"
                "%s: float32[2,3,2] = reshape \"v\" (%ab) {shape=[2, 3, 2]}\n" +
                    kUnscaledLayers);
}

TEST(PassGolden, FoldChannelScalesScalesABiasTheMatmulTakes) {
  // After fuse_epilogues the bias is the matmul's third input: weights and that bias scale alike
  // (ConvNeXt's layer scale, found once the NHWC conversions around it cancelled).
  expect_golden(fold_channel_scales,
                "input %x: float32[6,3]\n"
                "%w: float32[2,3] = constant \"w\" () {value=float32[2,3]{1, 2, 3, 4, 5, 6}}\n"
                "%b: float32[2] = constant \"b\" () {value=float32[2]{0.5, -1}}\n"
                "%g: float32[1,1,2] = constant \"g\" () {value=float32[1,1,2]{2, -0.5}}\n"
                "%mm: float32[6,2] = matmul \"mm\" (%x, %w, %b) {transpose_b=1}\n"
                "%v: float32[2,3,2] = reshape \"v\" (%mm) {shape=[2, 3, 2]}\n"
                "%s: float32[2,3,2] = elementwise \"s\" (%v, %g) {op=\"mul\"}\noutput %s\n",
                "input %x: float32[6,3]\n"
                "%w: float32[2,3] = constant \"w\" () {value=float32[2,3]{1, 2, 3, 4, 5, 6}}\n"
                "%b: float32[2] = constant \"b\" () {value=float32[2]{0.5, -1}}\n"
                "%g: float32[1,1,2] = constant \"g\" () {value=float32[1,1,2]{2, -0.5}}\n"
                "%mm.scaled_weight: float32[2,3] = constant \"mm.scaled_weight\" () "
                "{value=float32[2,3]{2, 4, 6, -2, -2.5, -3}}\n"
                "%mm.scaled_bias: float32[2] = constant \"mm.scaled_bias\" () {value=float32[2]{1, 0.5}}\n"
                "%mm: float32[6,2] = matmul \"mm\" (%x, %mm.scaled_weight, %mm.scaled_bias) {transpose_b=1}\n"
                "%s: float32[2,3,2] = reshape \"v\" (%mm) {shape=[2, 3, 2]}\noutput %s\n");
}

TEST(PassGolden, ConvNeXtBlockKeepsNoPointwiseLayer) {
  // torchvision's CNBlock in NCHW: depthwise 7x7, permute, layer norm, linear, GELU, linear,
  // permute back, layer scale times that plus the input. Through the CUDA pipeline in float16 the
  // permutes cancel against the NHWC conversions, the layer scale folds into the second linear
  // (fold_channel_scales_after_layout) and the residual into its epilogue: no pointwise layer.
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,16,8,8]\n"
      "%dw: float16[16,1,7,7] = constant \"dw\" () {value=float16[16,1,7,7]}\n"
      "%dwb: float16[16] = constant \"dwb\" () {value=float16[16]}\n"
      "%c: float16[2,16,8,8] = convolution \"c\" (%x, %dw, %dwb) {groups=16, padding=[3, 3]}\n"
      "%p: float16[2,8,8,16] = transpose \"p\" (%c) {perm=[0, 2, 3, 1]}\n"
      "%lw: float16[16] = constant \"lw\" () {value=float16[16]}\n"
      "%lb: float16[16] = constant \"lb\" () {value=float16[16]}\n"
      "%ln: float16[2,8,8,16] = layer_norm \"ln\" (%p, %lw, %lb) {eps=1e-06, normalized_rank=1}\n"
      "%r1: float16[128,16] = reshape \"r1\" (%ln) {shape=[128, 16]}\n"
      "%w1: float16[16,64] = constant \"w1\" () {value=float16[16,64]}\n"
      "%b1: float16[64] = constant \"b1\" () {value=float16[64]}\n"
      "%m1: float16[128,64] = matmul \"m1\" (%r1, %w1) {}\n"
      "%a1: float16[128,64] = elementwise \"a1\" (%m1, %b1) {op=\"add\"}\n"
      "%g1: float16[128,64] = activation \"g1\" (%a1) {op=\"gelu_erf\"}\n"
      "%w2: float16[64,16] = constant \"w2\" () {value=float16[64,16]}\n"
      "%b2: float16[16] = constant \"b2\" () {value=float16[16]}\n"
      "%m2: float16[128,16] = matmul \"m2\" (%g1, %w2) {}\n"
      "%a2: float16[128,16] = elementwise \"a2\" (%m2, %b2) {op=\"add\"}\n"
      "%r2: float16[2,8,8,16] = reshape \"r2\" (%a2) {shape=[2, 8, 8, 16]}\n"
      "%q: float16[2,16,8,8] = transpose \"q\" (%r2) {perm=[0, 3, 1, 2]}\n"
      "%ls: float16[16,1,1] = constant \"ls\" () {value=float16[16,1,1]}\n"
      "%s: float16[2,16,8,8] = elementwise \"s\" (%ls, %q) {op=\"mul\"}\n"
      "%o: float16[2,16,8,8] = elementwise \"o\" (%s, %x) {op=\"add\"}\noutput %o\n");
  ir::Graph out = cuda_pipeline(g);
  EXPECT_EQ(count_layers(out, LayerKind::kPointwise), 0) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kElementwise), 0) << ir::to_text(out);
  expect_same_output(g, out, 3e-2, "ConvNeXt block with its layer scale folded");
}

TEST(PassGolden, FuseEpilogues) {
  expect_golden(fuse_epilogues,
                "input %x: float32[4,3]\n"
                "%w: float32[3,5] = constant \"w\" () {value=float32[3,5]}\n"
                "%mm: float32[4,5] = matmul \"mm\" (%x, %w) {}\n"
                "%b: float32[5] = constant \"b\" () {value=float32[5]{1, 2, 3, 4, 5}}\n"
                "%add: float32[4,5] = elementwise \"add\" (%mm, %b) {op=\"add\"}\n"
                "%act: float32[4,5] = activation \"act\" (%add) {op=\"gelu_tanh\"}\n"
                "output %act\n",
                "input %x: float32[4,3]\n"
                "%w: float32[3,5] = constant \"w\" () {value=float32[3,5]}\n"
                "%b: float32[5] = constant \"b\" () {value=float32[5]{1, 2, 3, 4, 5}}\n"
                "%act: float32[4,5] = matmul \"mm\" (%x, %w, %b) {activation=\"gelu_tanh\"}\n"
                "output %act\n");
}

TEST(PassGolden, FuseEpiloguesTakesATransformersResidualIntoTheMatMul) {
  // A linear layer's [N * L, E] result + bias, viewed as [N, L, E], + the residual stream: one matmul
  // reading the residual (viewed in its shape) as cuBLASLt's C, and the view redone after it. A
  // second matmul's residual add follows a relu: the relu is not folded past, the add is not taken.
  expect_golden(fuse_epilogues,
                "input %x: float32[2,3,4]\n"
                "%x2: float32[6,4] = reshape \"x2\" (%x) {shape=[6, 4]}\n"
                "%w: float32[4,4] = constant \"w\" () {value=float32[4,4]}\n"
                "%mm: float32[6,4] = matmul \"mm\" (%x2, %w) {}\n"
                "%b: float32[4] = constant \"b\" () {value=float32[4]{1, 2, 3, 4}}\n"
                "%add: float32[6,4] = elementwise \"add\" (%b, %mm) {op=\"add\"}\n"
                "%v: float32[2,3,4] = reshape \"v\" (%add) {shape=[2, 3, 4]}\n"
                "%res: float32[2,3,4] = elementwise \"res\" (%x, %v) {op=\"add\"}\n"
                "%m2: float32[2,3,4] = matmul \"m2\" (%res, %w) {activation=\"relu\"}\n"
                "%r2: float32[2,3,4] = elementwise \"r2\" (%m2, %res) {op=\"add\"}\n"
                "output %r2\n",
                "input %x: float32[2,3,4]\n"
                "%x2: float32[6,4] = reshape \"x2\" (%x) {shape=[6, 4]}\n"
                "%w: float32[4,4] = constant \"w\" () {value=float32[4,4]}\n"
                "%b: float32[4] = constant \"b\" () {value=float32[4]{1, 2, 3, 4}}\n"
                "%mm_residual: float32[6,4] = reshape \"mm_residual\" (%x) {shape=[6, 4]}\n"
                "%mm: float32[6,4] = matmul \"mm\" (%x2, %w, %b, %mm_residual) {}\n"
                "%res: float32[2,3,4] = reshape \"res\" (%mm) {shape=[2, 3, 4]}\n"
                "%m2: float32[2,3,4] = matmul \"m2\" (%res, %w) {activation=\"relu\"}\n"
                "%r2: float32[2,3,4] = elementwise \"r2\" (%m2, %res) {op=\"add\"}\n"
                "output %r2\n");
}

TEST(PassGolden, FuseEpiloguesLooksThroughReshapes) {
  // ViT's in-projection ([L * N, 3E] viewed as [L, N, 3E], then + bias) and MLP (+ bias, viewed,
  // GELU): one matmul each, the view redone after it. A view that changes the last extent keeps a
  // bias add out (the bias would no longer follow the matmul's columns).
  expect_golden(fuse_epilogues,
                "input %x: float32[6,4]\n"
                "%w: float32[4,8] = constant \"w\" () {value=float32[4,8]}\n"
                "%b: float32[8] = constant \"b\" () {value=float32[8]}\n"
                "%mm: float32[6,8] = matmul \"mm\" (%x, %w) {}\n"
                "%v: float32[2,3,8] = reshape \"v\" (%mm) {shape=[2, 3, 8]}\n"
                "%add: float32[2,3,8] = elementwise \"add\" (%v, %b) {op=\"add\"}\n"
                "%g: float32[2,3,8] = activation \"g\" (%add) {op=\"gelu_erf\"}\n"
                "%b4: float32[4] = constant \"b4\" () {value=float32[4]{1, 2, 3, 4}}\n"
                "%m2: float32[6,8] = matmul \"m2\" (%x, %w) {}\n"
                "%v2: float32[12,4] = reshape \"v2\" (%m2) {shape=[12, 4]}\n"
                "%a2: float32[12,4] = elementwise \"a2\" (%v2, %b4) {op=\"add\"}\n"
                "output %g\noutput %a2\n",
                "input %x: float32[6,4]\n"
                "%w: float32[4,8] = constant \"w\" () {value=float32[4,8]}\n"
                "%b: float32[8] = constant \"b\" () {value=float32[8]}\n"
                "%mm: float32[6,8] = matmul \"mm\" (%x, %w, %b) {activation=\"gelu\"}\n"
                "%g: float32[2,3,8] = reshape \"g\" (%mm) {shape=[2, 3, 8]}\n"
                "%b4: float32[4] = constant \"b4\" () {value=float32[4]{1, 2, 3, 4}}\n"
                "%m2: float32[6,8] = matmul \"m2\" (%x, %w) {}\n"
                "%v2: float32[12,4] = reshape \"v2\" (%m2) {shape=[12, 4]}\n"
                "%a2: float32[12,4] = elementwise \"a2\" (%v2, %b4) {op=\"add\"}\n"
                "output %g\noutput %a2\n");
}

TEST(PassGolden, FuseEpiloguesTakesSiluHardswishAndRelu6IntoTheConvolution) {
  // EfficientNet's conv (+ folded batch norm) -> SiLU, MobileNetV3's -> hardswish and MobileNetV2's
  // -> clip(0, 6): the activation becomes the convolution's; its CPU kernel applies it (the numeric
  // check), CUDA in our pass.
  for (const std::string op : {"silu", "hardswish", "clip"}) {
    const std::string a = op == "clip" ? "relu6" : op;
    const std::string attrs = op == "clip" ? "op=\"clip\", alpha=0.0, beta=6.0" : "op=\"" + op + "\"";
    expect_golden(fuse_epilogues,
                  "input %x: float32[2,2,4,4]\n"
                  "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                  "%b: float32[3] = constant \"b\" () {value=float32[3]{1, -2, 3}}\n"
                  "%c: float32[2,3,4,4] = convolution \"c\" (%x, %w, %b) {padding=[1, 1]}\n"
                  "%r: float32[2,3,4,4] = activation \"r\" (%c) {" + attrs + "}\n"
                  "output %r\n",
                  "input %x: float32[2,2,4,4]\n"
                  "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                  "%b: float32[3] = constant \"b\" () {value=float32[3]{1, -2, 3}}\n"
                  "%r: float32[2,3,4,4] = convolution \"c\" (%x, %w, %b) {activation=\"" + a +
                      "\", padding=[1, 1]}\n"
                  "output %r\n");
  }
  // gelu is not a convolution activation, nor a clip to another range: the chain stays.
  for (const char* attrs :
       {"op=\"gelu_erf\"", "op=\"clip\", alpha=0.0, beta=5.0", "op=\"clip\", alpha=-1.0, beta=6.0"}) {
    ir::Graph g = ir::parse_text(
        "input %x: float32[1,2,4,4]\n"
        "%w: float32[3,2,1,1] = constant \"w\" () {value=float32[3,2,1,1]}\n"
        "%c: float32[1,3,4,4] = convolution \"c\" (%x, %w, none) {}\n"
        "%r: float32[1,3,4,4] = activation \"r\" (%c) {" + std::string(attrs) + "}\n"
        "output %r\n");
    EXPECT_EQ(ir::to_text(fuse_epilogues(g)), ir::to_text(g)) << attrs;
  }
}

TEST(PassGolden, FuseEpiloguesTakesTheResidualIntoTheConvolution) {
  // ResNet's block end: conv (+ bias) -> add(shortcut) -> relu is one convolution; the shortcut is a
  // network input read before the convolution's position, and the add's operands are swapped.
  expect_golden(fuse_epilogues,
                "input %x: float32[1,2,4,4]\n"
                "input %s: float32[1,3,4,4]\n"
                "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                "%b: float32[3] = constant \"b\" () {value=float32[3]{1, -2, 3}}\n"
                "%c: float32[1,3,4,4] = convolution \"c\" (%x, %w, %b) {padding=[1, 1]}\n"
                "%a: float32[1,3,4,4] = elementwise \"a\" (%s, %c) {op=\"add\"}\n"
                "%r: float32[1,3,4,4] = activation \"r\" (%a) {op=\"relu\"}\n"
                "output %r\n",
                "input %x: float32[1,2,4,4]\n"
                "input %s: float32[1,3,4,4]\n"
                "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                "%b: float32[3] = constant \"b\" () {value=float32[3]{1, -2, 3}}\n"
                "%r: float32[1,3,4,4] = convolution \"c\" (%x, %w, %b, %s) {activation=\"relu\", padding=[1, 1]}\n"
                "output %r\n");
  // Without a bias, and a channels-last region that takes the residual in NHWC.
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,8,5,5]\n"
      "%w: float16[8,8,3,3] = constant \"w\" () {value=float16[8,8,3,3]}\n"
      "%c: float16[2,8,5,5] = convolution \"c\" (%x, %w, none) {padding=[1, 1]}\n"
      "%a: float16[2,8,5,5] = elementwise \"a\" (%c, %x) {op=\"add\"}\n"
      "output %a\n");
  ir::Graph out = channels_last(fuse_epilogues(g));
  ASSERT_EQ(out.layers.back().kind, LayerKind::kTranspose) << ir::to_text(out);
  expect_same_output(g, out, 2e-2, "residual in NHWC");

  // Downsampling: both operands of the add are convolutions; the first takes the add and the relu,
  // the second stays and becomes its residual.
  ir::Graph down = ir::parse_text(
      "input %x: float32[1,4,6,6]\n"
      "%w1: float32[4,4,3,3] = constant \"w1\" () {value=float32[4,4,3,3]}\n"
      "%w2: float32[4,4,1,1] = constant \"w2\" () {value=float32[4,4,1,1]}\n"
      "%c1: float32[1,4,6,6] = convolution \"c1\" (%x, %w1, none) {padding=[1, 1]}\n"
      "%c2: float32[1,4,6,6] = convolution \"c2\" (%x, %w2, none) {}\n"
      "%a: float32[1,4,6,6] = elementwise \"a\" (%c1, %c2) {op=\"add\"}\n"
      "%r: float32[1,4,6,6] = activation \"r\" (%a) {op=\"relu\"}\n"
      "output %r\n");
  ir::Graph fused = fuse_epilogues(down);
  ASSERT_EQ(fused.layers.size(), 4u) << ir::to_text(fused);  // two constants, c2, then c1 with the residual
  EXPECT_EQ(fused.layers[3].name, "c1");
  EXPECT_EQ(fused.layers[3].inputs.size(), 4u);
  expect_same_output(down, fused, 1e-5, "downsampling residual");
}

TEST(PassGolden, FusePointwiseGroupsAChainWithTwoOutputsAndAMask) {
  // add -> gelu -> mul(mask as float) becomes one layer; the add is also read by the reduce, so it
  // is an output of the fused layer too; the reduce is not pointwise and stays. The mask's cast
  // has a smaller shape that broadcasts, and only the multiply reads it: it joins, computed per
  // element from the bool mask.
  const std::string body = normalized(
      "input %x: float32[2,3]\n"
      "input %b: float32[3]\n"
      "input %m: bool[3]\n"
      "%a: float32[2,3] = elementwise \"a\" (%x, %b) {op=\"add\"}\n"
      "%g: float32[2,3] = activation \"g\" (%a) {op=\"gelu_tanh\"}\n"
      "%mf: float32[3] = cast \"mf\" (%m) {dtype=\"float32\"}\n"
      "%y: float32[2,3] = elementwise \"y\" (%g, %mf) {op=\"mul\"}\n"
      "output %a\n"
      "output %y\n");
  expect_golden(fuse_pointwise,
                "input %x: float32[2,3]\n"
                "input %m: bool[3]\n"
                "%b: float32[3] = constant \"b\" () {value=float32[3]{1, -2, 0.5}}\n"
                "%a: float32[2,3] = elementwise \"a\" (%x, %b) {op=\"add\"}\n"
                "%g: float32[2,3] = activation \"g\" (%a) {op=\"gelu_tanh\"}\n"
                "%mf: float32[3] = cast \"mf\" (%m) {dtype=\"float32\"}\n"
                "%y: float32[2,3] = elementwise \"y\" (%g, %mf) {op=\"mul\"}\n"
                "%s: float32[2] = reduce \"s\" (%a) {axes=[1], op=\"sum\"}\n"
                "output %y\n"
                "output %s\n",
                "input %x: float32[2,3]\n"
                "input %m: bool[3]\n"
                "%b: float32[3] = constant \"b\" () {value=float32[3]{1, -2, 0.5}}\n"
                "%a: float32[2,3], %y: float32[2,3] = pointwise \"y.fused\" (%x, %b, %m) {body=" +
                    ir::attr_to_text(AttrValue(body)) + "}\n"
                "%s: float32[2] = reduce \"s\" (%a) {axes=[1], op=\"sum\"}\n"
                "output %y\n"
                "output %s\n");
}

TEST(PassGolden, FusePointwiseComputesSqueezeExciteWeightsPerElement) {
  // MobileNetV3's squeeze-excite end: hardsigmoid of the [N, C, 1, 1] channel weights times the
  // [N, C, H, W] activation is one layer. The sigmoid of a second weight tensor that is also a
  // network output stays (its own shape must be written), as does a broadcast group read by two
  // groups.
  ir::Graph g = ir::parse_text(
      "input %x: float32[2,3,4,5]\n"
      "input %w: float32[2,3,1,1]\n"
      "input %v: float32[2,3,1,1]\n"
      "input %u: float32[2,3,1,1]\n"
      "%hs: float32[2,3,1,1] = activation \"hs\" (%w) {op=\"hardsigmoid\"}\n"
      "%se: float32[2,3,4,5] = elementwise \"se\" (%x, %hs) {op=\"mul\"}\n"
      "%sv: float32[2,3,1,1] = activation \"sv\" (%v) {op=\"sigmoid\"}\n"
      "%m2: float32[2,3,4,5] = elementwise \"m2\" (%se, %sv) {op=\"mul\"}\n"
      "%su: float32[2,3,1,1] = activation \"su\" (%u) {op=\"sigmoid\"}\n"
      "%r: float32[2,3,4,1] = reduce \"r\" (%m2) {axes=[3], keepdim=1, op=\"max\"}\n"
      "%t: float32[2,3,4,5] = elementwise \"t\" (%m2, %su) {op=\"add\"}\n"
      "%q: float32[2,3,4,1] = elementwise \"q\" (%r, %su) {op=\"sub\"}\n"
      "%q2: float32[2,3,4,1] = unary \"q2\" (%q) {op=\"exp\"}\n"
      "output %t\noutput %q2\noutput %sv\n");
  ir::Graph out = fuse_pointwise(g);
  EXPECT_EQ(count_layers(out, LayerKind::kActivation), 2) << ir::to_text(out);  // sv and su stay
  EXPECT_EQ(count_layers(out, LayerKind::kPointwise), 2) << ir::to_text(out);
  std::vector<HostTensor> in = random_inputs(g);
  std::vector<HostTensor> want = run_graph(g, in), got = run_graph(out, in);
  for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i].dims, want[i].values(), 1e-6, "output");
}

TEST(PassGolden, RecognizeRotateHalfAsLlamaWritesIt) {
  // q * cos + cat(-q[..., 2:], q[..., :2]) * sin: the concat becomes a gather by [2, 3, 0, 1] and a
  // multiply by [-1, -1, 1, 1]; the slices and the negation are left for eliminate_dead_layers.
  // A concat of halves of two different tensors stays.
  const std::string rest =
      "%cos: float32[3,4] = constant \"cos\" () {value=float32[3,4]}\n"
      "%sin: float32[3,4] = constant \"sin\" () {value=float32[3,4]}\n"
      "%qc: float32[2,3,4] = elementwise \"qc\" (%q, %cos) {op=\"mul\"}\n"
      "%x1: float32[2,3,2] = slice \"x1\" (%q) {axes=[2], starts=[0], ends=[2]}\n"
      "%x2: float32[2,3,2] = slice \"x2\" (%q) {axes=[2], starts=[2], ends=[9223372036854775807]}\n"
      "%n: float32[2,3,2] = unary \"n\" (%x2) {op=\"neg\"}\n";
  expect_golden(recognize_rotate_half,
                "input %q: float32[2,3,4]\ninput %k: float32[2,3,4]\n" + rest +
                    "%r: float32[2,3,4] = concat \"r\" (%n, %x1) {axis=-1}\n"
                    "%rs: float32[2,3,4] = elementwise \"rs\" (%r, %sin) {op=\"mul\"}\n"
                    "%o: float32[2,3,4] = elementwise \"o\" (%qc, %rs) {op=\"add\"}\n"
                    "%k1: float32[2,3,2] = slice \"k1\" (%k) {axes=[2], starts=[0], ends=[2]}\n"
                    "%other: float32[2,3,4] = concat \"other\" (%n, %k1) {axis=2}\n"
                    "output %o\noutput %other\n",
                "input %q: float32[2,3,4]\ninput %k: float32[2,3,4]\n" + rest +
                    "%r.index: int64[4] = constant \"r.index\" () {value=int64[4]{2, 3, 0, 1}}\n"
                    "%r.sign: float32[4] = constant \"r.sign\" () {value=float32[4]{-1, -1, 1, 1}}\n"
                    "%r.rotate: float32[2,3,4] = gather \"r.rotate\" (%q, %r.index) {axis=2, mode=\"take\"}\n"
                    "%r: float32[2,3,4] = elementwise \"r\" (%r.rotate, %r.sign) {op=\"mul\"}\n"
                    "%rs: float32[2,3,4] = elementwise \"rs\" (%r, %sin) {op=\"mul\"}\n"
                    "%o: float32[2,3,4] = elementwise \"o\" (%qc, %rs) {op=\"add\"}\n"
                    "%k1: float32[2,3,2] = slice \"k1\" (%k) {axes=[2], starts=[0], ends=[2]}\n"
                    "%other: float32[2,3,4] = concat \"other\" (%n, %k1) {axis=2}\n"
                    "output %o\noutput %other\n");
}

// A shifted-window attention as Swin writes it: q scaled, q·kᵀ through a transpose and reshapes, a
// position bias added over [windows * B, heads], the shift mask over [B, windows, heads], softmax,
// then p·v. The attention runs over [B, windows, heads] with both added tensors as one mask.
const std::string kWindowAttention =
    "input %q: float32[4,2,3,8]\ninput %k: float32[4,2,3,8]\ninput %v: float32[4,2,3,8]\n"
    "%c: float32[] = constant \"c\" () {value=float32[]{0.5}}\n"
    "%qs: float32[4,2,3,8] = elementwise \"qs\" (%q, %c) {op=\"mul\"}\n"
    "%kt: float32[4,2,8,3] = transpose \"kt\" (%k) {perm=[0, 1, 3, 2]}\n"
    "%q3: float32[8,3,8] = reshape \"q3\" (%qs) {shape=[8, 3, 8]}\n"
    "%k3: float32[8,8,3] = reshape \"k3\" (%kt) {shape=[8, 8, 3]}\n"
    "%s3: float32[8,3,3] = matmul \"s3\" (%q3, %k3, none) {activation=\"none\", transpose_a=0, transpose_b=0}\n"
    "%s: float32[4,2,3,3] = reshape \"s\" (%s3) {shape=[4, 2, 3, 3]}\n"
    "%bias: float32[2,3,3] = constant \"bias\" () {value=float32[2,3,3]{BIAS}}\n"
    "%sb: float32[4,2,3,3] = elementwise \"sb\" (%s, %bias) {op=\"add\"}\n"
    "%s5: float32[2,2,2,3,3] = reshape \"s5\" (%sb) {shape=[2, 2, 2, 3, 3]}\n"
    "%mask: float32[1,2,1,3,3] = constant \"mask\" () {value=float32[1,2,1,3,3]{MASK}}\n"
    "%sm: float32[2,2,2,3,3] = elementwise \"sm\" (%s5, %mask) {op=\"add\"}\n"
    "%s4: float32[4,2,3,3] = reshape \"s4\" (%sm) {shape=[4, 2, 3, 3]}\n"
    "%p: float32[4,2,3,3] = softmax \"p\" (%s4) {axis=-1, log=0}\n"
    "%p3: float32[8,3,3] = reshape \"p3\" (%p) {shape=[8, 3, 3]}\n"
    "%v3: float32[8,3,8] = reshape \"v3\" (%v) {shape=[8, 3, 8]}\n"
    "%o3: float32[8,3,8] = matmul \"o3\" (%p3, %v3, none) {activation=\"none\", transpose_a=0, transpose_b=0}\n"
    "%o: float32[4,2,3,8] = reshape \"o\" (%o3) {shape=[4, 2, 3, 8]}\n"
    "output %o\n";

std::string window_attention() {
  std::string t = kWindowAttention;
  t.replace(t.find("BIAS"), 4, "-0.5, 0.2, -0.2, 0.5, 0.1, -0.3, 0.4, 0.0, -0.4, 0.3, -0.1, -0.5, 0.2, -0.2, 0.5, 0.1, -0.3, 0.4");
  t.replace(t.find("MASK"), 4, "-100, 0, 0, 0, -100, 0, 0, 0, -100, 0, 0, 0, -100, 0, 0, 0, -100, 0");
  return t;
}

TEST(PassGolden, RecognizeAttentionAsSwinWritesIt) {
  // The bias and the shift mask become one constant [1, windows, heads, 3, 3] (their sum, in the
  // attention's [B, windows, heads] grouping); q, k and v are reshaped to that grouping, the scale
  // of q becomes the attention's, and its output is reshaped back to p·v's [8, 3, 8].
  ir::Graph g = ir::parse_text(window_attention());
  ir::Graph out = recognize_attention(g);
  const std::string text = ir::to_text(out);
  for (const char* line : {"%o3.q: float32[2,2,2,3,8] = reshape \"o3.q\" (%q) {shape=[2, 2, 2, 3, 8]}\n",
                           "%o3.k: float32[2,2,2,3,8] = reshape \"o3.k\" (%k) {shape=[2, 2, 2, 3, 8]}\n",
                           "%o3.v: float32[2,2,2,3,8] = reshape \"o3.v\" (%v) {shape=[2, 2, 2, 3, 8]}\n",
                           "%o3.attention: float32[2,2,2,3,8] = attention \"o3.attention\" (%o3.q, %o3.k, %o3.v, %o3.mask)",
                           "%o3: float32[8,3,8] = reshape \"o3\" (%o3.attention) {shape=[8, 3, 8]}\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in\n" << text;
  const ir::Layer& att = *std::find_if(out.layers.begin(), out.layers.end(),
                                       [](const ir::Layer& l) { return l.kind == LayerKind::kAttention; });
  ASSERT_EQ(att.inputs.size(), 4u);
  EXPECT_TRUE(tensorforge::is_constant(out, att.inputs[3]));
  EXPECT_EQ(out.tensors[att.inputs[3]].dims, Dims({1, 2, 2, 3, 3}));
  EXPECT_DOUBLE_EQ(ir::attr_float(att, "scale"), 0.5);
  EXPECT_EQ(count_layers(out, LayerKind::kAttention), 1);
  EXPECT_EQ(count_layers(out, LayerKind::kElementwise), 3);  // the written-out form's, dead now
  expect_same_output(g, out, 1e-5, "window attention");
}

TEST(PassGolden, RecognizeAttentionLeavesWhatItCannotFold) {
  // The scores read twice; a scale applied after the bias (the mask would need scaling too); a mask
  // with -inf: each network stays as it is.
  std::string twice = window_attention();
  twice.replace(twice.find("output %o\n"), 10, "output %o\noutput %s4\n");
  ir::Graph g = ir::parse_text(twice);
  EXPECT_EQ(ir::to_text(recognize_attention(g)), ir::to_text(g));
  std::string late = window_attention();
  late.replace(late.find("%s4: float32[4,2,3,3] = reshape \"s4\" (%sm)"), 43,
               "%sx: float32[2,2,2,3,3] = elementwise \"sx\" (%sm, %c) {op=\"mul\"}\n"
               "%s4: float32[4,2,3,3] = reshape \"s4\" (%sx)");
  ir::Graph h = ir::parse_text(late);
  EXPECT_EQ(count_layers(h, LayerKind::kAttention), 0);
  EXPECT_EQ(ir::to_text(recognize_attention(h)), ir::to_text(h));
  // A -inf mask could mask a whole row: softmax gives NaN there, the attention layer 0.
  std::string inf = window_attention();
  for (size_t at = inf.find("-100"); at != std::string::npos; at = inf.find("-100")) inf.replace(at, 4, "-inf");
  ir::Graph i = ir::parse_text(inf);
  EXPECT_EQ(ir::to_text(recognize_attention(i)), ir::to_text(i));
}

TEST(PassGolden, CausalMasksBecomeTheCausalFlag) {
  // A bool [1, 1, 3, 4] keep-mask j <= i (top-left, as PyTorch's is_causal) and an additive 0/-inf
  // one: both become causal=1. A mask keeping j <= i + 1 stays.
  const std::string head =
      "input %q: float32[2,2,3,8]\ninput %k: float32[2,2,4,8]\ninput %v: float32[2,2,4,8]\n";
  const std::string causal_bool =
      "%m: bool[1,1,3,4] = constant \"m\" () {value=bool[1,1,3,4]{1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0}}\n";
  expect_golden(causal_masks,
                head + causal_bool +
                    "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v, %m) {causal=0, scale=0.5}\noutput %a\n",
                head + causal_bool +
                    "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v) {causal=1, scale=0.5}\noutput %a\n");
  const std::string additive =
      "%m: float32[3,4] = constant \"m\" () {value=float32[3,4]{0, -inf, -inf, -inf, 0, 0, -inf, -inf, 0, 0, 0, "
      "-inf}}\n";
  expect_golden(causal_masks,
                head + additive + "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v, %m) {}\noutput %a\n",
                head + additive + "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v) {causal=1}\noutput %a\n");
  ir::Graph shifted = ir::parse_text(
      head + "%m: bool[3,4] = constant \"m\" () {value=bool[3,4]{1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1}}\n" +
      "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v, %m) {}\noutput %a\n");
  EXPECT_EQ(ir::to_text(causal_masks(shifted)), ir::to_text(shifted));
}

TEST(PassGolden, ShareAttentionMasksConvertsABoolMaskOnceForItsReaders) {
  // Two attention layers read one bool padding mask (broadcast over heads and queries): one select
  // makes it additive for both. A mask only one layer reads stays bool.
  const std::string head =
      "input %q: float32[2,2,3,8]\ninput %k: float32[2,2,4,8]\ninput %v: float32[2,2,4,8]\ninput %m: bool[2,1,1,4]\n";
  expect_golden(share_attention_masks,
                head +
                    "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v, %m) {}\n"
                    "%b: float32[2,2,3,8] = attention \"b\" (%a, %k, %v, %m) {}\noutput %b\n",
                head +
                    "%m_keep: float32[] = constant \"m_keep\" () {value=float32[]{0}}\n"
                    "%m_drop: float32[] = constant \"m_drop\" () {value=float32[]{-inf}}\n"
                    "%m_additive: float32[2,1,1,4] = select \"m_additive\" (%m, %m_keep, %m_drop) {}\n"
                    "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v, %m_additive) {}\n"
                    "%b: float32[2,2,3,8] = attention \"b\" (%a, %k, %v, %m_additive) {}\noutput %b\n");
  ir::Graph single = ir::parse_text(head + "%a: float32[2,2,3,8] = attention \"a\" (%q, %k, %v, %m) {}\noutput %a\n");
  EXPECT_EQ(ir::to_text(share_attention_masks(single)), ir::to_text(single));
}

TEST(PassGolden, FusePointwiseMergesGroupsThatMeetAndKeepsLinkedOnesApart) {
  // Two chains meeting in one add (q * cos and rotate(q) * sign * sin) are one layer. In the second
  // network, the chain %b reads %a through a transpose (outside any group): %a's group and %b's
  // cannot merge without a cycle, so %c joins %b's and %a stays alone.
  ir::Graph g = ir::parse_text(
      "input %q: float32[2,4]\ninput %r: float32[2,4]\n"
      "%c1: float32[4] = constant \"c1\" () {value=float32[4]{1, 2, 3, 4}}\n"
      "%c2: float32[4] = constant \"c2\" () {value=float32[4]{-1, -1, 1, 1}}\n"
      "%m1: float32[2,4] = elementwise \"m1\" (%q, %c1) {op=\"mul\"}\n"
      "%e1: float32[2,4] = unary \"e1\" (%m1) {op=\"exp\"}\n"
      "%m2: float32[2,4] = elementwise \"m2\" (%r, %c2) {op=\"mul\"}\n"
      "%t2: float32[2,4] = unary \"t2\" (%m2) {op=\"tanh\"}\n"
      "%o: float32[2,4] = elementwise \"o\" (%e1, %t2) {op=\"add\"}\n"
      "output %o\n");
  ir::Graph out = fuse_pointwise(g);
  EXPECT_EQ(count_layers(out, LayerKind::kPointwise), 1) << ir::to_text(out);
  EXPECT_EQ(out.layers.size(), 3u) << ir::to_text(out);  // two constants and the fused layer
  expect_same_output(g, out, 1e-6, "merged groups");

  ir::Graph h = ir::parse_text(
      "input %x: float32[4,4]\n"
      "%a: float32[4,4] = unary \"a\" (%x) {op=\"exp\"}\n"
      "%t: float32[4,4] = transpose \"t\" (%a) {perm=[1, 0]}\n"
      "%b: float32[4,4] = unary \"b\" (%t) {op=\"neg\"}\n"
      "%b2: float32[4,4] = unary \"b2\" (%b) {op=\"tanh\"}\n"
      "%c: float32[4,4] = elementwise \"c\" (%a, %b2) {op=\"add\"}\n"
      "output %c\n");
  ir::Graph hout = fuse_pointwise(h);
  EXPECT_EQ(count_layers(hout, LayerKind::kPointwise), 1) << ir::to_text(hout);
  EXPECT_EQ(count_layers(hout, LayerKind::kUnary), 1) << ir::to_text(hout);  // %a alone
  expect_same_output(h, hout, 1e-6, "linked groups");
}

TEST(PassGolden, FusePointwiseReadsATransposedInputInPlace) {
  // A transpose that keeps the last dim, read by one add: the add becomes a fused layer reading x
  // through the transpose's strides (input_views), and the copy is gone.
  expect_golden(fuse_pointwise,
                "input %x: float32[2,3,4,5]\ninput %r: float32[2,4,3,5]\n"
                "%t: float32[2,4,3,5] = transpose \"t\" (%x) {perm=[0, 2, 1, 3]}\n"
                "%a: float32[2,4,3,5] = elementwise \"a\" (%t, %r) {op=\"add\"}\noutput %a\n",
                "input %x: float32[2,3,4,5]\ninput %r: float32[2,4,3,5]\n"
                "%t: float32[2,4,3,5] = transpose \"t\" (%x) {perm=[0, 2, 1, 3]}\n"
                "%a: float32[2,4,3,5] = pointwise \"a.fused\" (%x, %r) {body=\"input %t: float32[2,4,3,5]\\n"
                "input %r: float32[2,4,3,5]\\n%a: float32[2,4,3,5] = elementwise \\\"a\\\" (%t, %r) {op=\\\"add\\\"}\\n"
                "output %a\\n\", input_views=[0, 4, 2, 4, 3, 5, 60, 5, 20, 1, 0]}\noutput %a\n");
  // Swin's window reverse + residual: the [2, 14, 14, 8] input is a reshape of a transpose of
  // [2, 2, 2, 7, 7, 8]; the view keeps the transpose's finer dims, and the CPU kernel walks them.
  ir::Graph g = ir::parse_text(
      "input %w: float32[2,2,2,7,7,8]\ninput %r: float32[2,14,14,8]\n"
      "%t: float32[2,2,7,2,7,8] = transpose \"t\" (%w) {perm=[0, 1, 3, 2, 4, 5]}\n"
      "%v: float32[2,14,14,8] = reshape \"v\" (%t) {shape=[2, 14, 14, 8]}\n"
      "%a: float32[2,14,14,8] = elementwise \"a\" (%r, %v) {op=\"add\"}\noutput %a\n");
  ir::Graph out = eliminate_dead_layers(fuse_pointwise(g));
  ASSERT_EQ(out.layers.size(), 1u) << ir::to_text(out);
  EXPECT_EQ(out.layers[0].kind, LayerKind::kPointwise);
  EXPECT_EQ(ir::attr_ints(out.layers[0], "input_views"),
            (std::vector<int64_t>{1, 6, 2, 2, 7, 2, 7, 8, 1568, 784, 56, 392, 8, 1, 0}));
  expect_same_output(g, out, 1e-6, "window reverse read in place");
}

TEST(PassGolden, FusePointwiseReadsRotateHalfThroughANegativeStride) {
  // Llama's rotary embedding after recognize_rotate_half and compose_views: q is an as_strided copy
  // of the QKV projection, rotate_half(q) a gather of it by [4..7, 0..3]. The fused kernel reads both
  // from the projection in place: q through the copy's strides, the rotation through the same with
  // its last dim split in halves, the outer half-stride negative (-4) from an offset of 4; the copy
  // and the gather are gone, and the CPU kernel walks the negative stride to the same numbers.
  ir::Graph g = ir::parse_text(
      "input %m: float32[6,24]\n"
      "%cos: float32[3,8] = constant \"cos\" () {value=float32[3,8]}\n"
      "%sin: float32[3,8] = constant \"sin\" () {value=float32[3,8]}\n"
      "%idx: int64[8] = constant \"idx\" () {value=int64[8]{4, 5, 6, 7, 0, 1, 2, 3}}\n"
      "%sign: float32[8] = constant \"sign\" () {value=float32[8]{-1, -1, -1, -1, 1, 1, 1, 1}}\n"
      "%q: float32[2,2,3,8] = as_strided \"q\" (%m) {offset=0, shape=[2, 2, 3, 8], strides=[72, 8, 24, 1]}\n"
      "%rot: float32[2,2,3,8] = gather \"rot\" (%q, %idx) {axis=3, mode=\"take\"}\n"
      "%qc: float32[2,2,3,8] = elementwise \"qc\" (%q, %cos) {op=\"mul\"}\n"
      "%r: float32[2,2,3,8] = elementwise \"r\" (%rot, %sign) {op=\"mul\"}\n"
      "%rs: float32[2,2,3,8] = elementwise \"rs\" (%r, %sin) {op=\"mul\"}\n"
      "%o: float32[2,2,3,8] = elementwise \"o\" (%qc, %rs) {op=\"add\"}\noutput %o\n");
  ir::Graph out = eliminate_dead_layers(fuse_pointwise(g));
  EXPECT_EQ(count_layers(out, LayerKind::kGather), 0) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kAsStrided), 0) << ir::to_text(out);
  ASSERT_EQ(count_layers(out, LayerKind::kPointwise), 1) << ir::to_text(out);
  const ir::Layer& f = *std::find_if(out.layers.begin(), out.layers.end(),
                                     [](const ir::Layer& l) { return l.kind == LayerKind::kPointwise; });
  EXPECT_EQ(ir::attr_ints(f, "input_views"),
            (std::vector<int64_t>{0, 4, 2, 2, 3, 8, 72, 8, 24, 1, 0, 2, 5, 2, 2, 3, 2, 4, 72, 8, 24, -4, 1, 4}));
  expect_same_output(g, out, 1e-6, "rotary embedding read in place");
  // A view reaching before its tensor's first element is refused where the layer is checked.
  std::string bad = ir::to_text(out);
  const std::string from = "-4, 1, 4]", to = "-4, 1, 3]";
  ASSERT_NE(bad.find(from), std::string::npos);
  bad.replace(bad.find(from), from.size(), to);
  EXPECT_THROW(ir::parse_text(bad), Error);
}

TEST(PassGolden, MergeSiblingCopiesMakesOneKernelWithAnOutputEach) {
  // GPT-2's key and value heads: two strided copies of the QKV projection into [B, H, S, D] become
  // one fused layer with two outputs reading it through each copy's strides. A third copy nothing
  // reads (attention reads q through strides) is not computed again (the pass drops the dead
  // layers first), and a copy of another shape stays as it is.
  expect_golden(merge_sibling_copies,
                "input %m: float32[6,24]\n"
                "%k: float32[2,2,3,4] = as_strided \"k\" (%m) {offset=8, shape=[2, 2, 3, 4], strides=[72, 4, 24, 1]}\n"
                "%q: float32[2,2,3,4] = as_strided \"q\" (%m) {offset=0, shape=[2, 2, 3, 4], strides=[72, 4, 24, 1]}\n"
                "%v: float32[2,2,3,4] = as_strided \"v\" (%m) {offset=16, shape=[2, 2, 3, 4], strides=[72, 4, 24, 1]}\n"
                "%t: float32[24,6] = as_strided \"t\" (%m) {offset=0, shape=[24, 6], strides=[1, 24]}\n"
                "output %k\noutput %v\noutput %t\n",
                "input %m: float32[6,24]\n"
                "%k: float32[2,2,3,4], %v: float32[2,2,3,4] = pointwise \"k.copies\" (%m, %m) {body=\"input %in0: "
                "float32[2,2,3,4]\\ninput %in1: float32[2,2,3,4]\\n%copy0: float32[2,2,3,4] = cast \\\"copy0\\\" (%in0) "
                "{dtype=\\\"float32\\\"}\\n%copy1: float32[2,2,3,4] = cast \\\"copy1\\\" (%in1) {dtype=\\\"float32\\\"}"
                "\\noutput %copy0\\noutput %copy1\\n\", input_views=[0, 4, 2, 2, 3, 4, 72, 4, 24, 1, 8, 1, 4, 2, 2, 3, 4, "
                "72, 4, 24, 1, 16]}\n"
                "%t: float32[24,6] = as_strided \"t\" (%m) {offset=0, shape=[24, 6], strides=[1, 24]}\n"
                "output %k\noutput %v\noutput %t\n");
}

TEST(PassGolden, FusePointwiseReadsAConcatInPlace) {
  // DenseNet's layer in NHWC: the concatenation of the features so far, its batch norm as scale and
  // shift, ReLU: one layer reading the three pieces where they are (the concat is never written).
  // Across the channels of NHWC, and across NCHW's channels (the axis between merged dims).
  for (const char* layout : {"nhwc", "nchw"}) {
    const bool nhwc = std::string(layout) == "nhwc";
    auto dims = [&](int c) {
      return nhwc ? "[2,3,5," + std::to_string(c) + "]" : "[2," + std::to_string(c) + ",3,5]";
    };
    const std::string cdims = nhwc ? "[7]" : "[7,1,1]";
    const int axis = nhwc ? 3 : 1;
    ir::Graph g = ir::parse_text(
        "input %a: float32" + dims(2) + "\ninput %b: float32" + dims(3) + "\ninput %c: float32" + dims(2) + "\n"
        "%s: float32" + cdims + " = constant \"s\" () {value=float32" + cdims + "{1, -2, 0.5, 3, -1, 2, 0.25}}\n"
        "%t: float32" + cdims + " = constant \"t\" () {value=float32" + cdims + "{0, 1, -1, 0.5, 2, -0.5, 1}}\n"
        "%cat: float32" + dims(7) + " = concat \"cat\" (%a, %b, %c) {axis=" + std::to_string(axis) + "}\n"
        "%m: float32" + dims(7) + " = elementwise \"m\" (%cat, %s) {op=\"mul\"}\n"
        "%n: float32" + dims(7) + " = elementwise \"n\" (%m, %t) {op=\"add\"}\n"
        "%r: float32" + dims(7) + " = activation \"r\" (%n) {op=\"relu\"}\n"
        "output %r\n");
    ir::Graph out = fuse_pointwise(g);
    EXPECT_EQ(count_layers(out, LayerKind::kConcat), 0) << ir::to_text(out);
    EXPECT_EQ(count_layers(out, LayerKind::kPointwise), 1) << ir::to_text(out);
    expect_same_output(g, out, 1e-6, std::string("concat read in place, ") + layout);
  }
  // A concat whose result is also a network output is written too, by the same layer; a concat of
  // a piece one channel wide stays (the piece could be read broadcast).
  ir::Graph h = ir::parse_text(
      "input %a: float32[2,4]\ninput %b: float32[2,3]\ninput %u: float32[2,1]\n"
      "%cat: float32[2,7] = concat \"cat\" (%a, %b) {axis=1}\n"
      "%e: float32[2,7] = unary \"e\" (%cat) {op=\"exp\"}\n"
      "%cu: float32[2,5] = concat \"cu\" (%a, %u) {axis=1}\n"
      "%eu: float32[2,5] = unary \"eu\" (%cu) {op=\"exp\"}\n"
      "%fu: float32[2,5] = unary \"fu\" (%eu) {op=\"neg\"}\n"
      "output %e\noutput %cat\noutput %fu\n");
  ir::Graph hout = fuse_pointwise(h);
  // A concat of a smaller shape that broadcasts into a group stays a group of its own (the fused
  // kernel reads a concat at the iteration shape's coordinates).
  ir::Graph k = ir::parse_text(
      "input %a: float32[1,2]\ninput %b: float32[1,3]\ninput %x: float32[4,5]\n"
      "%cat: float32[1,5] = concat \"cat\" (%a, %b) {axis=1}\n"
      "%e: float32[1,5] = unary \"e\" (%cat) {op=\"exp\"}\n"
      "%m: float32[4,5] = elementwise \"m\" (%x, %e) {op=\"mul\"}\n"
      "%t: float32[4,5] = unary \"t\" (%m) {op=\"tanh\"}\n"
      "output %t\n");
  ir::Graph kout = fuse_pointwise(k);
  EXPECT_EQ(count_layers(kout, LayerKind::kPointwise), 2) << ir::to_text(kout);
  expect_same_output(k, kout, 1e-6, "broadcast concat group");
  EXPECT_EQ(count_layers(hout, LayerKind::kConcat), 1) << ir::to_text(hout);  // %cu
  EXPECT_EQ(count_layers(hout, LayerKind::kPointwise), 2) << ir::to_text(hout);
  std::vector<HostTensor> in = random_inputs(h);
  std::vector<HostTensor> want = run_graph(h, in), got = run_graph(hout, in);
  for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i].dims, want[i].values(), 1e-6, "outputs");
}

TEST(PassGolden, FusePointwiseKeepsGroupsConvex) {
  // e reads both the chain's head (a) and, through the reduce-and-expand, its own group's value:
  // fusing e into a's group would need the reduce inside the group, so e starts its own group.
  ir::Graph g = ir::parse_text(
      "input %x: float32[4,3]\n"
      "%a: float32[4,3] = unary \"a\" (%x) {op=\"exp\"}\n"
      "%b: float32[4,3] = activation \"b\" (%a) {op=\"relu\"}\n"
      "%r: float32[4,1] = reduce \"r\" (%b) {axes=[1], keepdim=1, op=\"sum\"}\n"
      "%e: float32[4,3] = elementwise \"e\" (%b, %r) {op=\"div\"}\n"
      "%f: float32[4,3] = unary \"f\" (%e) {op=\"log\"}\n"
      "output %f\n");
  ir::Graph out = fuse_pointwise(g);
  std::vector<LayerKind> kinds;
  for (const ir::Layer& l : out.layers) kinds.push_back(l.kind);
  EXPECT_EQ(kinds, (std::vector<LayerKind>{LayerKind::kPointwise, LayerKind::kReduce, LayerKind::kPointwise}))
      << ir::to_text(out);
  expect_same_output(g, out, 1e-5, "softmax-like chain");
}

TEST(PassGolden, FusePointwiseLeavesIntegerAndLoneLayers) {
  ir::Graph g = ir::parse_text(
      "input %i: int64[5]\n"
      "input %x: float32[5]\n"
      "%j: int64[5] = elementwise \"j\" (%i, %i) {op=\"add\"}\n"
      "%k: int64[5] = elementwise \"k\" (%j, %i) {op=\"mul\"}\n"
      "%y: float32[5] = unary \"y\" (%x) {op=\"exp\"}\n"
      "output %k\n"
      "output %y\n");
  EXPECT_EQ(ir::to_text(fuse_pointwise(g)), ir::to_text(g));
}

TEST(PassGolden, ChannelsLastKeepsARegionNHWCAndConvertsAtItsEdges) {
  // conv -> (bias [4,1,1]) -> max pool -> adaptive pool -> flatten, with the conv's output also a
  // network output: one transpose in, the weight and the broadcast constant permuted at build, one
  // transpose back for the output, and a reshape (no copy) where [N,1,1,C] meets the flatten.
  expect_golden(channels_last,
                "input %x: float16[2,3,5,6]\n"
                "%w: float16[4,3,1,3] = constant \"w\" () {value=float16[4,3,1,3]}\n"
                "%c: float16[2,4,5,6] = convolution \"c\" (%x, %w, none) {padding=[0, 1], activation=\"relu\"}\n"
                "%s: float16[4,1,1] = constant \"s\" () {value=float16[4,1,1]{1, -2, 0.5, 4}}\n"
                "%m: float16[2,4,5,6] = elementwise \"m\" (%c, %s) {op=\"mul\"}\n"
                "%p: float16[2,4,3,3] = pooling \"p\" (%m) {mode=\"max\", kernel=[2, 2], ceil_mode=1}\n"
                "%a: float16[2,4,1,1] = adaptive_pooling \"a\" (%p) {mode=\"avg\", output_size=[1, 1]}\n"
                "%f: float16[2,4] = reshape \"f\" (%a) {shape=[2, 4]}\n"
                "output %f\n"
                "output %m\n",
                "input %x: float16[2,3,5,6]\n"
                "%w: float16[4,3,1,3] = constant \"w\" () {value=float16[4,3,1,3]}\n"
                "%x.to_nhwc: float16[2,5,6,3] = transpose \"x.to_nhwc\" (%x) {perm=[0, 2, 3, 1]}\n"
                "%w.nhwc: float16[4,1,3,3] = constant \"w.nhwc\" () {value=float16[4,1,3,3]}\n"
                "%c: float16[2,5,6,4] = convolution \"c\" (%x.to_nhwc, %w.nhwc, none) "
                "{activation=\"relu\", layout=\"nhwc\", padding=[0, 1]}\n"
                "%s: float16[4,1,1] = constant \"s\" () {value=float16[4,1,1]{1, -2, 0.5, 4}}\n"
                "%s.nhwc: float16[1,1,1,4] = constant \"s.nhwc\" () {value=float16[1,1,1,4]{1, -2, 0.5, 4}}\n"
                "%m.nhwc: float16[2,5,6,4] = elementwise \"m\" (%c, %s.nhwc) {op=\"mul\"}\n"
                "%p: float16[2,3,3,4] = pooling \"p\" (%m.nhwc) {ceil_mode=1, kernel=[2, 2], layout=\"nhwc\", mode=\"max\"}\n"
                "%a: float16[2,1,1,4] = adaptive_pooling \"a\" (%p) {layout=\"nhwc\", mode=\"avg\", output_size=[1, 1]}\n"
                "%a.to_nchw: float16[2,4,1,1] = reshape \"a.to_nchw\" (%a) {shape=[2, 4, 1, 1]}\n"
                "%f: float16[2,4] = reshape \"f\" (%a.to_nchw) {shape=[2, 4]}\n"
                "%m: float16[2,4,5,6] = transpose \"m.to_nchw\" (%m.nhwc) {perm=[0, 3, 1, 2]}\n"
                "output %f\n"
                "output %m\n",
                2e-3);
}

TEST(PassGolden, ChannelsLastTakesPadsIntoTheRegion) {
  // TensorFlow-style "same" padding (HF's MobileNetV2, EfficientNet): an explicit asymmetric pad
  // before each convolution. The pad joins the region with its begins and ends moved to NHWC axes.
  expect_golden(channels_last,
                "input %x: float16[1,2,5,6]\n"
                "%w: float16[3,2,3,3] = constant \"w\" () {value=float16[3,2,3,3]}\n"
                "%p: float16[1,2,6,9] = pad \"p\" (%x) {pads=[0, 0, 0, 1, 0, 0, 1, 2]}\n"
                "%c: float16[1,3,2,4] = convolution \"c\" (%p, %w, none) {stride=[2, 2]}\n"
                "%q: float16[1,3,4,6] = pad \"q\" (%c) {pads=[0, 0, 1, 1, 0, 0, 1, 1], mode=\"reflect\"}\n"
                "%w2: float16[3,3,3,3] = constant \"w2\" () {value=float16[3,3,3,3]}\n"
                "%d: float16[1,3,2,4] = convolution \"d\" (%q, %w2, none) {}\n"
                "output %d\n",
                "input %x: float16[1,2,5,6]\n"
                "%w: float16[3,2,3,3] = constant \"w\" () {value=float16[3,2,3,3]}\n"
                "%x.to_nhwc: float16[1,5,6,2] = transpose \"x.to_nhwc\" (%x) {perm=[0, 2, 3, 1]}\n"
                "%p: float16[1,6,9,2] = pad \"p\" (%x.to_nhwc) {pads=[0, 0, 1, 0, 0, 1, 2, 0]}\n"
                "%w.nhwc: float16[3,3,3,2] = constant \"w.nhwc\" () {value=float16[3,3,3,2]}\n"
                "%c: float16[1,2,4,3] = convolution \"c\" (%p, %w.nhwc, none) {layout=\"nhwc\", stride=[2, 2]}\n"
                "%q: float16[1,4,6,3] = pad \"q\" (%c) {mode=\"reflect\", pads=[0, 1, 1, 0, 0, 1, 1, 0]}\n"
                "%w2: float16[3,3,3,3] = constant \"w2\" () {value=float16[3,3,3,3]}\n"
                "%w2.nhwc: float16[3,3,3,3] = constant \"w2.nhwc\" () {value=float16[3,3,3,3]}\n"
                "%d.nhwc: float16[1,2,4,3] = convolution \"d\" (%q, %w2.nhwc, none) {layout=\"nhwc\"}\n"
                "%d: float16[1,3,2,4] = transpose \"d.to_nchw\" (%d.nhwc) {perm=[0, 3, 1, 2]}\n"
                "output %d\n",
                2e-3);
}

TEST(PassGolden, ChannelsLastTakesReductionsOverSpatialDims) {
  // Squeeze-excite as PyTorch writes it: mean over H, W (keepdim) scales the conv's output; the
  // global mean without keepdim gives [N, C] in either layout. Only the input is transposed.
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,8,5,5]\n"
      "%w: float16[8,8,3,3] = constant \"w\" () {value=float16[8,8,3,3]}\n"
      "%c: float16[2,8,5,5] = convolution \"c\" (%x, %w, none) {padding=[1, 1]}\n"
      "%m: float16[2,8,1,1] = reduce \"m\" (%c) {axes=[2, 3], keepdim=1, op=\"mean\"}\n"
      "%s: float16[2,8,1,1] = activation \"s\" (%m) {op=\"sigmoid\"}\n"
      "%e: float16[2,8,5,5] = elementwise \"e\" (%c, %s) {op=\"mul\"}\n"
      "%g: float16[2,8] = reduce \"g\" (%e) {axes=[-1, -2], op=\"sum\"}\n"
      "output %g\n");
  ir::Graph out = channels_last(g);
  int transposes = 0;
  for (const ir::Layer& l : out.layers) {
    transposes += l.kind == LayerKind::kTranspose;
    if (l.kind == LayerKind::kReduce) EXPECT_EQ(ir::attr_ints(l, "axes"), (std::vector<int64_t>{1, 2})) << l.name;
  }
  EXPECT_EQ(transposes, 1) << ir::to_text(out);
  expect_same_output(g, out, 2e-2, "squeeze-excite in NHWC");

  // A longer reduction (81 elements per output, a global mean without keepdim) reads NHWC too (the
  // CUDA reduce's column kernel): no transpose feeds it.
  ir::Graph big = ir::parse_text(
      "input %x: float16[1,8,9,9]\n"
      "%w: float16[8,8,1,1] = constant \"w\" () {value=float16[8,8,1,1]}\n"
      "%c: float16[1,8,9,9] = convolution \"c\" (%x, %w, none) {}\n"
      "%m: float16[1,8] = reduce \"m\" (%c) {axes=[2, 3], op=\"mean\"}\n"
      "output %m\n");
  ir::Graph big_out = channels_last(big);
  ASSERT_GE(big_out.layers.size(), 2u);
  const ir::Layer& before_reduce = big_out.layers[big_out.layers.size() - 2];
  EXPECT_EQ(before_reduce.kind, LayerKind::kConvolution) << ir::to_text(big_out);
  EXPECT_EQ(ir::attr_ints(big_out.layers.back(), "axes"), (std::vector<int64_t>{1, 2}));
  expect_same_output(big, big_out, 2e-2, "a global mean in NHWC");
}

TEST(PassGolden, ChannelsLastLeavesFloat32AndLayoutBoundNetworks) {
  // float32 convolutions keep NCHW; so does a float16 one whose output only a softmax over C reads
  // (the region is the conv alone: still NHWC inside, with conversions at both ends).
  const std::string f32 =
      "input %x: float32[1,2,4,4]\n"
      "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
      "%c: float32[1,3,4,4] = convolution \"c\" (%x, %w, none) {padding=[1, 1]}\n"
      "output %c\n";
  expect_golden(channels_last, f32, f32);
  ir::Graph g = ir::parse_text(
      "input %x: float16[1,2,4,4]\n"
      "%w: float16[3,2,3,3] = constant \"w\" () {value=float16[3,2,3,3]}\n"
      "%c: float16[1,3,4,4] = convolution \"c\" (%x, %w, none) {padding=[1, 1]}\n"
      "%s: float16[1,3,4,4] = softmax \"s\" (%c) {axis=1}\n"
      "output %s\n");
  ir::Graph out = channels_last(g);
  int transposes = 0;
  for (const ir::Layer& l : out.layers) transposes += l.kind == LayerKind::kTranspose;
  EXPECT_EQ(transposes, 2) << ir::to_text(out);
  EXPECT_EQ(out.tensors[out.outputs[0]].name, "s");
  expect_same_output(g, out, 2e-3, "softmax after an NHWC conv");
}

TEST(PassGolden, ChannelsLastFloat32TakesFloat32RegionsWithConstantWeights) {
  // The CPU's variant: a float32 convolution by a constant weight turns its region NHWC (the
  // numeric check runs the CPU engine both ways); one whose weight is an input does not.
  expect_golden(channels_last_float32,
                "input %x: float32[1,2,4,4]\n"
                "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                "%c: float32[1,3,4,4] = convolution \"c\" (%x, %w, none) {padding=[1, 1], activation=\"relu6\"}\n"
                "%p: float32[1,3,2,2] = pooling \"p\" (%c) {mode=\"max\", kernel=[2, 2]}\n"
                "output %p\n",
                "input %x: float32[1,2,4,4]\n"
                "%w: float32[3,2,3,3] = constant \"w\" () {value=float32[3,2,3,3]}\n"
                "%x.to_nhwc: float32[1,4,4,2] = transpose \"x.to_nhwc\" (%x) {perm=[0, 2, 3, 1]}\n"
                "%w.nhwc: float32[3,3,3,2] = constant \"w.nhwc\" () {value=float32[3,3,3,2]}\n"
                "%c: float32[1,4,4,3] = convolution \"c\" (%x.to_nhwc, %w.nhwc, none) "
                "{activation=\"relu6\", layout=\"nhwc\", padding=[1, 1]}\n"
                "%p.nhwc: float32[1,2,2,3] = pooling \"p\" (%c) {kernel=[2, 2], layout=\"nhwc\", mode=\"max\"}\n"
                "%p: float32[1,3,2,2] = transpose \"p.to_nchw\" (%p.nhwc) {perm=[0, 3, 1, 2]}\n"
                "output %p\n");
  const std::string input_weight =
      "input %x: float32[1,2,4,4]\n"
      "input %w: float32[3,2,3,3]\n"
      "%c: float32[1,3,4,4] = convolution \"c\" (%x, %w, none) {padding=[1, 1]}\n"
      "output %c\n";
  expect_golden(channels_last_float32, input_weight, input_weight);
}

TEST(FusedPointwise, InterpreterMatchesTheLayersInEveryFloatDtypeWithBroadcasts) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    std::string dt = to_string(t);
    ir::Graph g = ir::parse_text(
        "input %x: " + dt + "[3,1,37]\n"
        "input %y: " + dt + "[5,1]\n"
        "input %c: bool[37]\n"
        "%s: " + dt + "[3,5,37] = elementwise \"s\" (%x, %y) {op=\"sub\"}\n"
        "%t: " + dt + "[3,5,37] = activation \"t\" (%s) {alpha=0.2, op=\"leaky_relu\"}\n"
        "%u: " + dt + "[3,5,37] = select \"u\" (%c, %t, %s)\n"
        "%v: float32[3,5,37] = cast \"v\" (%u) {dtype=\"float32\"}\n"
        "%w: float32[3,5,37] = unary \"w\" (%v) {op=\"tanh\"}\n"
        "%z: bool[3,5,37] = elementwise \"z\" (%w, %v) {op=\"lt\"}\n"
        "output %w\n"
        "output %z\n");
    ir::Graph out = fuse_pointwise(g);
    ASSERT_EQ(out.layers.size(), 1u) << ir::to_text(out);
    std::vector<HostTensor> in = random_inputs(g);
    std::vector<HostTensor> want = run_graph(g, in), got = run_graph(out, in);
    // Unfused, s, t and u round to the dtype; fused, they stay in float32 until the cast.
    double tol = t == DataType::kFloat32 ? 1e-6 : t == DataType::kFloat16 ? 2e-3 : 1.6e-2;
    expect_close(got[0], want[0].dims, want[0].values(), tol, dt + " tanh");
    int differ = 0;
    for (int64_t i = 0; i < got[1].numel(); ++i) differ += got[1].get(i) != want[1].get(i);
    EXPECT_EQ(differ, 0) << dt;
  }
}

TEST(Pipeline, RunsThePassesOfTheDeviceAndLevel) {
  ir::Graph g = ir::parse_text(
      "input %x: float32[4,3]\n"
      "%w: float32[3,5] = constant \"w\" () {value=float32[3,5]}\n"
      "%mm: float32[4,5] = matmul \"mm\" (%x, %w) {}\n"
      "%act: float32[4,5] = activation \"act\" (%mm) {op=\"relu\"}\n"
      "%dead: float32[4,5] = unary \"dead\" (%act) {op=\"exp\"}\n"
      "output %act\n");
  BuilderConfig cpu;
  ir::Graph cpu_out = opt::optimize(g, cpu, {});
  EXPECT_EQ(cpu_out.layers.size(), 2u);  // the dead layer gone, the relu folded into the matmul
  cpu.optimization_level = 0;
  EXPECT_EQ(opt::optimize(g, cpu, {}).layers.size(), 4u);  // level 0 runs no pass
  BuilderConfig cuda;
  cuda.device = DeviceKind::kCUDA;
  EXPECT_EQ(opt::optimize(g, cuda, {}).layers.size(), 2u);  // relu folded into the matmul
  opt::OptimizeOptions off;
  off.disabled = {"fuse_epilogues"};  // fuse_epilogues_after_layout, later, still takes the relu
  EXPECT_EQ(opt::optimize(g, cuda, off).layers.size(), 2u);
  off.disabled = {"fuse_epilogues", "fuse_epilogues_after_layout"};
  EXPECT_EQ(opt::optimize(g, cuda, off).layers.size(), 3u);
  std::set<std::string> names;
  for (const opt::Pass& p : opt::pipeline()) EXPECT_TRUE(names.insert(p.name).second) << p.name;
}

TEST(Pipeline, TheCUDAPipelineSharesAnEncodersPaddingMask) {
  // Two attention layers of an encoder in float16 read one bool padding mask from the input (the
  // second layer's query a projection of the first's output): through every CUDA pass one select
  // makes the mask additive for both, and the CPU kernels give the same outputs.
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,2,5,8]\ninput %k: float16[2,2,5,8]\ninput %v: float16[2,2,5,8]\n"
      "input %m: bool[2,1,1,5]\n"
      "%a: float16[2,2,5,8] = attention \"a\" (%x, %k, %v, %m) {}\n"
      "%w: float16[8,8] = constant \"w\" () {value=float16[8,8]}\n"
      "%p: float16[2,2,5,8] = matmul \"p\" (%a, %w) {}\n"
      "%b: float16[2,2,5,8] = attention \"b\" (%p, %k, %v, %m) {}\n"
      "output %b\n");
  ir::Graph out = cuda_pipeline(g);
  EXPECT_EQ(count_layers(out, LayerKind::kSelect) + count_layers(out, LayerKind::kPointwise), 1) << ir::to_text(out);
  for (const ir::Layer& l : out.layers)
    if (l.kind == LayerKind::kAttention) EXPECT_EQ(out.tensors[l.inputs[3]].dtype, DataType::kFloat16) << ir::to_text(out);
  expect_same_output(g, out, 2e-2, "encoder with a shared padding mask");
}

TEST(Pipeline, TheCUDAPipelineKeepsAResidualNetworksResultsOnTheCPU) {
  // A ResNet stage in float16 (stem, max pool, a block whose shortcut is downsampled, global
  // pooling, a classifier) through every CUDA pass, then run by the CPU kernels: the same outputs.
  const std::string bn = "%m, %v, %g, %be) {eps=0.00001}\n";
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,3,16,16]\n"
      "%m: float16[8] = constant \"m\" () {value=float16[8]{0.1, -0.2, 0.3, 0, 0.5, -0.1, 0.2, 0}}\n"
      "%v: float16[8] = constant \"v\" () {value=float16[8]{1, 2, 0.5, 1, 1.5, 1, 0.75, 1}}\n"
      "%g: float16[8] = constant \"g\" () {value=float16[8]{1, 0.5, 1, 2, 1, 1, 0.5, 1}}\n"
      "%be: float16[8] = constant \"be\" () {value=float16[8]{0, 0.1, -0.1, 0, 0.2, 0, 0, -0.2}}\n"
      "%ws: float16[8,3,3,3] = constant \"ws\" () {value=float16[8,3,3,3]}\n"
      "%s: float16[2,8,8,8] = convolution \"s\" (%x, %ws, none) {padding=[1, 1], stride=[2, 2]}\n"
      "%sb: float16[2,8,8,8] = batch_norm \"sb\" (%s, " + bn +
      "%sr: float16[2,8,8,8] = activation \"sr\" (%sb) {op=\"relu\"}\n"
      "%p: float16[2,8,4,4] = pooling \"p\" (%sr) {mode=\"max\", kernel=[3, 3], stride=[2, 2], padding=[1, 1]}\n"
      "%w1: float16[8,8,3,3] = constant \"w1\" () {value=float16[8,8,3,3]}\n"
      "%c1: float16[2,8,2,2] = convolution \"c1\" (%p, %w1, none) {padding=[1, 1], stride=[2, 2]}\n"
      "%b1: float16[2,8,2,2] = batch_norm \"b1\" (%c1, " + bn +
      "%wd: float16[8,8,1,1] = constant \"wd\" () {value=float16[8,8,1,1]}\n"
      "%d: float16[2,8,2,2] = convolution \"d\" (%p, %wd, none) {stride=[2, 2]}\n"
      "%db: float16[2,8,2,2] = batch_norm \"db\" (%d, " + bn +
      "%a: float16[2,8,2,2] = elementwise \"a\" (%b1, %db) {op=\"add\"}\n"
      "%ar: float16[2,8,2,2] = activation \"ar\" (%a) {op=\"relu\"}\n"
      "%gp: float16[2,8,1,1] = adaptive_pooling \"gp\" (%ar) {mode=\"avg\", output_size=[1, 1]}\n"
      "%f: float16[2,8] = reshape \"f\" (%gp) {shape=[2, 8]}\n"
      "%wc: float16[8,5] = constant \"wc\" () {value=float16[8,5]}\n"
      "%o: float16[2,5] = matmul \"o\" (%f, %wc) {}\n"
      "output %o\n");
  ir::Graph out = cuda_pipeline(g);
  EXPECT_EQ(count_layers(out, LayerKind::kBatchNorm), 0) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kConvolution), 3) << ir::to_text(out);
  // the input only: the classifier reads [N,1,1,C]
  EXPECT_EQ(count_layers(out, LayerKind::kTranspose), 1) << ir::to_text(out);
  expect_same_output(g, out, 3e-2, "CUDA pipeline on the CPU");
}

TEST(Inspector, ListsWhatEachLayerHoldsAndSurvivesSerialization) {
  // Fused layers name every network layer they compute; a conversion the optimizer inserted names
  // none; the origins are written to the engine file and read back.
  ir::Graph g = ir::parse_text(
      "input %x: float16[1,8,4,4]\n"
      "%w: float16[8,8,1,1] = constant \"w\" () {value=float16[8,8,1,1]}\n"
      "%c: float16[1,8,4,4] = convolution \"c\" (%x, %w, none) {}\n"
      "%r: float16[1,8,4,4] = activation \"r\" (%c) {op=\"relu\"}\n"
      "%e: float16[1,8,4,4] = unary \"e\" (%r) {op=\"exp\"}\n"
      "%t: float16[1,8,4,4] = unary \"t\" (%e) {op=\"tanh\"}\n"
      "output %t\n");
  ir::Graph out = eliminate_dead_layers(fuse_pointwise(channels_last(fuse_epilogues(g))));
  Engine engine(assemble_engine(out, BuilderConfig{}, {}));
  const std::string json = engine.inspect_json();
  EXPECT_NE(json.find("\"origins\": [\"c\", \"r\"]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"origins\": [\"e\", \"t\"]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"origins\": []"), std::string::npos) << json;  // the layout conversions
  EXPECT_NE(json.find("\"layout\": \"nhwc\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"layers_run_per_call\": 4"), std::string::npos) << json;  // in, conv, fused, out
  EXPECT_NE(engine.inspect().find("holds: c r"), std::string::npos) << engine.inspect();
  std::vector<uint8_t> bytes = engine.serialize();
  Engine back = Engine::deserialize(bytes.data(), bytes.size());
  EXPECT_EQ(back.inspect_json(), json);
}

TEST(Pipeline, DisablingAnUnknownPassIsAnError) {
  setenv("TENSORFORGE_DISABLE_PASSES", "fuse_epilogues,no_such_pass", 1);
  expect_error([] { opt::options_from_environment(); }, ErrorCode::kInvalidArgument,
               {"'no_such_pass'", "eliminate_dead_layers"});
  unsetenv("TENSORFORGE_DISABLE_PASSES");
}

TEST(Pipeline, DumpsTheNetworkAfterEachPass) {
  std::string dir = ::testing::TempDir() + "tf_dump_passes";
  std::filesystem::remove_all(dir);  // no file of an earlier run may answer for this one; the dump creates it
  ir::Graph g = ir::parse_text(
      "input %x: float32[2]\n%a: float32[2] = activation \"a\" (%x) {op=\"relu\"}\n"
      "%d: float32[2] = unary \"d\" (%x) {op=\"exp\"}\noutput %a\n");
  opt::OptimizeOptions o;
  o.dump_dir = dir;
  opt::optimize(g, BuilderConfig{}, o);
  // The CPU's passes, in order; eliminate_dead_layers, the last, has the highest number.
  const size_t last = opt::pipeline().size() - 1;
  int cpu_passes = 0;
  for (const opt::Pass& p : opt::pipeline()) cpu_passes += (p.devices & opt::kOnCPU) != 0;
  ASSERT_EQ(std::string(opt::pipeline()[last].name), "eliminate_dead_layers");
  char name[64];
  std::snprintf(name, sizeof name, "/%02d-eliminate_dead_layers.txt", cpu_passes);
  std::ifstream first(dir + "/00-input.txt"), second(dir + name);
  ASSERT_TRUE(second.good()) << name;
  std::string a((std::istreambuf_iterator<char>(first)), {}), b((std::istreambuf_iterator<char>(second)), {});
  EXPECT_NE(a.find("unary \"d\""), std::string::npos);
  EXPECT_EQ(b.find("unary \"d\""), std::string::npos);
  EXPECT_EQ(ir::to_text(ir::parse_text(b)), b);
}

}  // namespace
}  // namespace tft

namespace tft {
namespace {

TEST(Pipeline, TheCUDAPipelineKeepsADenseBlockChannelsLast) {
  // Two DenseNet layers in float16 (each: concatenate everything so far, batch norm, ReLU,
  // convolution): the batch norms on the concatenations become multiply + add (batch_norm_to_affine),
  // so the block stays channels last with one transpose (the input's) and each norm + ReLU is one
  // fused pointwise layer; the CPU kernels give the same outputs.
  auto bn = [](const std::string& name, const std::string& in, int c) {
    std::string v = "float16[" + std::to_string(c) + "]";
    std::string ones, ramp;
    for (int i = 0; i < c; ++i) {
      ones += (i ? ", " : "") + std::string("1");
      ramp += (i ? ", " : "") + std::to_string(0.1 * (i % 5));
    }
    return "%" + name + "m: " + v + " = constant \"" + name + "m\" () {value=" + v + "{" + ramp + "}}\n" +
           "%" + name + "v: " + v + " = constant \"" + name + "v\" () {value=" + v + "{" + ones + "}}\n" +
           "%" + name + ": float16[2," + std::to_string(c) + ",8,8] = batch_norm \"" + name + "\" (%" + in + ", %" +
           name + "m, %" + name + "v) {eps=0.00001}\n";
  };
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,8,8,8]\n"
      "%w0: float16[4,8,3,3] = constant \"w0\" () {value=float16[4,8,3,3]}\n"
      "%c0: float16[2,4,8,8] = convolution \"c0\" (%x, %w0, none) {padding=[1, 1]}\n"
      "%k0: float16[2,12,8,8] = concat \"k0\" (%x, %c0) {axis=1}\n" +
      bn("n0", "k0", 12) +
      "%r0: float16[2,12,8,8] = activation \"r0\" (%n0) {op=\"relu\"}\n"
      "%w1: float16[4,12,1,1] = constant \"w1\" () {value=float16[4,12,1,1]}\n"
      "%c1: float16[2,4,8,8] = convolution \"c1\" (%r0, %w1, none) {}\n"
      "%k1: float16[2,16,8,8] = concat \"k1\" (%x, %c0, %c1) {axis=1}\n" +
      bn("n1", "k1", 16) +
      "%r1: float16[2,16,8,8] = activation \"r1\" (%n1) {op=\"relu\"}\n"
      "%gp: float16[2,16,1,1] = adaptive_pooling \"gp\" (%r1) {mode=\"avg\", output_size=[1, 1]}\n"
      "%f: float16[2,16] = reshape \"f\" (%gp) {shape=[2, 16]}\n"
      "output %f\n");
  ir::Graph out = cuda_pipeline(g);
  EXPECT_EQ(count_layers(out, LayerKind::kBatchNorm), 0) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kTranspose), 1) << ir::to_text(out);
  EXPECT_EQ(count_layers(out, LayerKind::kPointwise), 2) << ir::to_text(out);
  expect_same_output(g, out, 3e-2, "CUDA pipeline on the CPU");
}

// A memo that counts what passes derive through it, by kind, and makes every constant itself.
class CountingMemo : public opt::ConstantMemo {
 public:
  Weights derive(const std::string& kind, const std::vector<Weights>& sources,
                 const std::function<Weights()>& make) override {
    kinds.push_back(kind.substr(0, kind.find(' ')));
    return make();
  }
  std::vector<std::string> kinds;
};

TEST(PassGolden, FoldedAndPermutedWeightsGoThroughTheMemo) {
  // A dynamic engine's plans run these passes at every size: the folded weight and the NHWC weight
  // are derived through the memo a plan's build installs (opt/constant_memo.h), not remade.
  const ir::Graph g = ir::parse_text(
      "input %x: float16[2,3,5,6]\n"
      "%w: float16[4,3,3,3] = constant \"w\" () {value=float16[4,3,3,3]}\n"
      "%c: float16[2,4,5,6] = convolution \"c\" (%x, %w, none) {padding=[1, 1]}\n"
      "%m: float16[4] = constant \"m\" () {value=float16[4]{1, 2, 3, 4}}\n"
      "%v: float16[4] = constant \"v\" () {value=float16[4]{1, 0.5, 2, 1}}\n"
      "%bn: float16[2,4,5,6] = batch_norm \"bn\" (%c, %m, %v, none, none) {eps=1e-05}\n"
      "%p: float16[2,4,2,3] = pooling \"p\" (%bn) {mode=\"max\", kernel=[2, 2]}\n"
      "output %p\n");
  CountingMemo memo;
  opt::MemoScope scope(&memo);
  const ir::Graph out = channels_last(fold_batch_norm(g));
  EXPECT_EQ(memo.kinds, (std::vector<std::string>{"fold_batch_norm", "nhwc"}));
  std::vector<HostTensor> in = random_inputs(g);
  std::vector<HostTensor> want = run_graph(g, in), got = run_graph(out, in);
  expect_close(got[0], want[0].dims, want[0].values(), 2e-2, "output");
}

}  // namespace
}  // namespace tft
