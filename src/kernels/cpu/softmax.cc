// CPU softmax / log-softmax along one axis, computed in float32 with the row maximum subtracted
// (three passes over each row: max, sum of exponentials, write), so float16/bfloat16 round only once;
// contiguous float32 rows go through row_math.h's vectorized loops.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/common/axis_view.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_math.h"

namespace tensorforge::cpu {

namespace {

template <class T>
class SoftmaxKernel : public Kernel {
 public:
  explicit SoftmaxKernel(const KernelSpec& s)
      : v_(axis_view(s.inputs[0]->dims, norm_axis(ir::attr_int(s.layer, "axis"), s.inputs[0]->dims.rank()))),
        log_(ir::attr_int(s.layer, "log") != 0) {}

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    const int64_t n = v_.extent, step = v_.inner;
    // The (outer, inner) rows split over the CPU threads.
    parallel_for(v_.outer * v_.inner, row_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t base = v_.offset(r / v_.inner, 0, r % v_.inner);
        if constexpr (std::is_same_v<T, float>) {
          if (step == 1 && !log_) {  // a contiguous float32 row: the vectorized loops
            softmax_row(x + base, y + base, n, std::numeric_limits<float>::quiet_NaN());
            continue;
          }
        }
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          float v = load(x, base + j * step);
          if (v > mx || std::isnan(v)) mx = v;
          if (std::isnan(v)) break;
        }
        float sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += std::exp(load(x, base + j * step) - mx);
        if (log_) {
          const float shift = mx + std::log(sum);
          for (int64_t j = 0; j < n; ++j) y[base + j * step] = store_as<T>(load(x, base + j * step) - shift);
        } else {
          const float inv = 1.0f / sum;
          for (int64_t j = 0; j < n; ++j)
            y[base + j * step] = store_as<T>(std::exp(load(x, base + j * step) - mx) * inv);
        }
      }
    });
  }

 private:
  AxisView v_;
  bool log_;
};

}  // namespace

std::unique_ptr<Kernel> create_softmax(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<SoftmaxKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
