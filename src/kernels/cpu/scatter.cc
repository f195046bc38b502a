// CPU scatter: out = x, then for every position p of index, out[p with p[axis] = index[p]] is set to
// src[p] (reduce "none", the last write wins on duplicates) or combined with it by add, mul, max or
// min (scatter_reduce with include_self), in index order. Reductions compute per dtype (float16 and
// bfloat16 in float32, rounded at every step as PyTorch does; integers wrap); "none" moves bytes.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "common/broadcast.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/index.h"

namespace tensorforge::cpu {

namespace {

enum class Reduce { kNone, kAdd, kMul, kMax, kMin };

Reduce parse_reduce(const std::string& r) {
  if (r == "add") return Reduce::kAdd;
  if (r == "mul") return Reduce::kMul;
  if (r == "max") return Reduce::kMax;
  if (r == "min") return Reduce::kMin;
  return Reduce::kNone;
}

template <class C>
C combine(Reduce r, C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if ((r == Reduce::kMax || r == Reduce::kMin) && (std::isnan(a) || std::isnan(b))) return NAN;
    if (r == Reduce::kAdd) return a + b;
    if (r == Reduce::kMul) return a * b;
  } else {  // wrap on overflow instead of signed-overflow UB
    using U = std::make_unsigned_t<C>;
    if (r == Reduce::kAdd) return static_cast<C>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
    if (r == Reduce::kMul) return static_cast<C>(static_cast<U>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b)));
  }
  if (r == Reduce::kMax) return a > b ? a : b;
  if (r == Reduce::kMin) return a < b ? a : b;
  return b;
}

// T: the storage type for reductions, or an unsigned integer of the element's size for "none".
template <class T>
class ScatterKernel : public Kernel {
 public:
  ScatterKernel(const KernelSpec& s, Reduce reduce)
      : layer_(&s.layer),
        reduce_(reduce),
        is64_(s.inputs[1]->dtype == DataType::kInt64),
        index_dims_(s.inputs[1]->dims),
        bytes_(static_cast<size_t>(s.inputs[0]->dims.volume()) * element_size(s.inputs[0]->dtype)) {
    const Dims& x = s.inputs[0]->dims;
    int64_t a = ir::attr_int(s.layer, "axis");
    axis_ = static_cast<int>(a < 0 ? a + x.rank() : a);
    std::vector<int64_t> xs = contiguous_strides(x), ss = contiguous_strides(s.inputs[2]->dims);
    for (int k = 0; k < x.rank(); ++k) {
      x_strides_[k] = k == axis_ ? 0 : xs[k];
      src_strides_[k] = ss[k];
    }
    axis_stride_ = xs[axis_];
    n_ = x[axis_];
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    T* y = out[0].as<T>();
    const T* src = in[2].as<const T>();
    if (bytes_ && in[0].data != out[0].data) std::memmove(out[0].data, in[0].data, bytes_);
    walk(index_dims_, x_strides_, src_strides_, [&](int64_t i, int64_t off, int64_t src_off) {
      int64_t at = off + load_index(*layer_, in[1].data, is64_, i, n_, axis_) * axis_stride_;
      if (reduce_ == Reduce::kNone)
        y[at] = src[src_off];
      else if constexpr (!std::is_same_v<T, bool>)
        y[at] = store_as<T>(combine(reduce_, load(y, at), load(src, src_off)));
    });
  }

 private:
  const ir::Layer* layer_;
  Reduce reduce_;
  bool is64_;
  Dims index_dims_;
  size_t bytes_;
  int64_t x_strides_[kMaxDims] = {}, src_strides_[kMaxDims] = {};
  int64_t axis_stride_ = 1, n_ = 1;
  int axis_ = 0;
};

}  // namespace

std::unique_ptr<Kernel> create_scatter(const KernelSpec& s) {
  Reduce r = parse_reduce(ir::attr_string(s.layer, "reduce"));
  DataType t = s.inputs[0]->dtype;
  if (r != Reduce::kNone)
    return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
      return std::make_unique<ScatterKernel<typename decltype(tag)::type>>(s, r);
    });
  switch (element_size(t)) {
    case 1: return std::make_unique<ScatterKernel<uint8_t>>(s, r);
    case 2: return std::make_unique<ScatterKernel<uint16_t>>(s, r);
    case 4: return std::make_unique<ScatterKernel<uint32_t>>(s, r);
    default: return std::make_unique<ScatterKernel<uint64_t>>(s, r);
  }
}

}  // namespace tensorforge::cpu
