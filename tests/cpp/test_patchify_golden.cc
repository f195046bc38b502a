// Golden test of patchify_convolutions (src/opt/patchify_convolutions.h): a vision transformer's
// patch embedding becomes transpose -> matmul, outputs equal on the CPU kernels.
#include "golden_util.h"
#include "opt/pass.h"
#include "opt/patchify_convolutions.h"

namespace tft {
namespace {

TEST(PassGolden, PatchifyConvolutions) {
  // ViT's form (window 8 = stride over 3 channels, bias, then flatten and transpose) and a relu one
  // become products; a window unlike its stride, padding, 8 channels and too small a window
  // (3 x 4 x 4 = 48 values) keep their convolutions.
  const std::string kept =
      "%w2: float32[5,3,4,4] = constant \"w2\" () {value=float32[5,3,4,4]}\n"
      "%s: float32[2,5,5,5] = convolution \"s\" (%x, %w, none) {stride=[2, 2]}\n"
      "%p: float32[2,5,2,2] = convolution \"p\" (%x, %w, none) {stride=[8, 8], padding=[1, 1]}\n"
      "%w8: float32[5,8,8,8] = constant \"w8\" () {value=float32[5,8,8,8]}\n"
      "%c8: float32[2,5,2,2] = convolution \"c8\" (%z, %w8, none) {stride=[8, 8]}\n"
      "%t: float32[2,5,4,4] = convolution \"t\" (%x, %w2, none) {stride=[4, 4]}\n";
  expect_golden(patchify_convolutions,
                "input %x: float32[2,3,16,16]\n"
                "input %z: float32[2,8,16,16]\n"
                "%w: float32[5,3,8,8] = constant \"w\" () {value=float32[5,3,8,8]}\n"
                "%b: float32[5] = constant \"b\" () {value=float32[5]}\n"
                "%y: float32[2,5,2,2] = convolution \"y\" (%x, %w, %b) {stride=[8, 8]}\n"
                "%f: float32[2,5,4] = reshape \"f\" (%y) {shape=[2, 5, 4]}\n"
                "%e: float32[2,4,5] = transpose \"e\" (%f) {perm=[0, 2, 1]}\n"
                "%r: float32[2,5,2,2] = convolution \"r\" (%x, %w, none) {stride=[8, 8], activation=\"relu\"}\n" +
                    kept + "output %e\noutput %r\noutput %s\noutput %p\noutput %c8\noutput %t\n",
                "input %x: float32[2,3,16,16]\n"
                "input %z: float32[2,8,16,16]\n"
                "%w: float32[5,3,8,8] = constant \"w\" () {value=float32[5,3,8,8]}\n"
                "%b: float32[5] = constant \"b\" () {value=float32[5]}\n"
                "%y_split: float32[2,3,2,8,2,8] = reshape \"y_split\" (%x) {shape=[2, 3, 2, 8, 2, 8]}\n"
                "%y_patches: float32[2,2,2,3,8,8] = transpose \"y_patches\" (%y_split) {perm=[0, 2, 4, 1, 3, 5]}\n"
                "%y_rows: float32[8,192] = reshape \"y_rows\" (%y_patches) {shape=[8, 192]}\n"
                "%y_weight: float32[5,192] = constant \"y_weight\" () {value=float32[5,192]}\n"
                "%y_product: float32[8,5] = matmul \"y_product\" (%y_rows, %y_weight, %b) {transpose_b=1}\n"
                "%y_nhwc: float32[2,2,2,5] = reshape \"y_nhwc\" (%y_product) {shape=[2, 2, 2, 5]}\n"
                "%y: float32[2,5,2,2] = transpose \"y_nchw\" (%y_nhwc) {perm=[0, 3, 1, 2]}\n"
                "%f: float32[2,5,4] = reshape \"f\" (%y) {shape=[2, 5, 4]}\n"
                "%e: float32[2,4,5] = transpose \"e\" (%f) {perm=[0, 2, 1]}\n"
                "%r_split: float32[2,3,2,8,2,8] = reshape \"r_split\" (%x) {shape=[2, 3, 2, 8, 2, 8]}\n"
                "%r_patches: float32[2,2,2,3,8,8] = transpose \"r_patches\" (%r_split) {perm=[0, 2, 4, 1, 3, 5]}\n"
                "%r_rows: float32[8,192] = reshape \"r_rows\" (%r_patches) {shape=[8, 192]}\n"
                "%r_weight: float32[5,192] = constant \"r_weight\" () {value=float32[5,192]}\n"
                "%r_product: float32[8,5] = matmul \"r_product\" (%r_rows, %r_weight) {transpose_b=1, activation=\"relu\"}\n"
                "%r_nhwc: float32[2,2,2,5] = reshape \"r_nhwc\" (%r_product) {shape=[2, 2, 2, 5]}\n"
                "%r: float32[2,5,2,2] = transpose \"r_nchw\" (%r_nhwc) {perm=[0, 3, 1, 2]}\n" +
                    kept + "output %e\noutput %r\noutput %s\noutput %p\noutput %c8\noutput %t\n",
                1e-4);
}

}  // namespace
}  // namespace tft

namespace tft {
namespace {

ir::Graph cuda_pipeline(const ir::Graph& g) {
  BuilderConfig cuda;
  cuda.device = DeviceKind::kCUDA;
  return opt::optimize(g, cuda, {});
}

TEST(Pipeline, AVisionTransformersPatchEmbeddingOnCUDA) {
  // Through every CUDA pass, ViT's embedding in float16 (patch convolution, flatten and transpose
  // to tokens, position embedding) keeps no convolution and moves the image once: one copy for the
  // patches, none after the product. CPU kernels give the same output.
  ir::Graph g = ir::parse_text(
      "input %x: float16[2,3,32,32]\n"
      "%w: float16[8,3,16,16] = constant \"w\" () {value=float16[8,3,16,16]}\n"
      "%b: float16[8] = constant \"b\" () {value=float16[8]}\n"
      "%pos: float16[1,4,8] = constant \"pos\" () {value=float16[1,4,8]}\n"
      "%y: float16[2,8,2,2] = convolution \"y\" (%x, %w, %b) {stride=[16, 16]}\n"
      "%f: float16[2,8,4] = reshape \"f\" (%y) {shape=[2, 8, 4]}\n"
      "%t: float16[2,4,8] = transpose \"t\" (%f) {perm=[0, 2, 1]}\n"
      "%e: float16[2,4,8] = elementwise \"e\" (%t, %pos) {op=\"add\"}\n"
      "output %e\n");
  ir::Graph out = cuda_pipeline(g);
  int convolutions = 0, transposes = 0, products = 0;
  for (const ir::Layer& l : out.layers) {
    convolutions += l.kind == LayerKind::kConvolution;
    transposes += l.kind == LayerKind::kTranspose;
    products += l.kind == LayerKind::kMatMul;
  }
  EXPECT_EQ(convolutions, 0) << ir::to_text(out);
  EXPECT_EQ(transposes, 1) << ir::to_text(out);
  EXPECT_EQ(products, 1) << ir::to_text(out);
  std::vector<HostTensor> in = random_inputs(g);
  std::vector<HostTensor> want = run_graph(g, in), got = run_graph(out, in);
  expect_close(got[0], want[0].dims, want[0].values(), 2e-2, "embedding");
}

}  // namespace
}  // namespace tft
