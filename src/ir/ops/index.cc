// Placeholder: this family's layers are not defined yet (op_def() reports them as not implemented).
#include "ir/op_registry.h"

namespace tensorforge::ir {

void add_index_ops(std::vector<OpDef>& defs) {}

}  // namespace tensorforge::ir
