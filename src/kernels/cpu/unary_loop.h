// A flat map kernel out[i] = f(in[i]) over a contiguous tensor, shared by unary, activation, cast.
#pragma once

#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/parallel.h"
#include "kernels/kernel.h"

// On x86-64 with GCC, the map's loop is compiled twice, for the baseline and for x86-64-v3 (AVX2,
// FMA), and the loader picks the one the processor runs: GELU's erf (vector_math.h) takes 1.5 ns an
// element on AVX2 against 6.6 on the baseline's SSE2 (2-core EPYC). The two may round differently
// (FMA), by an ulp; one process always runs the same one.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TF_CPU_MAP_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TF_CPU_MAP_CLONES
#endif

namespace tensorforge::cpu {

/// y[i] = f(x[i]) for i in [begin, end).
template <class T, class Out, class F>
TF_CPU_MAP_CLONES void map_range(const T* x, Out* y, int64_t begin, int64_t end, const F& f) {
  for (int64_t i = begin; i < end; ++i) y[i] = store_as<Out>(f(load(x, i)));
}

template <class T, class Out, class F>
class MapKernel : public Kernel {
 public:
  explicit MapKernel(F f) : f_(f) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    Out* y = out[0].as<Out>();
    // Long maps split over the CPU threads (GELU's erf over a transformer's FFN activations).
    parallel_for(out[0].numel(), kGrain, [&](int64_t begin, int64_t end) {
      map_range(x, y, begin, end, f_);
    });
  }
  static constexpr int64_t kGrain = 1 << 15;  // elements: below two of these, one thread

 private:
  F f_;
};

template <class T, class Out, class F>
std::unique_ptr<Kernel> make_map(F f) {
  return std::make_unique<MapKernel<T, Out, F>>(f);
}

}  // namespace tensorforge::cpu
