// The pipeline: the one ordered list of passes, and the driver that runs it (see pass.h).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "ir/printer.h"
#include "opt/cancel_transposes.h"
#include "opt/causal_masks.h"
#include "opt/channels_last.h"
#include "opt/compose_views.h"
#include "opt/eliminate_dead_layers.h"
#include "opt/fold_attention_views.h"
#include "opt/batch_norm_to_affine.h"
#include "opt/fold_batch_norm.h"
#include "opt/fold_constant_dequantize.h"
#include "opt/fold_matmul_broadcasts.h"
#include "opt/fold_channel_scales.h"
#include "opt/fold_pads.h"
#include "opt/fold_transposes.h"
#include "opt/fuse_epilogues.h"
#include "opt/fuse_pointwise.h"
#include "opt/fuse_quantized_conv.h"
#include "opt/fuse_quantized_matmul.h"
#include "opt/fuse_weight_only_matmul.h"
#include "opt/fuse_reduce_prologue.h"
#include "opt/merge_parallel_matmuls.h"
#include "opt/merge_sibling_copies.h"
#include "opt/move_activation_into_quantize.h"
#include "opt/move_quantize_before_max_pool.h"
#include "opt/move_row_transposes.h"
#include "opt/pass.h"
#include "opt/patchify_convolutions.h"
#include "opt/recognize_attention.h"
#include "opt/recognize_rms_norm.h"
#include "opt/recognize_rotate_half.h"
#include "opt/remove_identities.h"
#include "opt/share_attention_masks.h"
#include "serialize/file_io.h"
#include "tensorforge/logger.h"

namespace tensorforge::opt {

const std::vector<Pass>& pipeline() {
  static const std::vector<Pass> passes = {
      {"fold_matmul_broadcasts", 1, kOnAll, fold_matmul_broadcasts,
       "reads a matmul operand past an expand that only broadcasts its batch dims (an exported linear "
       "layer's weight expanded to every batch entry)"},
      {"fold_constant_dequantize", 1, kOnAll, fold_constant_dequantize_outside_matmuls,
       "turns a dequantize of constants (an int8 weight and its scales) into a float constant, "
       "except the weights of matmuls with dequantized int8 activations"},
      {"fold_batch_norm", 1, kOnAll, fold_batch_norm,
       "folds an inference batch norm into the convolution before it"},
      {"batch_norm_to_affine", 1, kOnAll, batch_norm_to_affine,
       "turns a batch norm no convolution absorbed into a per-channel multiply and add"},
      {"fold_pads", 1, kOnAll, fold_pads,
       "folds an even zero pad of the spatial dims into the convolution that reads it"},
      {"patchify_convolutions", 1, kOnCUDA, patchify_convolutions,
       "turns a patch embedding (a convolution of few channels whose window is its stride) into a "
       "transpose of the image and one matrix product"},
      {"recognize_rms_norm", 1, kOnAll, recognize_rms_norm,
       "turns an RMS norm written out as pow, mean, add, rsqrt and mul into one rms_norm layer"},
      {"recognize_rotate_half", 1, kOnAll, recognize_rotate_half,
       "turns rotary embeddings' cat(-x2, x1) into one gather and a sign multiply the fusion takes"},
      {"recognize_attention", 1, kOnCUDA, recognize_attention,
       "turns attention written as matmul, softmax and matmul (with a bias or mask added) into one layer"},
      {"causal_masks", 1, kOnAll, causal_masks,
       "turns attention's constant causal mask into its causal flag (no mask read, masked tiles skipped)"},
      {"share_attention_masks", 1, kOnCUDA, share_attention_masks,
       "turns a bool mask several attention layers read into one additive mask they share"},
      {"fold_transposes", 1, kOnAll, fold_transposes,
       "turns a transpose of the last two dims feeding a matrix multiply into its transpose flag"},
      {"merge_parallel_matmuls", 1, kOnAll, merge_parallel_matmuls,
       "merges matrix multiplies that read one activation (query, key and value) into one and a split"},
      {"move_row_transposes", 1, kOnAll, move_row_transposes,
       "moves a transpose of a linear layer's rows to its other side, where attention views absorb it"},
      {"fold_attention_views", 1, kOnAll, fold_attention_views,
       "reads attention's query, key and value through strides and writes its head merge in place"},
      {"compose_views", 1, kOnAll, compose_views,
       "turns a chain of views that copies more than once into one strided copy of its start"},
      {"remove_identities", 1, kOnAll, remove_identities,
       "drops layers whose output equals their input (a one-tensor concat, an identity transpose)"},
      {"fold_channel_scales", 1, kOnAll, fold_channel_scales,
       "folds a constant per-channel multiply after a linear layer (a layer scale) into its weights"},
      {"fuse_epilogues", 1, kOnAll, fuse_epilogues,
       "folds bias and activation into matrix multiplies, ReLU into convolutions"},
      {"fuse_quantized_matmul", 1, kOnAll, fuse_quantized_matmul,
       "turns a matmul of dequantized int8 operands into one int8 matmul with int32 accumulation"},
      {"fuse_float8_matmul", 1, kOnAll, fuse_float8_matmul,
       "turns a matmul of dequantized float8 operands into one float8 matmul with float32 sums"},
      {"move_activation_into_quantize", 1, kOnCUDA, move_activation_into_quantize,
       "moves a float8 product's GELU (which cuBLASLt does not apply) into the quantize that reads it"},
      {"fuse_weight_only_matmul", 1, kOnCUDA, fuse_weight_only_matmul,
       "turns a matmul of few float rows and a dequantized int8 weight into one that reads the int8 weight"},
      {"merge_parallel_quantized_matmuls", 1, kOnAll, merge_parallel_quantized_matmuls,
       "merges quantized matmuls that read one activation (int8 query, key and value) into one and a split"},
      {"fold_constant_dequantize_after_fusion", 1, kOnAll, fold_constant_dequantize,
       "folds the dequantized constants no quantized layer took into float constants"},
      {"channels_last", 1, kOnCUDA, channels_last,
       "keeps float16/bfloat16 convolutional regions NHWC, converting only at their edges"},
      {"channels_last_float32", 1, kOnCPU, channels_last_float32,
       "keeps float32 convolutional regions NHWC on the CPU, where oneDNN's convolutions read it in place"},
      {"cancel_transposes", 1, kOnAll, cancel_transposes,
       "composes a transpose of a transpose into one, dropping those that cancel (NHWC conversions)"},
      {"fold_channel_scales_after_layout", 1, kOnCUDA, fold_channel_scales,
       "folds the layer scales layout conversions hid (ConvNeXt's, behind its permutes) into weights"},
      {"fuse_epilogues_after_layout", 1, kOnCUDA, fuse_epilogues,
       "fuses the epilogues layout conversions hid (a residual add behind transposes that cancelled)"},
      {"move_quantize_before_max_pool", 1, kOnCUDA, move_quantize_before_max_pool,
       "moves an int8 quantize before the max pooling it alone reads, so the pooling runs on int8"},
      {"fuse_quantized_conv", 1, kOnCUDA, fuse_quantized_conv,
       "turns a channels-last convolution of a dequantized int8 tensor into one int8 convolution"},
      {"fuse_reduce_prologue", 1, kOnAll, fuse_reduce_prologue,
       "turns an any/all of a float predicate (isinf(x).any()) into one reduce that applies it as it reads"},
      {"fuse_pointwise", 1, kOnCUDA, fuse_pointwise,
       "turns connected chains of pointwise layers into one generated kernel"},
      {"merge_sibling_copies", 1, kOnCUDA, merge_sibling_copies,
       "turns strided copies of one tensor into tensors of one shape into one kernel with an output each"},
      {"eliminate_dead_layers", 1, kOnAll, eliminate_dead_layers,
       "drops layers whose outputs no network output depends on (the constants folding replaced too)"},
  };
  return passes;
}

namespace {

const Pass* find(const std::string& name) {
  for (const Pass& p : pipeline())
    if (name == p.name) return &p;
  return nullptr;
}

void dump(const OptimizeOptions& options, int index, const std::string& stage, const ir::Graph& g) {
  if (options.dump_dir.empty()) return;
  char prefix[8];
  std::snprintf(prefix, sizeof prefix, "%02d", index);
  std::string text = ir::to_text(g);
  serialize::write_file(options.dump_dir + "/" + prefix + "-" + stage + ".txt",
                        std::vector<uint8_t>(text.begin(), text.end()));
}

size_t working_layers(const ir::Graph& g) {
  size_t n = 0;
  for (const ir::Layer& l : g.layers) n += l.kind != LayerKind::kConstant;
  return n;
}

// The pass names the environment variable `var` lists (comma-separated), each checked.
std::vector<std::string> pass_names(const char* var) {
  std::vector<std::string> names;
  const char* list = std::getenv(var);
  if (!list) return names;
  std::stringstream ss(list);
  std::string name;
  while (std::getline(ss, name, ',')) {
    if (name.empty()) continue;
    if (!find(name)) {
      std::string known;
      for (const Pass& p : pipeline()) known += std::string(known.empty() ? "" : ", ") + p.name;
      throw Error(ErrorCode::kInvalidArgument,
                  std::string(var) + " names '" + name + "', which is not a pass (the passes: " + known + ")");
    }
    names.push_back(name);
  }
  return names;
}

}  // namespace

OptimizeOptions options_from_environment() {
  OptimizeOptions o;
  if (const char* dir = std::getenv("TENSORFORGE_DUMP_PASSES")) o.dump_dir = dir;
  o.disabled = pass_names("TENSORFORGE_DISABLE_PASSES");
  return o;
}

ir::Graph optimize(const ir::Graph& g, const BuilderConfig& config, const OptimizeOptions& options) {
  ir::Graph current = g;
  int index = 0;
  if (!options.dump_dir.empty()) {
    std::error_code ec;  // a folder that cannot be made is reported by the first write, naming the file
    std::filesystem::create_directories(options.dump_dir, ec);
  }
  dump(options, index++, "input", current);
  for (const Pass& p : pipeline()) {
    const unsigned device = 1u << static_cast<int>(config.device);
    bool applies = config.optimization_level >= p.min_level && (p.devices & device);
    bool disabled = false;
    for (const std::string& d : options.disabled) disabled = disabled || d == p.name;
    if (!applies || disabled) {
      if (applies) log(Severity::kInfo, std::string("pass ") + p.name + ": disabled");
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    size_t before = working_layers(current);
    current = p.run(current);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::ostringstream os;
    os << "pass " << p.name << ": " << before << " -> " << working_layers(current) << " layers in " << ms << " ms";
    log(Severity::kInfo, os.str());
    dump(options, index++, p.name, current);
  }
  return current;
}

}  // namespace tensorforge::opt
