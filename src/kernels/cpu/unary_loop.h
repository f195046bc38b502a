// A flat map kernel out[i] = f(in[i]) over a contiguous tensor, shared by unary, activation, cast.
#pragma once

#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/parallel.h"
#include "kernels/kernel.h"

namespace tensorforge::cpu {

template <class T, class Out, class F>
class MapKernel : public Kernel {
 public:
  explicit MapKernel(F f) : f_(f) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    Out* y = out[0].as<Out>();
    // Long maps split over the CPU threads (GELU's erf over a transformer's FFN activations).
    parallel_for(out[0].numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) y[i] = store_as<Out>(f_(load(x, i)));
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
