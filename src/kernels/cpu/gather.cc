// CPU gather. "take" sees x as [outer, n, inner] and copies one inner block per (outer, index)
// (index_select, embedding, x[idx]); "elements" (torch.gather) walks the index tensor and copies one
// element per position. Both move bytes, so any dtype works; indices are range-checked at run time.
#include <cstring>

#include "common/broadcast.h"
#include "kernels/cpu/index.h"

namespace tensorforge::cpu {

namespace {

class GatherTakeKernel : public Kernel {
 public:
  explicit GatherTakeKernel(const KernelSpec& s)
      : layer_(&s.layer), is64_(s.inputs[1]->dtype == DataType::kInt64), m_(s.inputs[1]->dims.volume()) {
    const Dims& x = s.inputs[0]->dims;
    int64_t a = ir::attr_int(s.layer, "axis");
    axis_ = static_cast<int>(a < 0 ? a + x.rank() : a);
    for (int k = 0; k < axis_; ++k) outer_ *= x[k];
    for (int k = axis_ + 1; k < x.rank(); ++k) inner_ *= x[k];
    n_ = x[axis_];
    block_ = static_cast<size_t>(inner_) * element_size(s.inputs[0]->dtype);
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const uint8_t* x = in[0].as<const uint8_t>();
    uint8_t* y = out[0].as<uint8_t>();
    for (int64_t j = 0; j < m_; ++j) load_index(*layer_, in[1].data, is64_, j, n_, axis_);  // check all first
    if (block_ == 0) return;
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t j = 0; j < m_; ++j) {
        int64_t v = load_index(*layer_, in[1].data, is64_, j, n_, axis_);
        std::memcpy(y + (o * m_ + j) * block_, x + (o * n_ + v) * block_, block_);
      }
  }

 private:
  const ir::Layer* layer_;
  bool is64_;
  int64_t m_, n_ = 1, outer_ = 1, inner_ = 1;
  int axis_ = 0;
  size_t block_ = 0;
};

template <class T>  // an unsigned integer type of the element's size
class GatherElementsKernel : public Kernel {
 public:
  explicit GatherElementsKernel(const KernelSpec& s)
      : layer_(&s.layer), is64_(s.inputs[1]->dtype == DataType::kInt64), index_dims_(s.inputs[1]->dims) {
    const Dims& x = s.inputs[0]->dims;
    int64_t a = ir::attr_int(s.layer, "axis");
    axis_ = static_cast<int>(a < 0 ? a + x.rank() : a);
    std::vector<int64_t> cs = contiguous_strides(x);
    for (int k = 0; k < x.rank(); ++k) x_strides_[k] = k == axis_ ? 0 : cs[k];
    axis_stride_ = cs[axis_];
    n_ = x[axis_];
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    walk(index_dims_, x_strides_, x_strides_, [&](int64_t i, int64_t off, int64_t) {
      y[i] = x[off + load_index(*layer_, in[1].data, is64_, i, n_, axis_) * axis_stride_];
    });
  }

 private:
  const ir::Layer* layer_;
  bool is64_;
  Dims index_dims_;
  int64_t x_strides_[kMaxDims] = {};
  int64_t axis_stride_ = 1, n_ = 1;
  int axis_ = 0;
};

}  // namespace

std::unique_ptr<Kernel> create_gather(const KernelSpec& s) {
  if (ir::attr_string(s.layer, "mode") == "take") return std::make_unique<GatherTakeKernel>(s);
  switch (element_size(s.inputs[0]->dtype)) {
    case 1: return std::make_unique<GatherElementsKernel<uint8_t>>(s);
    case 2: return std::make_unique<GatherElementsKernel<uint16_t>>(s);
    case 4: return std::make_unique<GatherElementsKernel<uint32_t>>(s);
    default: return std::make_unique<GatherElementsKernel<uint64_t>>(s);
  }
}

}  // namespace tensorforge::cpu
