// The thread's constant memo (see constant_memo.h).
#include "opt/constant_memo.h"

namespace tensorforge::opt {

namespace {
thread_local ConstantMemo* current = nullptr;
}  // namespace

MemoScope::MemoScope(ConstantMemo* memo) : previous_(current) { current = memo; }

MemoScope::~MemoScope() { current = previous_; }

Weights derived_constant(const std::string& kind, const std::vector<Weights>& sources,
                         const std::function<Weights()>& make) {
  return current ? current->derive(kind, sources, make) : make();
}

}  // namespace tensorforge::opt
