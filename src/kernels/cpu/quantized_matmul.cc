// CPU quantized_matmul (docs/layers.md): int8 or uint8 rows of a times int8 b, accumulated exactly in int32
// (float rows, weight only, and float8 rows times float8 b: in float32, in order of k), then
// act(acc * scale[n] + bias[n] + residual)
// in float32 (kernels/common/matmul_epilogue.h), rounded once to the output dtype. Rows are split across the CPU threads; with b [N, K]
// (transpose_b) each output is a dot product of two contiguous rows, with b [K, N] each row of a
// accumulates into a row of sums.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/common/matmul_epilogue.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/matrix.h"
#include "kernels/cpu/parallel.h"
#include "kernels/matmul_shape.h"

namespace tensorforge::cpu {

namespace {

template <class A, class B, class T>
class QuantizedMatMulKernel : public Kernel {
  using Acc = std::conditional_t<std::is_integral_v<A>, int32_t, float>;

 public:
  explicit QuantizedMatMulKernel(const KernelSpec& s) : p_(s), k_(p_.k), n_(p_.n), transposed_(p_.tb) {}

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const A* a = in[0].as<A>();
    const B* b = in[1].as<B>();
    const float* scale = in[2].as<float>();
    const float* bias = p_.has_bias ? in[3].as<float>() : nullptr;
    const T* residual = p_.has_residual ? in[4].as<T>() : nullptr;
    T* y = out[0].as<T>();
    const int64_t rows = n_ ? out[0].numel() / n_ : 0;
    parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n_ * k_ / 64)), [&](int64_t lo, int64_t hi) {
      std::vector<Acc> acc(static_cast<size_t>(n_));
      for (int64_t m = lo; m < hi; ++m) {
        const A* ar = a + m * k_;
        if (transposed_) {
          for (int64_t n = 0; n < n_; ++n) {
            const B* br = b + n * k_;
            Acc sum = 0;
            for (int64_t k = 0; k < k_; ++k) sum += Acc(load(ar, k)) * Acc(load(br, k));
            acc[n] = sum;
          }
        } else {
          std::fill(acc.begin(), acc.end(), 0);
          for (int64_t k = 0; k < k_; ++k) {
            const Acc av = Acc(load(ar, k));
            if (av == Acc(0)) continue;
            const B* br = b + k * n_;
            for (int64_t n = 0; n < n_; ++n) acc[n] += av * Acc(load(br, n));
          }
        }
        T* yr = y + m * n_;
        const T* rr = residual ? residual + m * n_ : nullptr;
        for (int64_t n = 0; n < n_; ++n)
          yr[n] = store_as<T>(kernels::quantized_epilogue(static_cast<float>(acc[n]), scale[n], bias ? bias[n] : 0.0f,
                                                          rr ? static_cast<float>(load(rr, n)) : 0.0f, p_.activation));
      }
    });
  }

 private:
  QuantizedMatMulShape p_;
  int64_t k_, n_;
  bool transposed_;
};

}  // namespace

std::unique_ptr<Kernel> create_quantized_matmul(const KernelSpec& s) {
  return dispatch_floating(s.outputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    switch (s.inputs[0]->dtype) {
      case DataType::kUInt8: return std::make_unique<QuantizedMatMulKernel<uint8_t, int8_t, T>>(s);
      case DataType::kInt8: return std::make_unique<QuantizedMatMulKernel<int8_t, int8_t, T>>(s);
      case DataType::kFloat8E4M3:  // float8 rows and weights (inference requires both)
        return std::make_unique<QuantizedMatMulKernel<float8_e4m3_t, float8_e4m3_t, T>>(s);
      default:  // weight only: float rows
        return dispatch_floating(s.inputs[0]->dtype, [&](auto atag) -> std::unique_ptr<Kernel> {
          return std::make_unique<QuantizedMatMulKernel<typename decltype(atag)::type, int8_t, T>>(s);
        });
    }
  });
}

}  // namespace tensorforge::cpu
