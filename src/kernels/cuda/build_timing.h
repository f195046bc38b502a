// What kernels use at build time to choose among candidates by timing: random scratch data and a
// stream-timed loop (build_timing.cu). Build time only: these wait for the stream.
#pragma once

#include <cstdint>
#include <functional>

#include "tensorforge/builder.h"
#include "tensorforge/types.h"

namespace tensorforge::cuda {

/// Fills `n` elements of a float tensor with pseudo-random values in [-1, 1) (never all zero), on
/// the current stream: data for timing candidates at creation. Other dtypes are left as they are.
void fill_random(DataType t, void* data, int64_t n, uint32_t seed);

/// Whether the `n` elements of type t at device pointers a and b agree: float16 and bfloat16 within
/// `ulps` units in the last place (NaN only with NaN), other types byte for byte. Waits for the
/// current stream (build time only: checking that a candidate computes what the library's plan does).
bool within_ulps(DataType t, const void* a, const void* b, int64_t n, int ulps);

/// Writes a quiet NaN into element `index` of a float tensor (float32, float16 or bfloat16), on the
/// current stream: timing data that shows whether a candidate propagates NaN as the layer must.
void put_nan(DataType t, void* data, int64_t index);

/// Mean milliseconds of `f` on the current stream over `calls` calls after one warm-up call,
/// launched one by one; waits for the stream.
float time_ms(const std::function<void()>& f, int calls = 10);

/// The median over `rounds` rounds of the mean milliseconds of `calls` calls of `f`, after one
/// warm-up call. With `graph`, the calls are captured once as a CUDA graph (on the thread's timing
/// stream, made its current stream while capturing) and the graph replayed each round, as the
/// engine runs them: candidates of a few microseconds, or of several kernels a call (cuBLASLt's
/// split-K: a memset, the product, a reduction), then measure themselves and not their launches
/// from the host. Where f cannot be captured, and without `graph`, the calls are launched one by
/// one on the current stream. A layer times all its candidates the same way.
float median_ms(const std::function<void()>& f, int calls, int rounds = 3, bool graph = false);

/// How many of a library heuristic's algorithms the build times (1: none timed, the first taken):
/// 8 from optimization_level 3, 32 at 5.
inline int timed_algorithms(const BuilderConfig& c) {
  return c.optimization_level >= 5 ? 32 : c.optimization_level >= 3 ? 8 : 1;
}

/// Calls per timing round the build asks for (BuilderConfig.timing_iterations; 0: 5).
inline int timing_calls(const BuilderConfig& c) { return c.timing_iterations > 0 ? c.timing_iterations : 5; }

}  // namespace tensorforge::cuda
