// CPU pad over any rank: constant (any dtype; negative pads crop), reflect and replicate. For each
// dim a table maps output index -> source index (-1 = the constant), built once at creation; run()
// walks output rows (split over the CPU threads) and gathers along the last dim, or in constant mode
// copies the row's one run of source values whole.
#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/spatial.h"

namespace tensorforge::cpu {

namespace {

template <class T>
class PadKernel : public Kernel {
 public:
  PadKernel(const KernelSpec& s, T value) : value_(value) {
    const Dims& x = s.inputs[0]->dims;
    out_ = s.outputs[0]->dims;
    rank_ = x.rank();
    const auto& pads = ir::attr_ints(s.layer, "pads");
    const std::string& mode = ir::attr_string(s.layer, "mode");
    int64_t stride = 1;
    for (int i = rank_ - 1; i >= 0; --i) {
      in_stride_[i] = stride;
      stride *= x[i];
    }
    for (int i = 0; i < rank_; ++i) {
      offset_[i] = static_cast<int64_t>(map_.size());
      const int64_t n = x[i], begin = pads[i];
      for (int64_t j = 0; j < out_[i]; ++j) {
        int64_t src = j - begin;
        if (mode == "reflect") {
          if (src < 0) src = -src;
          if (src >= n) src = 2 * (n - 1) - src;
        } else if (mode == "replicate") {
          src = std::min(std::max<int64_t>(src, 0), n - 1);
        } else if (src < 0 || src >= n) {
          src = -1;
        }
        map_.push_back(src);
      }
    }
    // In constant mode the last dim's sources are one increasing run [interior_begin_, interior_end_)
    // of the output row (copied whole), the constant on either side.
    if (mode != "reflect" && mode != "replicate") {
      const int64_t* m = map_.data() + offset_[rank_ - 1];
      const int64_t w = rank_ > 0 ? out_[rank_ - 1] : 0;
      int64_t b = 0;
      while (b < w && m[b] < 0) ++b;
      int64_t e = b;
      while (e < w && m[e] >= 0) ++e;
      if (e > b) interior_begin_ = b, interior_end_ = e;
    }
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    if (rank_ == 0) {
      y[0] = x[0];
      return;
    }
    const int64_t width = out_[rank_ - 1];
    if (out_.volume() == 0) return;
    const int64_t rows = out_.volume() / width;
    // Output rows split over the CPU threads.
    parallel_for(rows, row_grain(width), [&](int64_t r0, int64_t r1) { fill_rows(x, y, r0, r1); });
  }

 private:
  // Output rows [r0, r1) of `width` elements each.
  void fill_rows(const T* x, T* y, int64_t r0, int64_t r1) const {
    const int last = rank_ - 1;
    const int64_t width = out_[last];
    const int64_t* last_map = map_.data() + offset_[last];
    int64_t idx[kMaxDims] = {};
    for (int64_t rest = r0, i = last - 1; i >= 0; --i) {  // row r0's index in each leading dim
      idx[i] = rest % out_[i];
      rest /= out_[i];
    }
    y += r0 * width;
    for (int64_t row = r0; row < r1; ++row) {
      int64_t src = 0;
      bool inside = true;
      for (int i = 0; i < last; ++i) {
        const int64_t m = map_[offset_[i] + idx[i]];
        inside = inside && m >= 0;
        src += m * in_stride_[i];
      }
      if (!inside) {
        std::fill(y, y + width, value_);
      } else if (interior_end_ > interior_begin_) {  // constant mode: value, the source run, value
        const T* run = x + src + last_map[interior_begin_];
        std::fill(y, y + interior_begin_, value_);
        std::copy(run, run + (interior_end_ - interior_begin_), y + interior_begin_);
        std::fill(y + interior_end_, y + width, value_);
      } else {
        for (int64_t j = 0; j < width; ++j) y[j] = last_map[j] < 0 ? value_ : x[src + last_map[j]];
      }
      y += width;
      for (int i = last - 1; i >= 0; --i) {  // next output row
        if (++idx[i] < out_[i]) break;
        idx[i] = 0;
      }
    }
  }

 private:
  T value_;
  Dims out_;
  int rank_ = 0;
  int64_t in_stride_[kMaxDims] = {};
  int64_t offset_[kMaxDims] = {};
  std::vector<int64_t> map_;
  int64_t interior_begin_ = 0, interior_end_ = 0;  // empty: no run (the gather)
};

}  // namespace

std::unique_ptr<Kernel> create_pad(const KernelSpec& s) {
  const double value = ir::attr_float(s.layer, "value");
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    return std::make_unique<PadKernel<T>>(s, store_as<T>(value));
  });
}

}  // namespace tensorforge::cpu
