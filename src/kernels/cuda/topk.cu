// CUDA topk along one axis with the CPU kernel's total order (src/kernels/cpu/topk.cc): NaN ranks
// above every number, equal values keep the lower index first (-0.0 equals 0.0), and the output is
// always sorted, so values and indices equal the CPU's. Each element becomes a key (an unsigned
// integer whose order is the value order, complemented for smallest, plus its index) and every row
// gets a block that bitonic-sorts keys:
//  - rows of at most 2048 elements are sorted once in shared memory;
//  - longer rows with k <= 1024 stream through the shared buffer: its first k slots keep the best
//    keys so far, the rest take the next chunk of the row, and the buffer is sorted again;
//  - longer rows with a larger k are sorted whole in the workspace (a bounded number of rows at a
//    time).
// The values written are the input elements themselves (bit for bit), the indices int64.
#include <cstring>

#include "kernels/cpu/axis_view.h"
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

namespace {

struct Key {
  uint64_t v;  // order key: larger comes first
  int64_t i;   // element index along the axis: smaller comes first on equal v
};

__device__ __forceinline__ bool before(const Key& a, const Key& b) { return a.v > b.v || (a.v == b.v && a.i < b.i); }

/// An unsigned key with the order of the CPU kernel's comparison (NaN above everything).
template <class T>
__device__ __forceinline__ uint64_t order_key(T x) {
  if constexpr (is_float_v<T>) {
    const float f = load(&x, 0);
    if (f != f) return 0xffffffffull;
    const uint32_t u = f == 0.0f ? 0u : __float_as_uint(f);  // -0.0 ties with 0.0
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<uint64_t>(static_cast<int64_t>(x)) ^ (uint64_t(1) << 63);
  } else {
    return static_cast<uint64_t>(x);
  }
}

constexpr int kSharedKeys = 2048;  // 32 KiB of keys per block
constexpr int kStreamMaxK = kSharedKeys / 2;

/// Sorts a[0, n) (n a power of two) so that before() holds between neighbours. Every thread of the
/// block must call it; it begins and ends with a barrier.
__device__ void bitonic_sort(Key* a, int64_t n) {
  for (int64_t size = 2; size <= n; size <<= 1)
    for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int64_t t = threadIdx.x; t < n / 2; t += blockDim.x) {
        const int64_t lo = 2 * t - (t & (stride - 1)), hi = lo + stride;
        const bool forward = (lo & size) == 0;
        const Key a_lo = a[lo], a_hi = a[hi];
        if (before(a_hi, a_lo) == forward) {
          a[lo] = a_hi;
          a[hi] = a_lo;
        }
      }
    }
  __syncthreads();
}

struct Row {
  int64_t extent, inner, k;
};

/// Fills a[slot0, slot0 + count) with the keys of elements [j0, j0 + count) of the row at x (stride
/// inner), keys past the row's end with placeholders that sort after every element.
template <class T>
__device__ void load_keys(Key* a, int64_t slot0, int64_t count, const T* x, int64_t j0, const Row& r, bool largest) {
  for (int64_t t = threadIdx.x; t < count; t += blockDim.x) {
    const int64_t j = j0 + t;
    if (j < r.extent) {
      const uint64_t v = order_key(x[j * r.inner]);
      a[slot0 + t] = {largest ? v : ~v, j};
    } else {
      a[slot0 + t] = {0, j};
    }
  }
}

template <class T>
__device__ void write_row(const Key* a, const T* x, T* values, int64_t* indices, const Row& r) {
  for (int64_t j = threadIdx.x; j < r.k; j += blockDim.x) {
    values[j * r.inner] = x[a[j].i * r.inner];
    indices[j * r.inner] = a[j].i;
  }
}

inline int64_t pow2_at_least(int64_t n) {
  int64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

/// One block per row: the row's keys go into a[0, n) (shared memory, or the block's n keys of `work`
/// when given) and are sorted; a row longer than n then streams through the buffer, whose first k
/// slots keep the best keys so far while the rest take the next chunk, re-sorted each time.
template <class T>
__global__ void __launch_bounds__(1024) topk_rows(const T* __restrict__ x, T* __restrict__ values,
                                                  int64_t* __restrict__ indices, int64_t rows, Row r, int64_t n,
                                                  bool largest, Key* work) {
  __shared__ Key buf[kSharedKeys];
  Key* a = work ? work + blockIdx.x * n : buf;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / r.inner, i = row - o * r.inner;
    const T* xr = x + o * r.extent * r.inner + i;
    __syncthreads();  // the previous row's writers are done with a
    load_keys(a, 0, n, xr, 0, r, largest);
    bitonic_sort(a, n);
    for (int64_t j0 = n; j0 < r.extent; j0 += n - r.k) {
      load_keys(a, r.k, n - r.k, xr, j0, r, largest);
      bitonic_sort(a, n);
    }
    const int64_t out = o * r.k * r.inner + i;
    write_row(a, xr, values + out, indices + out, r);
  }
}

enum class Path { kShared, kStream, kGlobal };

template <class T>
class TopKKernel : public Kernel {
 public:
  TopKKernel(const cpu::AxisView& v, int64_t k, bool largest)
      : r_{v.extent, v.inner, k}, rows_(v.outer * v.inner), n_(pow2_at_least(v.extent)), largest_(largest) {
    path_ = n_ <= kSharedKeys ? Path::kShared : k <= kStreamMaxK ? Path::kStream : Path::kGlobal;
    if (path_ == Path::kGlobal) {  // as many blocks as 256 MiB of keys allows, at least one, at most 1024
      const int64_t fit = (int64_t(256) << 20) / (n_ * int64_t(sizeof(Key)));
      blocks_ = fit < 1 ? 1 : fit > 1024 ? 1024 : fit;
      if (blocks_ > rows_) blocks_ = rows_ < 1 ? 1 : rows_;
    } else {
      blocks_ = row_grid(rows_);
    }
  }
  size_t workspace_size() const override {
    return path_ == Path::kGlobal ? static_cast<size_t>(blocks_ * n_) * sizeof(Key) : 0;
  }
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (rows_ == 0 || r_.k == 0) return;
    const T* x = in[0].as<const T>();
    T* values = out[0].as<T>();
    int64_t* indices = out[1].as<int64_t>();
    const int64_t n = path_ == Path::kStream ? kSharedKeys : n_;
    const int threads = n / 2 < 32 ? 32 : n / 2 > 1024 ? 1024 : static_cast<int>(n / 2);
    Key* work = path_ == Path::kGlobal ? static_cast<Key*>(workspace) : nullptr;
    topk_rows<<<static_cast<unsigned>(blocks_), threads, 0, stream()>>>(x, values, indices, rows_, r_, n, largest_,
                                                                         work);
    check_launch("launching topk");
  }

 private:
  static int64_t row_grid(int64_t rows) { return rows < 1 ? 1 : rows > (1 << 30) ? (1 << 30) : rows; }

  Row r_;
  int64_t rows_, n_, blocks_ = 1;
  bool largest_;
  Path path_;
};

}  // namespace

std::unique_ptr<Kernel> create_topk(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  const cpu::AxisView v = cpu::axis_view(d, cpu::norm_axis(ir::attr_int(s.layer, "axis"), d.rank()));
  const int64_t k = ir::attr_int(s.layer, "k");
  const bool largest = ir::attr_int(s.layer, "largest") != 0;
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>)
      return nullptr;  // inference admits floating-point and integer inputs only
    else
      return std::make_unique<TopKKernel<T>>(v, k, largest);
  });
}

}  // namespace tensorforge::cuda
