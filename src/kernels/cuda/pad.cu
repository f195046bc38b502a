// CUDA pad over any rank with the CPU kernel's rules (src/kernels/cpu/pad.cc): constant (any dtype;
// negative pads crop), reflect (mirror without repeating the edge) and replicate (clamp). One thread
// per output element maps each coordinate to its source; elements move as unsigned words of the
// element's size, and the constant is the CPU's conversion of `value` to the dtype, bit for bit.
#include <cstring>

#include "common/broadcast.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cuda/copy_views.cuh"

namespace tensorforge::cuda {

namespace {

enum class PadMode { kConstant, kReflect, kReplicate };

struct PadPlan {
  int rank = 0;
  int64_t out[kMaxDims] = {}, in[kMaxDims] = {}, in_strides[kMaxDims] = {}, begin[kMaxDims] = {};
};

// I: the index type, 32 bits when every index (plus a grid stride) stays below 2^31.
template <class W, class I>
__global__ void pad_kernel(const W* __restrict__ x, W* __restrict__ y, I total, PadPlan p, PadMode mode, W value) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * I(blockDim.x)) {
    I q = i, src = 0;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; --d) {
      const I t = q / I(p.out[d]);
      I s = q - t * I(p.out[d]) - I(p.begin[d]);
      q = t;
      const I n = I(p.in[d]);
      if (mode == PadMode::kReflect) {
        if (s < 0) s = -s;
        if (s >= n) s = 2 * (n - 1) - s;
      } else if (mode == PadMode::kReplicate) {
        s = s < 0 ? 0 : (s >= n ? n - 1 : s);
      } else if (s < 0 || s >= n) {
        inside = false;  // the constant, whatever the other coordinates
        break;
      }
      src += s * I(p.in_strides[d]);
    }
    y[i] = inside ? x[src] : value;
  }
}

template <class W>
class PadKernel : public Kernel {
 public:
  PadKernel(const PadPlan& p, PadMode mode, W value, bool narrow)
      : p_(p), mode_(mode), value_(value), narrow_(narrow) {}
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = out[0].numel();
    if (!total) return;
    const W* x = in[0].as<const W>();
    W* y = out[0].as<W>();
    if (narrow_)
      pad_kernel<W, int32_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, int32_t(total), p_, mode_, value_);
    else
      pad_kernel<W, int64_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, total, p_, mode_, value_);
    check_launch("launching pad");
  }

 private:
  PadPlan p_;
  PadMode mode_;
  W value_;
  bool narrow_;
};

}  // namespace

std::unique_ptr<Kernel> create_pad(const KernelSpec& s) {
  const Dims& x = s.inputs[0]->dims;
  const Dims& out = s.outputs[0]->dims;
  const auto& pads = ir::attr_ints(s.layer, "pads");
  const std::string& m = ir::attr_string(s.layer, "mode");
  const PadMode mode = m == "reflect" ? PadMode::kReflect : m == "replicate" ? PadMode::kReplicate : PadMode::kConstant;
  PadPlan p;
  p.rank = x.rank();
  std::vector<int64_t> strides = contiguous_strides(x);
  for (int k = 0; k < p.rank; ++k) {
    p.out[k] = out[k];
    p.in[k] = x[k];
    p.in_strides[k] = strides[k];
    p.begin[k] = pads[k];
  }
  // The constant's bits: the CPU kernel's own conversion of the double attribute to the dtype.
  uint64_t bits = 0;
  const double value = ir::attr_float(s.layer, "value");
  cpu::dispatch(s.inputs[0]->dtype, [&](auto tag) {
    const auto v = cpu::store_as<typename decltype(tag)::type>(value);
    std::memcpy(&bits, &v, sizeof v);
  });
  // Pads are within +-2^30 (inference), so |s| < 2^31 per dim whenever both volumes are below 2^30.
  const int64_t limit = int64_t(1) << 30;
  const bool narrow = x.volume() < limit && out.volume() < limit;
  return dispatch_bytes(element_size(s.inputs[0]->dtype), [&](auto tag) -> std::unique_ptr<Kernel> {
    using W = typename decltype(tag)::type;
    W v;
    std::memcpy(&v, &bits, sizeof v);
    return std::make_unique<PadKernel<W>>(p, mode, v, narrow);
  });
}

}  // namespace tensorforge::cuda
