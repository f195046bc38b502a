// CUDA scatter with the CPU kernel's semantics (src/kernels/cpu/scatter.cc): out = x (one device copy
// unless the engine runs it in place), then every position p of index sends src[p] to out[p with
// p[axis] = index[p]] (negative indices count from the end): reduce "none" stores it, "add", "mul",
// "max" and "min" combine it with the element there (scatter_reduce with include_self). One thread
// per index element.
//  - Combining is atomic: hardware atomicAdd for float32/float16/bfloat16/int32/int64 sums and
//    atomicMax/atomicMin for int32/int64, otherwise a compare-and-swap loop on the aligned 32- or
//    64-bit word holding the element. Values compute as on the CPU (float16/bfloat16 in float32,
//    rounded at every step; integers wrap; max/min give NaN if either side is NaN). Integer results
//    and max/min are exact whatever the order; floating sums and products of duplicate targets are
//    combined in an unspecified order, so they may differ from the CPU's in-order result by rounding
//    (and the float32 atomicAdd flushes subnormal operands and results to zero).
//  - Reduce "none" with duplicate targets: which write lands is unspecified on CUDA (the CPU keeps
//    the last in index order).
//  - Out-of-range indices: the CPU kernel raises a runtime error; a device cannot, so on CUDA an index
//    outside [-n, n) is skipped (that src element goes nowhere), as the CUDA gather writes 0 for one.
//  - An output much larger than the L2 with many index elements is done in chunks of output that fit
//    the L2 (at most 0.45 of it): each chunk is copied from x (its lines stay in the L2), then every index
//    element is read again (streaming loads) and those landing in the chunk combine there, so their
//    atomics hit the L2 instead of each reading and writing a DRAM sector (4M random float32 additions
//    into 64 MB on an H100: 257 -> 156 us in three chunks, benchmarks/RESULTS.md run AB).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "common/broadcast.h"
#include "kernels/cuda/copy_views.cuh"

namespace tensorforge::cuda {

namespace {

enum class Reduce { kNone, kAdd, kMul, kMax, kMin };

struct ScatterPlan {
  int rank = 0;
  int64_t dims[kMaxDims] = {};         // the index's shape
  int64_t x_strides[kMaxDims] = {};    // x's contiguous strides, 0 on the axis
  int64_t src_strides[kMaxDims] = {};  // src's contiguous strides
  int64_t axis_stride = 1, n = 1;
};

/// Offset in out (-1 when the index is out of range) and in src of index element i (index read by
/// `read_index`).
template <class I, class Read>
__device__ __forceinline__ int64_t target(const ScatterPlan& p, const I* index, int64_t i, int64_t& src_off,
                                          Read read_index) {
  int64_t off = 0, q = i;
  src_off = 0;
  for (int d = p.rank - 1; d >= 0; --d) {
    const int64_t t = q / p.dims[d], c = q - t * p.dims[d];
    off += c * p.x_strides[d];
    src_off += c * p.src_strides[d];
    q = t;
  }
  int64_t v = static_cast<int64_t>(read_index(index, i));
  if (v < -p.n || v >= p.n) return -1;
  return off + (v < 0 ? v + p.n : v) * p.axis_stride;
}

/// a combined with b as the CPU's combine() computes it, in T's compute type.
template <class T>
__device__ __forceinline__ T combine(Reduce r, T a, T b) {
  using C = compute_t<T>;
  const C ca = load(&a, 0), cb = load(&b, 0);
  if constexpr (is_float_v<T>) {
    if ((r == Reduce::kMax || r == Reduce::kMin) && (ca != ca || cb != cb)) return store_as<T>(C(NAN));
    if (r == Reduce::kAdd) return store_as<T>(ca + cb);
    if (r == Reduce::kMul) return store_as<T>(ca * cb);
  } else {  // wrap on overflow
    if (r == Reduce::kAdd) return static_cast<T>(static_cast<uint64_t>(ca) + static_cast<uint64_t>(cb));
    if (r == Reduce::kMul) return static_cast<T>(static_cast<uint64_t>(ca) * static_cast<uint64_t>(cb));
  }
  if (r == Reduce::kMax) return store_as<T>(ca > cb ? ca : cb);
  return store_as<T>(ca < cb ? ca : cb);
}

/// *addr = combine(r, *addr, b) atomically, by compare-and-swap on the aligned word holding *addr.
template <class T>
__device__ void atomic_combine_cas(T* addr, Reduce r, T b) {
  if constexpr (sizeof(T) == 8 || sizeof(T) == 4) {
    using U = std::conditional_t<sizeof(T) == 8, unsigned long long, unsigned int>;
    U* word = reinterpret_cast<U*>(addr);
    U old = *word, assumed;
    do {
      assumed = old;
      T cur, next;
      memcpy(&cur, &assumed, sizeof(T));
      next = combine(r, cur, b);
      U bits;
      memcpy(&bits, &next, sizeof(T));
      old = atomicCAS(word, assumed, bits);
    } while (old != assumed);
  } else {  // 1 or 2 bytes: the 32-bit word containing them (tensors are at least 4-byte aligned)
    const uintptr_t p = reinterpret_cast<uintptr_t>(addr);
    unsigned int* word = reinterpret_cast<unsigned int*>(p & ~uintptr_t(3));
    const unsigned shift = static_cast<unsigned>(p & 3) * 8u;
    const unsigned mask = ((1u << (8 * sizeof(T))) - 1u) << shift;
    unsigned old = *word, assumed;
    do {
      assumed = old;
      const unsigned cur_bits = (assumed & mask) >> shift;
      T cur, next;
      memcpy(&cur, &cur_bits, sizeof(T));
      next = combine(r, cur, b);
      unsigned next_bits = 0;
      memcpy(&next_bits, &next, sizeof(T));
      old = atomicCAS(word, assumed, (assumed & ~mask) | (next_bits << shift));
    } while (old != assumed);
  }
}

template <class T>
__device__ __forceinline__ void atomic_combine(T* addr, Reduce r, T b) {
  if (r == Reduce::kAdd) {
    if constexpr (is_float_v<T> || std::is_same_v<T, int32_t>) {
      atomicAdd(addr, b);
      return;
    } else if constexpr (std::is_same_v<T, int64_t>) {
      atomicAdd(reinterpret_cast<unsigned long long*>(addr), static_cast<unsigned long long>(b));
      return;
    }
  }
  if (r == Reduce::kMax || r == Reduce::kMin) {
    if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
      using S = std::conditional_t<sizeof(T) == 8, long long, int>;
      S* a = reinterpret_cast<S*>(addr);
      if (r == Reduce::kMax)
        atomicMax(a, static_cast<S>(b));
      else
        atomicMin(a, static_cast<S>(b));
      return;
    }
  }
  atomic_combine_cas(addr, r, b);
}

// The output elements [lo, hi) a launch writes (all of them: [0, INT64_MAX)); kChunked: the index
// and src elements are read by streaming loads (each is read once a chunk, the chunk's lines stay).
struct Range {
  int64_t lo = 0, hi = INT64_MAX;
};

template <bool kChunked>
struct Reader {
  template <class V>
  __device__ __forceinline__ V operator()(const V* p, int64_t i) const {
    if constexpr (kChunked)
      return __ldcs(p + i);
    else
      return p[i];
  }
};

template <bool kChunked, class W, class I>
__global__ void scatter_store(W* __restrict__ y, const I* __restrict__ index, const W* __restrict__ src, int64_t total,
                              ScatterPlan p, Range range) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t src_off;
    const int64_t at = target(p, index, i, src_off, Reader<kChunked>{});
    if (at >= range.lo && at < range.hi) y[at] = Reader<kChunked>{}(src, src_off);
  }
}

template <bool kChunked, class T, class I>
__global__ void scatter_reduce(T* y, const I* __restrict__ index, const T* __restrict__ src, int64_t total,
                               ScatterPlan p, Reduce r, Range range) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t src_off;
    const int64_t at = target(p, index, i, src_off, Reader<kChunked>{});
    if (at >= range.lo && at < range.hi) atomic_combine(y + at, r, Reader<kChunked>{}(src, src_off));
  }
}

// kReduce: T is the storage type; otherwise ("none") an unsigned integer of the element's size.
template <class T, class I, bool kReduce>
class ScatterKernel : public Kernel {
 public:
  ScatterKernel(const ScatterPlan& p, Reduce r, size_t bytes, int chunks)
      : p_(p), r_(r), bytes_(bytes), chunks_(chunks) {}
  std::string choice() const override {
    return chunks_ > 1 ? "the output in " + std::to_string(chunks_) + " L2-sized chunks" : "";
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = in[1].numel();
    const bool copy = bytes_ && in[0].data != out[0].data;
    if (!total || chunks_ <= 1) {
      if (copy)
        check(cudaMemcpyAsync(out[0].data, in[0].data, bytes_, cudaMemcpyDeviceToDevice, stream()),
              "copying x into the scatter output");
      if (total) launch<false>(in, out, Range{});
      return;
    }
    // Chunks of whole 256-byte lines of output elements.
    const int64_t n = static_cast<int64_t>(bytes_ / sizeof(T)), line = 256 / sizeof(T);
    const int64_t step = ((n + chunks_ - 1) / chunks_ + line - 1) / line * line;
    for (int64_t lo = 0; lo < n; lo += step) {
      const Range range{lo, std::min(n, lo + step)};
      if (copy)
        check(cudaMemcpyAsync(out[0].as<T>() + range.lo, in[0].as<const T>() + range.lo,
                              static_cast<size_t>(range.hi - range.lo) * sizeof(T), cudaMemcpyDeviceToDevice,
                              stream()),
              "copying a chunk of x into the scatter output");
      launch<true>(in, out, range);
    }
  }

 private:
  template <bool kChunked>
  void launch(const TensorView* in, const TensorView* out, Range range) const {
    const int64_t total = in[1].numel();
    T* y = out[0].as<T>();
    const I* index = in[1].as<const I>();
    const T* src = in[2].as<const T>();
    if constexpr (kReduce)
      scatter_reduce<kChunked><<<blocks_for(total), kThreads, 0, stream()>>>(y, index, src, total, p_, r_, range);
    else
      scatter_store<kChunked><<<blocks_for(total), kThreads, 0, stream()>>>(y, index, src, total, p_, range);
    check_launch("launching scatter");
  }

  ScatterPlan p_;
  Reduce r_;
  size_t bytes_;
  int chunks_;  // output chunks that fit the L2 (1: the whole output in one pass)
};

template <class T, bool kReduce>
std::unique_ptr<Kernel> make(const ScatterPlan& p, Reduce r, size_t bytes, bool is64, int chunks) {
  if (is64) return std::make_unique<ScatterKernel<T, int64_t, kReduce>>(p, r, bytes, chunks);
  return std::make_unique<ScatterKernel<T, int32_t, kReduce>>(p, r, bytes, chunks);
}

// How many L2-sized chunks the output is done in: 1 unless it is over half the L2 and the index
// elements are many enough that their scattered sectors (32 bytes each) outweigh reading them again,
// then chunks of at most 0.45 of the L2 (three for 64 MB on a 50 MB L2), at most 8.
int output_chunks(size_t out_bytes, int64_t index_elements, size_t index_and_src_bytes) {
  int l2 = 0, dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev) != cudaSuccess ||
      l2 <= 0) {
    cudaGetLastError();  // clear it: chunking is only a speed choice
    return 1;
  }
  const double chunk = 0.45 * l2;
  if (out_bytes <= static_cast<size_t>(l2) / 2 || static_cast<double>(index_elements) * 32.0 < 0.25 * out_bytes)
    return 1;
  const int chunks = static_cast<int>(std::ceil(static_cast<double>(out_bytes) / chunk));
  if (chunks > 8 || static_cast<double>(chunks - 1) * index_and_src_bytes > 2.0 * index_elements * 32.0) return 1;
  return chunks;
}

}  // namespace

std::unique_ptr<Kernel> create_scatter(const KernelSpec& s) {
  const std::string& name = ir::attr_string(s.layer, "reduce");
  const Reduce r = name == "add"   ? Reduce::kAdd
                   : name == "mul" ? Reduce::kMul
                   : name == "max" ? Reduce::kMax
                   : name == "min" ? Reduce::kMin
                                   : Reduce::kNone;
  const Dims& x = s.inputs[0]->dims;
  const Dims& idx = s.inputs[1]->dims;
  const int64_t a = ir::attr_int(s.layer, "axis");
  const int axis = static_cast<int>(a < 0 ? a + x.rank() : a);
  ScatterPlan p;
  const std::vector<int64_t> xs = contiguous_strides(x), ss = contiguous_strides(s.inputs[2]->dims);
  p.rank = idx.rank();
  for (int k = 0; k < idx.rank(); ++k) {
    p.dims[k] = idx[k];
    p.x_strides[k] = k == axis ? 0 : xs[k];
    p.src_strides[k] = ss[k];
  }
  p.axis_stride = xs[axis];
  p.n = x[axis];
  const DataType t = s.inputs[0]->dtype;
  const size_t bytes = static_cast<size_t>(x.volume()) * element_size(t);
  const bool is64 = s.inputs[1]->dtype == DataType::kInt64;
  const int64_t n_index = idx.volume();
  const int chunks =
      output_chunks(bytes, n_index, static_cast<size_t>(n_index) * (element_size(s.inputs[1]->dtype) + element_size(t)));
  if (r == Reduce::kNone)
    return dispatch_bytes(element_size(t), [&](auto tag) {
      return make<typename decltype(tag)::type, false>(p, r, bytes, is64, chunks);
    });
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>)
      return nullptr;  // inference rejects bool reductions
    else
      return make<T, true>(p, r, bytes, is64, chunks);
  });
}

}  // namespace tensorforge::cuda
