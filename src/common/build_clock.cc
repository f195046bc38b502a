// BuildClock: a per-thread stack of open clocks (see build_clock.h).
#include "common/build_clock.h"

namespace tensorforge {

namespace {
thread_local BuildClock* g_innermost = nullptr;
}  // namespace

BuildClock::BuildClock() : outer_(g_innermost) { g_innermost = this; }

BuildClock::~BuildClock() { g_innermost = outer_; }

void BuildClock::add(const std::string& part, double ms) {
  if (g_innermost) g_innermost->ms_[part] += ms;
}

}  // namespace tensorforge
