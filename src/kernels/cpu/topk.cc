// CPU topk along one axis: each row is copied as (value, index) pairs into the workspace and partially
// sorted. The order is total: NaN ranks above every number (as PyTorch), and equal values keep the
// lower index first, so results are deterministic. Output is always sorted (also valid for sorted=0).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include "kernels/common/axis_view.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cpu/reduce.h"

namespace tensorforge::cpu {

namespace {

template <class C>
bool is_nan(C v) {
  return v != v;
}

template <class T>
class TopKKernel : public Kernel {
  using C = compute_t<T>;
  using Entry = std::pair<C, int64_t>;

 public:
  TopKKernel(const AxisView& v, int64_t k, bool largest) : v_(v), k_(k), largest_(largest) {}
  size_t workspace_size() const override { return static_cast<size_t>(v_.extent) * sizeof(Entry); }
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const T* x = in[0].as<T>();
    T* values = out[0].as<T>();
    int64_t* indices = out[1].as<int64_t>();
    Entry* row = static_cast<Entry*>(workspace);
    auto greater = [](const Entry& a, const Entry& b) {
      if (is_nan(a.first) || is_nan(b.first)) return !is_nan(b.first) || (is_nan(a.first) && a.second < b.second);
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    auto less = [](const Entry& a, const Entry& b) {
      if (is_nan(a.first) || is_nan(b.first)) return !is_nan(a.first) || (is_nan(b.first) && a.second < b.second);
      return a.first < b.first || (a.first == b.first && a.second < b.second);
    };
    for (int64_t o = 0; o < v_.outer; ++o)
      for (int64_t i = 0; i < v_.inner; ++i) {
        for (int64_t j = 0; j < v_.extent; ++j) row[j] = {load(x, v_.offset(o, j, i)), j};
        if (largest_)
          std::partial_sort(row, row + k_, row + v_.extent, greater);
        else
          std::partial_sort(row, row + k_, row + v_.extent, less);
        for (int64_t j = 0; j < k_; ++j) {
          const int64_t off = (o * k_ + j) * v_.inner + i;
          values[off] = store_as<T>(row[j].first);
          indices[off] = row[j].second;
        }
      }
  }

 private:
  AxisView v_;
  int64_t k_;
  bool largest_;
};

}  // namespace

std::unique_ptr<Kernel> create_topk(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  AxisView v = axis_view(d, norm_axis(ir::attr_int(s.layer, "axis"), d.rank()));
  const int64_t k = ir::attr_int(s.layer, "k");
  const bool largest = ir::attr_int(s.layer, "largest") != 0;
  return make_non_bool<TopKKernel>(s.inputs[0]->dtype, v, k, largest);
}

}  // namespace tensorforge::cpu
