// The convolution plans chosen by timing, kept on disk across processes (beside the generated
// kernels, codegen/disk_cache.h), so that a later build of a layer with the same plan key on the
// same GPU and library versions restores the winner instead of querying cuDNN's heuristic,
// finalizing every candidate and timing them. A cuDNN plan is kept as cuDNN's own serialized form
// (the execution plan's JSON representation); our direct depthwise kernel and the matmul form of
// a 1x1 layer as flags. Entries are
// untrusted: a damaged one reads as a miss, and a plan cuDNN will not finalize from its JSON sends
// the layer through the full choice again.
#pragma once

#include <cstdint>
#include <string>

namespace tensorforge::cuda {

/// One chosen plan: which graph variant and layout, and cuDNN's serialized plan.
struct StoredPlan {
  bool direct = false;   ///< our depthwise kernel (no cuDNN plan)
  bool gemm = false;     ///< a 1x1 layer as cuBLASLt matmul (no cuDNN plan)
  bool fused = false;    ///< bias, residual and relu in cuDNN's graph
  bool nhwc = false;     ///< the graph's layout
  bool staged = false;   ///< the graph's layout is not the layer's
  int64_t align = 16;    ///< the alignment the tensors were declared with
  std::string json;      ///< cuDNN's execution plan, serialized (empty when direct or gemm)
};

/// A layer's plans: the main one and, when it has one, the element-aligned one.
struct StoredConvPlans {
  StoredPlan main;
  bool has_loose = false;
  StoredPlan loose;
};

/// The entry's text form and back; decode() is false on anything malformed.
std::string encode_plans(const StoredConvPlans& p);
bool decode_plans(const std::string& text, StoredConvPlans& p);

/// The plans stored in `dir` under `key` (a layer's plan key; the GPU, cuDNN's and TensorForge's
/// versions are added here); false on a miss or when `dir` is "".
bool load_conv_plans(const std::string& dir, const std::string& key, StoredConvPlans& p);
/// Stores `p` in `dir` under `key` (failures only cost the choice again next time).
void store_conv_plans(const std::string& dir, const std::string& key, const StoredConvPlans& p);

}  // namespace tensorforge::cuda
