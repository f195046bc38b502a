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

/// Writes a quiet NaN into element `index` of a float tensor (float32, float16 or bfloat16), on the
/// current stream: timing data that shows whether a candidate propagates NaN as the layer must.
void put_nan(DataType t, void* data, int64_t index);

/// Mean milliseconds of `f` over `calls` calls after one warm-up call on the current stream. A
/// candidate whose single call takes under 30 µs has its calls captured as one CUDA graph (on the
/// thread's timing stream, made its current stream while capturing) and replayed, as the engine
/// runs them (launched one by one from the host, it would measure the launches); longer ones, and
/// those that cannot be captured, are launched one by one on the current stream. Waits for the
/// streams.
float time_ms(const std::function<void()>& f, int calls = 10);

/// time_ms over `rounds` rounds of `calls` calls, their median: one capture, replayed `rounds` times.
float median_ms(const std::function<void()>& f, int calls, int rounds = 3);

/// Calls per timing round the build asks for (BuilderConfig.timing_iterations; 0: 5).
inline int timing_calls(const BuilderConfig& c) { return c.timing_iterations > 0 ? c.timing_iterations : 5; }

}  // namespace tensorforge::cuda
