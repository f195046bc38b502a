// The one list of op families. A kind missing from every family is reported on first use.
#include <mutex>

#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

std::vector<OpDef> all_defs() {
  std::vector<OpDef> defs;
  add_spatial_ops(defs);
  add_pointwise_ops(defs);
  add_matmul_ops(defs);
  add_norm_ops(defs);
  add_reduce_ops(defs);
  add_shape_ops(defs);
  add_index_ops(defs);
  add_generator_ops(defs);
  add_fused_ops(defs);
  add_quantize_ops(defs);
  return defs;
}

}  // namespace

const OpDef& op_def(LayerKind kind) {
  static const std::vector<const OpDef*> table = [] {
    static const std::vector<OpDef> defs = all_defs();
    std::vector<const OpDef*> t(kNumLayerKinds, nullptr);
    for (const OpDef& d : defs) t[static_cast<int>(d.kind)] = &d;
    return t;
  }();
  int k = static_cast<int>(kind);
  if (k < 0 || k >= kNumLayerKinds || !table[k])
    throw Error(ErrorCode::kUnsupported, std::string("layer kind '") + to_string(kind) + "' is not implemented yet");
  return *table[k];
}

}  // namespace tensorforge::ir
