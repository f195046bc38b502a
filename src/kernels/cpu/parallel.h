// The CPU kernels' threads: one pool per process, its size the machine's cores (or
// TENSORFORGE_CPU_THREADS), for loops over independent elements or rows. The calling thread takes
// a share; a call that finds the pool working for another caller (an engine run from several
// threads) runs on its own thread alone, so callers never wait for each other. Kernels split only
// loops long enough to pay for the hand-off; with OpenBLAS, sgemm (gemm.cc) runs it on one thread
// per call and splits long products over this pool, so that OpenBLAS's threads, which spin after
// each call, never share the cores with it. In a process forked from the one that started the pool
// (whose threads it lacks), every loop runs inline.
#pragma once

#include <cstdint>
#include <functional>

namespace tensorforge::cpu {

/// Threads parallel_for() uses, the calling one included (1: every loop runs inline).
int cpu_threads();

/// Whether this process was forked from the one that loaded the library: it has none of the
/// parent's threads (our pool's, OpenMP's), so kernels that need them take another way there.
bool forked_child();

/// Most ranges one parallel_for() call makes, per thread of cpu_threads().
constexpr int kRangesPerThread = 4;

/// Calls fn(begin, end) on disjoint ranges covering [0, n), about `grain` long or longer, at most
/// kRangesPerThread * cpu_threads() of them, possibly on several threads at once; returns when all
/// are done. An exception thrown by fn reaches the caller (the first one, when several ranges throw).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

/// A grain for rows (or channels) of `row` elements each: about 16K elements a range, so that
/// a loop splits only when it is long enough to pay for the hand-off.
inline int64_t row_grain(int64_t row) {
  constexpr int64_t kElements = int64_t(1) << 14;
  return row >= kElements ? 1 : kElements / (row > 0 ? row : 1);
}

}  // namespace tensorforge::cpu
