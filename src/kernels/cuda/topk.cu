// CUDA topk along one axis with the CPU kernel's total order (src/kernels/cpu/topk.cc): NaN ranks
// above every number, equal values keep the lower index first (-0.0 equals 0.0), and the output is
// always sorted, so values and indices equal the CPU's. Each element becomes a unique key (an
// unsigned integer whose order is the value order, complemented for smallest, plus its index) and
// every row gets a block that bitonic-sorts keys:
//  - k <= 1024 and a row longer than k plus one round of appends (a round: the block's threads,
//    32 to 1024, wider for longer rows): the row's first keys fill a shared buffer (the next power
//    of two) and are sorted; then only elements that beat the k-th best so far are appended, and
//    the buffer is sorted again when a round might not fit and at the row's end;
//  - k <= 16 and contiguous 16-byte aligned rows of 64 to 4096 16-bit floats, whole 16-byte words:
//    a warp per row (up to 1024 elements) or a block per row (longer) holds the row in registers,
//    finds a threshold that at least k elements reach from its threads' largest values, and ranks
//    the few elements at or above it (topk_threshold; rows with many ties at the threshold merge
//    per-thread lists as below);
//  - k <= 16, rows of 64 elements or more and elements of at most 4 bytes (rows shorter than 2^16
//    for 1- and 2-byte elements): each element becomes one packed word (its order key above its
//    index's complement, so one unsigned comparison orders by value, then by lower index); each
//    thread keeps the best K (8 or 16) of its elements in registers, inserted by a branch-free
//    max/min chain, reading 16 bytes at a time from contiguous aligned rows; the lists are merged
//    across each warp by shuffles (bitonic merges of two sorted lists) and the warps' lists by the
//    first warp, which writes the first k;
//  - k <= 16 and rows of 1024 elements or more otherwise (8-byte elements, longer rows): the same
//    with 16-byte keys (value key and index compared apart);
//  - otherwise rows of at most 2048 elements are sorted once in shared memory, longer ones whole in
//    the workspace (a bounded number of rows at a time).
// The values written are the input elements themselves (bit for bit), the indices int64.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/common/axis_view.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/make_non_bool.cuh"
#include "kernels/cuda/packed_keys.cuh"

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

template <class T>
__device__ __forceinline__ Key key_of(const T* x, int64_t j, const Row& r, bool largest) {
  const uint64_t v = order_key(x[j * r.inner]);
  return {largest ? v : ~v, j};
}

/// Fills a[0, count) with the keys of the row's first `count` elements (stride inner), slots past
/// the row's end with placeholders that sort after every element.
template <class T>
__device__ void load_keys(Key* a, int64_t count, const T* x, const Row& r, bool largest) {
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) a[j] = j < r.extent ? key_of(x, j, r, largest) : Key{0, j};
}

/// Rows longer than the buffer a[0, n), whose first n elements are sorted there: each later element
/// that comes before the k-th best so far is appended after the first k slots; when another round of
/// blockDim.x appends might not fit (k + blockDim.x <= n is required), or at the row's end, the
/// buffer is padded with placeholders and sorted again. Keys are unique, so the order of the appends
/// does not matter.
template <class T>
__device__ void stream_rest(Key* a, int64_t n, const T* x, const Row& r, bool largest, int* fill) {
  if (threadIdx.x == 0) *fill = static_cast<int>(r.k);
  Key threshold = a[r.k - 1];
  __syncthreads();
  for (int64_t j0 = n; j0 < r.extent; j0 += blockDim.x) {
    const int64_t j = j0 + threadIdx.x;
    if (j < r.extent) {
      const Key key = key_of(x, j, r, largest);
      if (before(key, threshold)) a[atomicAdd(fill, 1)] = key;
    }
    __syncthreads();
    const int64_t f = *fill;
    if (f + blockDim.x > n || (j0 + blockDim.x >= r.extent && f > r.k)) {
      for (int64_t t = f + threadIdx.x; t < n; t += blockDim.x) a[t] = Key{0, r.extent + t};
      bitonic_sort(a, n);  // its first barrier: every thread has read *fill
      threshold = a[r.k - 1];
      if (threadIdx.x == 0) *fill = static_cast<int>(r.k);
    }
    __syncthreads();
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

/// One block per row: the keys of the row's first n elements go into a[0, n) (shared memory, or the
/// block's n keys of `work` when given) and are sorted; the rest of a longer row is streamed.
template <class T>
__global__ void __launch_bounds__(1024) topk_rows(const T* __restrict__ x, T* __restrict__ values,
                                                  int64_t* __restrict__ indices, int64_t rows, Row r, int64_t n,
                                                  bool largest, Key* work) {
  __shared__ Key buf[kSharedKeys];
  __shared__ int fill;
  Key* a = work ? work + blockIdx.x * n : buf;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / r.inner, i = row - o * r.inner;
    const T* xr = x + o * r.extent * r.inner + i;
    __syncthreads();  // the previous row's writers are done with a
    load_keys(a, n, xr, r, largest);
    bitonic_sort(a, n);
    if (r.extent > n) stream_rest(a, n, xr, r, largest, &fill);
    const int64_t out = o * r.k * r.inner + i;
    write_row(a, xr, values + out, indices + out, r);
  }
}

/// A key from lane `src_lane ^ mask`'s registers (two 64-bit shuffles).
__device__ __forceinline__ Key shfl_xor_key(const Key& k, int mask) {
  Key o;
  o.v = __shfl_xor_sync(0xffffffffu, static_cast<unsigned long long>(k.v), mask);
  o.i = __shfl_xor_sync(0xffffffffu, static_cast<long long>(k.i), mask);
  return o;
}

/// a (sorted best first, K keys) becomes the best K of a and b (both sorted so): the elementwise
/// better of a and reversed b is a bitonic sequence holding them, which a bitonic merge sorts.
/// Keys are unique, so both lanes of a pair end with the same list.
template <int K>
__device__ __forceinline__ void merge_best(Key (&a)[K], const Key (&b)[K]) {
#pragma unroll
  for (int q = 0; q < K; ++q)
    if (before(b[K - 1 - q], a[q])) a[q] = b[K - 1 - q];
#pragma unroll
  for (int stride = K / 2; stride > 0; stride >>= 1)
#pragma unroll
    for (int q = 0; q < K; ++q)
      if ((q & stride) == 0 && before(a[q + stride], a[q])) {
        const Key t = a[q];
        a[q] = a[q + stride];
        a[q + stride] = t;
      }
}

/// Every lane of the warp ends with the best K of all the lanes' lists (butterfly merges).
template <int K>
__device__ __forceinline__ void warp_best(Key (&best)[K]) {
#pragma unroll
  for (int mask = 16; mask > 0; mask >>= 1) {
    Key other[K];
#pragma unroll
    for (int q = 0; q < K; ++q) other[q] = shfl_xor_key(best[q], mask);
    merge_best<K>(best, other);
  }
}

/// Each warp's list (the same in all its lanes) goes through shared memory to the first warp, whose
/// lanes below the block's warp count take one list each and the others none(q). Every thread of
/// the block must call it.
template <int K, class E, int Warps, class None>
__device__ __forceinline__ void lists_to_first_warp(E (&best)[K], E (&lists)[Warps][K], None none) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // the previous row's readers are done with lists
  if (lane == 0)
#pragma unroll
    for (int q = 0; q < K; ++q) lists[warp][q] = best[q];
  __syncthreads();
  if (warp == 0)
#pragma unroll
    for (int q = 0; q < K; ++q) best[q] = lane < warps ? lists[lane][q] : none(q);
}

/// Small k over long rows: each thread's best K keys in registers (a sorted list), merged across
/// the warp by shuffles and across the block's warps through shared memory; no block sort.
template <class T, int K>
__global__ void __launch_bounds__(128) topk_small(const T* __restrict__ x, T* __restrict__ values,
                                                  int64_t* __restrict__ indices, int64_t rows, Row r, bool largest) {
  __shared__ Key lists[4][K];  // one list per warp (at most 128 threads)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / r.inner, i = row - o * r.inner;
    const T* xr = x + o * r.extent * r.inner + i;
    Key best[K];
#pragma unroll
    for (int q = 0; q < K; ++q) best[q] = Key{0, INT64_MAX - q};  // after every element, distinct
    auto insert = [&](const Key& key) {
      if (!before(key, best[K - 1])) return;
#pragma unroll
      for (int q = K - 1; q > 0; --q)  // insertion from the back; reads best[q - 1] before it changes
        if (before(key, best[q])) best[q] = before(key, best[q - 1]) ? best[q - 1] : key;
      if (before(key, best[0])) best[0] = key;
    };
    // Four loads in flight before the insertions that wait for them (a row is latency-bound).
    const int64_t step = blockDim.x;
    int64_t j = threadIdx.x;
    for (; j + 3 * step < r.extent; j += 4 * step) {
      const Key k0 = key_of(xr, j, r, largest), k1 = key_of(xr, j + step, r, largest),
                k2 = key_of(xr, j + 2 * step, r, largest), k3 = key_of(xr, j + 3 * step, r, largest);
      insert(k0);
      insert(k1);
      insert(k2);
      insert(k3);
    }
    for (; j < r.extent; j += step) insert(key_of(xr, j, r, largest));
    warp_best<K>(best);
    lists_to_first_warp<K>(best, lists, [](int q) { return Key{0, INT64_MAX - q}; });
    if (warp == 0) {
      warp_best<K>(best);
      const int64_t out = o * r.k * r.inner + i;
#pragma unroll
      for (int q = 0; q < K; ++q)
        if (lane == q && q < r.k) {
          values[out + q * r.inner] = xr[best[q].i * r.inner];
          indices[out + q * r.inner] = best[q].i;
        }
    }
  }
}

/// Inserts `key` into `best` (sorted largest first, K words), dropping the smallest: branch-free.
template <int K, class W>
__device__ __forceinline__ void insert_packed(W (&best)[K], W key) {
#pragma unroll
  for (int q = 0; q < K; ++q) {
    const W hi = best[q] > key ? best[q] : key;
    key = best[q] > key ? key : best[q];
    best[q] = hi;
  }
}

/// a (sorted largest first) becomes the best K words of a and b (sorted so), as merge_best does.
template <int K, class W>
__device__ __forceinline__ void merge_packed(W (&a)[K], const W (&b)[K]) {
#pragma unroll
  for (int q = 0; q < K; ++q) a[q] = a[q] > b[K - 1 - q] ? a[q] : b[K - 1 - q];
#pragma unroll
  for (int stride = K / 2; stride > 0; stride >>= 1)
#pragma unroll
    for (int q = 0; q < K; ++q)
      if ((q & stride) == 0) {
        const W hi = a[q] > a[q + stride] ? a[q] : a[q + stride];
        a[q + stride] = a[q] > a[q + stride] ? a[q + stride] : a[q];
        a[q] = hi;
      }
}

/// Lanes whose index differs only in the bits below `lanes` (a power of two) end with the best K
/// of their lists (butterfly merges).
template <int K, class W>
__device__ __forceinline__ void lanes_best_packed(W (&best)[K], int lanes) {
  for (int mask = lanes >> 1; mask > 0; mask >>= 1) {
    W other[K];
#pragma unroll
    for (int q = 0; q < K; ++q) other[q] = __shfl_xor_sync(0xffffffffu, best[q], mask);
    merge_packed<K>(best, other);
  }
}

/// topk_small with packed words. `vector`: rows are contiguous (inner 1), 16-byte aligned and a
/// whole number of 16-byte words long, read a word at a time.
template <class T, int K>
__global__ void __launch_bounds__(128) topk_packed(const T* __restrict__ x, T* __restrict__ values,
                                                   int64_t* __restrict__ indices, int64_t rows, Row r, bool largest,
                                                   bool vector) {
  using P = Packed<T>;
  using W = typename P::Word;
  constexpr int V = 16 / sizeof(T);  // elements in a 16-byte word
  __shared__ W lists[4][K];          // one list per warp (at most 128 threads)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int64_t step = blockDim.x;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / r.inner, i = row - o * r.inner;
    const T* xr = x + o * r.extent * r.inner + i;
    W best[K];
#pragma unroll
    for (int q = 0; q < K; ++q) best[q] = 0;  // after every element
    if (vector) {
      const uint4* xv = reinterpret_cast<const uint4*>(xr);
      const int64_t words = r.extent / V;
      auto insert_word = [&](const uint4& w, int64_t c) {
        T e[V];
        memcpy(e, &w, sizeof w);
#pragma unroll
        for (int q = 0; q < V; ++q) insert_packed<K>(best, P::key(e[q], c * V + q, largest));
      };
      int64_t c = threadIdx.x;
      for (; c + 3 * step < words; c += 4 * step) {  // four 16-byte loads in flight
        const uint4 w0 = xv[c], w1 = xv[c + step], w2 = xv[c + 2 * step], w3 = xv[c + 3 * step];
        insert_word(w0, c);
        insert_word(w1, c + step);
        insert_word(w2, c + 2 * step);
        insert_word(w3, c + 3 * step);
      }
      for (; c < words; c += step) insert_word(xv[c], c);
    } else {
      int64_t j = threadIdx.x;
      for (; j + 3 * step < r.extent; j += 4 * step) {
        const T x0 = xr[j * r.inner], x1 = xr[(j + step) * r.inner], x2 = xr[(j + 2 * step) * r.inner],
                x3 = xr[(j + 3 * step) * r.inner];
        insert_packed<K>(best, P::key(x0, j, largest));
        insert_packed<K>(best, P::key(x1, j + step, largest));
        insert_packed<K>(best, P::key(x2, j + 2 * step, largest));
        insert_packed<K>(best, P::key(x3, j + 3 * step, largest));
      }
      for (; j < r.extent; j += step) insert_packed<K>(best, P::key(xr[j * r.inner], j, largest));
    }
    lanes_best_packed<K>(best, 32);
    lists_to_first_warp<K>(best, lists, [](int) { return W(0); });
    if (warp == 0) {
      lanes_best_packed<K>(best, warps);  // lanes below `warps` hold the row's list, the others 0s
      const int64_t out = o * r.k * r.inner + i;
#pragma unroll
      for (int q = 0; q < K; ++q) {
        const W w = __shfl_sync(0xffffffffu, best[q], 0);
        if (lane == q && q < r.k) {
          const int64_t j = P::index(w);
          values[out + q * r.inner] = xr[j * r.inner];
          indices[out + q * r.inner] = j;
        }
      }
    }
  }
}


constexpr int kThresholdWarps = 4, kThresholdCap = 256;

/// The best of a thread's held 16-bit floats (NaN first; the smallest for !largest) as a pair.
template <class T, int WPT>
__device__ __forceinline__ T held_best(const uint4 (&held)[WPT], int me, int team, int words, bool largest) {
  auto better = [&](Pair<T> a, Pair<T> b) { return pair_extreme<T>(a, b, largest); };
  Pair<T> m = pair_of<T>(worst_pair_bits<T>(largest));
#pragma unroll
  for (int c = 0; c < WPT; ++c)
    if (me + team * c < words) {
      const uint4& h = held[c];
      m = better(better(m, pair_of<T>(h.x)), better(better(pair_of<T>(h.y), pair_of<T>(h.z)), pair_of<T>(h.w)));
    }
  return largest ? __hmax_nan(m.x, m.y) : __hmin_nan(m.x, m.y);
}

/// Writes output `slot` of a row from its packed word: the index, and the value from the key's bits
/// (read again from the row where the key does not tell: zeros' sign, NaN).
template <class T>
__device__ __forceinline__ void emit_word(T* vr, int64_t* ir, const T* xr, int slot, uint32_t w, bool largest) {
  using P = Packed<T>;
  const int32_t j = static_cast<int32_t>(P::index(w)), bits = P::bits_of_key(w >> 16, largest);
  ir[slot] = j;
  if (bits >= 0) {
    const uint16_t b = static_cast<uint16_t>(bits);
    memcpy(&vr[slot], &b, sizeof b);
  } else {
    vr[slot] = xr[j];
  }
}

/// A pair of 16-bit floats at or past the threshold whose key is `t`: 0xffff in each such half.
template <class T>
struct Reach {
  Pair<T> tt;
  bool largest;
  __device__ __forceinline__ Reach(uint32_t t, bool largest_) : largest(largest_) {
    const int32_t tb = Packed<T>::bits_of_key(t, largest);  // -1: a zero (not NaN here), compared as +0.0
    tt = pair_of<T>(static_cast<uint32_t>(tb < 0 ? 0 : tb) * 0x10001u);
  }
  __device__ __forceinline__ uint32_t operator()(uint32_t u) const {
    return largest ? __hge2_mask(pair_of<T>(u), tt) : __hle2_mask(pair_of<T>(u), tt);
  }
};

/// Calls f(word) with the packed word (key, index) of each held element at or past the threshold.
template <class T, int WPT, class F>
__device__ __forceinline__ void each_reaching(const uint4 (&held)[WPT], const Reach<T>& reach, int me, int team,
                                              int words, uint32_t flip, F f) {
  using P = Packed<T>;
#pragma unroll
  for (int c = 0; c < WPT; ++c) {
    const uint4& h = held[c];
    const uint32_t r[4] = {reach(h.x), reach(h.y), reach(h.z), reach(h.w)};
    if (me + team * c < words && (r[0] | r[1] | r[2] | r[3]))
#pragma unroll
      for (int e = 0; e < 8; ++e)
        if ((r[e / 2] >> (16 * (e & 1))) & 1u) {
          const uint32_t u = (e < 2 ? h.x : e < 4 ? h.y : e < 6 ? h.z : h.w) >> (16 * (e & 1));
          T v;
          const uint16_t b = static_cast<uint16_t>(u);
          memcpy(&v, &b, sizeof b);
          f(P::pack(P::order(v) ^ flip, (me + team * c) * 8 + e));
        }
  }
}

/// A thread's WPT words of row xr (words `me`, `me + team`, ...; zeros past the row's end).
template <int WPT>
__device__ __forceinline__ void load_held(uint4 (&held)[WPT], const void* xr, int me, int team, int words) {
#pragma unroll
  for (int c = 0; c < WPT; ++c)
    held[c] = me + team * c < words ? reinterpret_cast<const uint4*>(xr)[me + team * c] : make_uint4(0, 0, 0, 0);
}

/// The least of the warp's lane groups' best keys (groups of kGroup lanes; larger keys are better).
template <int kGroup>
__device__ __forceinline__ uint32_t least_group_best(uint32_t t) {
#pragma unroll
  for (int mask = 1; mask < kGroup; mask <<= 1) t = max(t, __shfl_xor_sync(0xffffffffu, t, mask));
#pragma unroll
  for (int mask = kGroup; mask < 32; mask <<= 1) t = min(t, __shfl_xor_sync(0xffffffffu, t, mask));
  return t;
}

/// Writes each of the `count` candidate words in shared memory (16-byte aligned, unique) whose rank
/// among them is below k to its output slot; the team's threads (`me` of `team`) take one each.
template <class T>
__device__ __forceinline__ void rank_candidates(const uint32_t* cand, int count, int me, int team, T* vr, int64_t* ir,
                                                const T* xr, int32_t k, bool largest) {
  const uint4* cand4 = reinterpret_cast<const uint4*>(cand);
  for (int i = me; i < count; i += team) {
    const uint32_t w = cand[i];
    int rank = 0, j = 0;
    for (; j + 4 <= count; j += 4) {  // four a shared-memory read
      const uint4 c = cand4[j / 4];
      rank += (c.x > w) + (c.y > w) + (c.z > w) + (c.w > w);
    }
    for (; j < count; ++j) rank += cand[j] > w;
    if (rank < k) emit_word(vr, ir, xr, rank, w, largest);
  }
}

/// The key path of a row (NaN, or more candidates than fit): every held element becomes a packed
/// key, each thread keeps its best K, and the warp's lists merge by shuffles; every lane of the warp
/// ends with its best K (a block's warps then merge theirs through shared memory).
template <class T, int K, int WPT, int kTeam>
__device__ __forceinline__ void warp_best_keys(const uint4 (&held)[WPT], uint32_t (&best)[K], int me, int words,
                                               bool largest) {
  using P = Packed<T>;
#pragma unroll
  for (int q = 0; q < K; ++q) best[q] = 0;
#pragma unroll
  for (int c = 0; c < WPT; ++c)
    if (me + kTeam * c < words) {
      const uint4& h = held[c];
      const uint4 keys = make_uint4(P::keys2(h.x, largest), P::keys2(h.y, largest), P::keys2(h.z, largest),
                                    P::keys2(h.w, largest));
#pragma unroll
      for (int e = 0; e < 8; ++e) insert_packed<K>(best, P::pack(key16_at(keys, e), (me + kTeam * c) * 8 + e));
    }
  lanes_best_packed<K>(best, 32);
}

/// Writes the row's first k from lane 0's list of its best K, one output a lane.
template <class T, int K>
__device__ __forceinline__ void emit_best(const uint32_t (&best)[K], T* vr, int64_t* ir, const T* xr, int32_t k,
                                          bool largest) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int q = 0; q < K; ++q) {
    const uint32_t w = __shfl_sync(0xffffffffu, best[q], 0);
    if (lane == q && q < k) emit_word(vr, ir, xr, q, w, largest);
  }
}

/// topk of rows of 16-bit floats, contiguous, 16-byte aligned, of whole 16-byte words, 32 * WPT * 8
/// elements at most, K (8 or 16) >= k: a warp a row, four rows a block, each lane holding its WPT
/// words of the row in registers (read once). The lanes' best values (native 16-bit pair maxima, or
/// minima for smallest) give a threshold at least K elements reach: the least of K lane groups'
/// best, by their order keys. Only the elements at or above it (a few in a row of random values;
/// found by native pair comparisons) become packed keys: lanes count theirs, a warp scan places them
/// in shared memory (kThresholdCap at most), and each candidate's rank among them is its output
/// slot. Rows holding NaN (which pair comparisons cannot rank) or with more candidates (many ties at
/// the threshold) turn every element into a key and merge per-lane lists of the best K instead. The
/// keys name the values written, except zeros (the key drops the sign) and NaN, read again. Every
/// group of 32 / K lanes must hold at least one word (rows of at least 32 words).
template <class T, int K, int WPT>
__global__ void __launch_bounds__(32 * kThresholdWarps)
    topk_threshold(const T* __restrict__ x, T* __restrict__ values, int64_t* __restrict__ indices, int64_t rows,
                   int32_t extent, int32_t k, bool largest) {
  constexpr int kGroup = 32 / K;  // a group's best is one of K
  static_assert(sizeof(T) == 2 && 32 % K == 0, "16-bit elements, K a power of two up to 32");
  using P = Packed<T>;
  constexpr unsigned kAll = 0xffffffffu;
  __shared__ __align__(16) uint32_t candidates[kThresholdWarps][kThresholdCap];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, words = extent / 8;
  const uint32_t flip = largest ? 0u : 0xffffu;  // key = order ^ flip
  uint32_t* cand = candidates[warp];
  for (int64_t row = blockIdx.x * int64_t(kThresholdWarps) + warp; row < rows;
       row += int64_t(gridDim.x) * kThresholdWarps) {
    const T* xr = x + row * extent;
    uint4 held[WPT];
    load_held<WPT>(held, xr, lane, 32, words);
    const T best1 = held_best<T, WPT>(held, lane, 32, words, largest);
    int count = kThresholdCap + 1;  // the key path, unless the threshold's candidates fit
    T* vr = values + row * k;
    int64_t* ir = indices + row * k;
    if (!__any_sync(kAll, __hisnan(best1))) {
      // the threshold (a lane without elements offers the worst value's key)
      const Reach<T> reach(least_group_best<kGroup>(P::order(best1) ^ flip), largest);
      int mine = 0;
#pragma unroll
      for (int c = 0; c < WPT; ++c)
        if (lane + 32 * c < words) {
          const uint4& h = held[c];
          mine += (__popc(reach(h.x)) + __popc(reach(h.y)) + __popc(reach(h.z)) + __popc(reach(h.w))) >> 4;
        }
      int end = mine;  // inclusive scan over the warp's lanes
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const int o = __shfl_up_sync(kAll, end, d);
        if (lane >= d) end += o;
      }
      count = __shfl_sync(kAll, end, 31);
      if (count <= kThresholdCap) {
        int pos = end - mine;
        each_reaching<T, WPT>(held, reach, lane, 32, words, flip, [&](uint32_t w) { cand[pos++] = w; });
        __syncwarp();
        rank_candidates(cand, count, lane, 32, vr, ir, xr, k, largest);
      }
    }
    if (count > kThresholdCap) {  // the same in the whole warp
      uint32_t best[K];
      warp_best_keys<T, K, WPT, 32>(held, best, lane, words, largest);
      emit_best<T, K>(best, vr, ir, xr, k, largest);
    }
    __syncwarp();  // cand is rewritten by the next row
  }
}

/// topk_threshold for rows of 1025-4096 elements, the whole block of four warps a row (so a row's
/// serial steps are spread over four warps and more rows are in flight per multiprocessor), four
/// words a thread, with two barriers a row: the NaN test rides with each warp's least group best
/// (bit 31 of its word), candidates take their slots by shared-memory atomics instead of a count and
/// a scan (ranks do not depend on the order), and consecutive rows of a block alternate between two
/// halves of the scratch, so no barrier closes a row. Rows of at least 32 * Warps words; launched
/// with 32 * Warps threads. MinBlocks asks the compiler for that many resident blocks a multiprocessor
/// (the engine asks for 12 for K = 8).
template <class T, int K, int WPT, int Warps = kThresholdWarps, int MinBlocks = 1>
__global__ void __launch_bounds__(32 * Warps, MinBlocks)
    topk_threshold_block(const T* __restrict__ x, T* __restrict__ values, int64_t* __restrict__ indices,
                         int64_t rows, int32_t extent, int32_t k, bool largest) {
  constexpr int kTeam = 32 * Warps, kGroup = kTeam / K;  // a group's best is one of K
  static_assert(sizeof(T) == 2 && 32 % K == 0 && kGroup <= 32, "16-bit elements, K a power of two up to 32");
  using P = Packed<T>;
  constexpr unsigned kAll = 0xffffffffu;
  __shared__ __align__(16) uint32_t candidates[2][kThresholdCap];
  __shared__ uint32_t warp_least[2][Warps];  // each warp's least group best; bit 31: a NaN seen
  __shared__ int found[2];                   // candidates, counted by atomics
  __shared__ uint32_t lists[Warps][K];       // each warp's best K (the key path)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, me = threadIdx.x, words = extent / 8;
  const uint32_t flip = largest ? 0u : 0xffffu;  // key = order ^ flip
  if (me < 2) found[me] = 0;                     // first counted after the first row's first barrier
  int b = 0;                                     // the row's half of the scratch
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x, b ^= 1) {
    const T* xr = x + row * extent;
    uint4 held[WPT];
    load_held<WPT>(held, xr, me, kTeam, words);
    const T best1 = held_best<T, WPT>(held, me, kTeam, words, largest);
    T* vr = values + row * k;
    int64_t* ir = indices + row * k;
    uint32_t t = least_group_best<kGroup>(P::order(best1) ^ flip);  // a thread without elements: the worst key
    const bool nan_seen = __any_sync(kAll, __hisnan(best1));
    if (lane == 0) warp_least[b][warp] = t | (nan_seen ? 0x80000000u : 0u);
    __syncthreads();
    if (me == 0) found[b ^ 1] = 0;  // the previous row's count, read before this barrier
    uint32_t seen = 0;
    t = 0xffffu;
#pragma unroll
    for (int w = 0; w < Warps; ++w) {
      const uint32_t v = warp_least[b][w];
      seen |= v;
      t = min(t, v & 0xffffu);
    }
    int count = kThresholdCap + 1;  // the key path, unless the threshold's candidates fit
    if (!(seen >> 31)) {
      uint32_t* cand = candidates[b];
      each_reaching<T, WPT>(held, Reach<T>(t, largest), me, kTeam, words, flip, [&](uint32_t w) {
        const int pos = atomicAdd(&found[b], 1);
        if (pos < kThresholdCap) cand[pos] = w;
      });
      __syncthreads();
      count = found[b];
      if (count <= kThresholdCap) rank_candidates(cand, count, me, kTeam, vr, ir, xr, k, largest);
    }
    if (count > kThresholdCap) {  // the same in the whole block
      uint32_t best[K];
      warp_best_keys<T, K, WPT, kTeam>(held, best, me, words, largest);
      lists_to_first_warp<K>(best, lists, [](int) { return 0u; });
      if (warp == 0) {
        lanes_best_packed<K>(best, Warps);  // lanes below Warps hold the row's list
        emit_best<T, K>(best, vr, ir, xr, k, largest);
      }
    }
  }
}

template <class T>
class TopKKernel : public Kernel {
 public:
  TopKKernel(const AxisView& v, int64_t k, bool largest)
      : r_{v.extent, v.inner, k}, rows_(v.outer * v.inner), largest_(largest) {
    if constexpr (sizeof(T) <= 4) {  // packed words in registers: the row read once, no sort
      if (k > 0 && k <= 16 && v.extent >= 64 && v.extent < Packed<T>::kMaxExtent) {
        packed_ = true;
        small_k_ = k <= 8 ? 8 : 16;
        threads_ = static_cast<int>(std::min<int64_t>(pow2_at_least(std::max<int64_t>(v.extent / 32, 32)), 128));
        blocks_ = std::max<int64_t>(1, std::min<int64_t>(rows_, int64_t(1) << 30));
        // 16-bit floats in contiguous rows of whole 16-byte words, up to 4096: topk_threshold when the
        // input is 16-byte aligned (checked at each run)
        if constexpr (is_half_float_v<T>) threshold_ = v.inner == 1 && v.extent % 8 == 0 && v.extent <= 4096;
        return;
      }
    }
    if (k > 0 && k <= 16 && v.extent >= 1024) {  // registers first: threads * K keys, one sort
      small_k_ = k <= 8 ? 8 : 16;
      threads_ = static_cast<int>(std::min<int64_t>(pow2_at_least(std::max<int64_t>(v.extent / 32, 32)), 128));
      blocks_ = std::max<int64_t>(1, std::min<int64_t>(rows_, int64_t(1) << 30));
      return;
    }
    n_ = pow2_at_least(v.extent);
    threads_ = static_cast<int>(std::min<int64_t>(std::max<int64_t>(n_ / 2, 32), 1024));
    if (k <= kStreamMaxK) {  // a buffer of k + one round of appends, the rounds wider for longer rows
      const int64_t round = std::min<int64_t>(std::max<int64_t>(pow2_at_least(v.extent / 16), 32), 1024);
      const int64_t n = pow2_at_least(k + round);
      if (n < v.extent) {
        n_ = n;
        threads_ = static_cast<int>(round);
      }
    }
    if (n_ > kSharedKeys) {  // sorted whole in the workspace: as many blocks as 256 MiB of keys allows
      const int64_t fit = (int64_t(256) << 20) / (n_ * int64_t(sizeof(Key)));
      blocks_ = std::max<int64_t>(1, std::min<int64_t>({fit, 1024, rows_}));
    } else {
      blocks_ = std::max<int64_t>(1, std::min<int64_t>(rows_, int64_t(1) << 30));
    }
  }
  size_t workspace_size() const override {
    return !small_k_ && n_ > kSharedKeys ? static_cast<size_t>(blocks_ * n_) * sizeof(Key) : 0;
  }
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (rows_ == 0 || r_.k == 0) return;
    if constexpr (is_half_float_v<T>) {
      if (threshold_ && reinterpret_cast<uintptr_t>(in[0].data) % 16 == 0) {
        // rows up to 1024: a warp a row, 4 words a lane; longer: the block a row, 4 words a thread
        const bool wide = r_.extent > 1024;
        // K = 8's block form asks for 12 resident blocks a multiprocessor (40 registers a thread, not
        // 52, no spills): top-8 of [4096, 4096] 16.1 -> 15.3 us on an H100 (probes/topk_block.cu, run
        // AL); K = 16's would spill at 40
        auto* kernel = small_k_ == 8
                           ? (wide ? topk_threshold_block<T, 8, 4, kThresholdWarps, 12> : topk_threshold<T, 8, 4>)
                           : (wide ? topk_threshold_block<T, 16, 4> : topk_threshold<T, 16, 4>);
        const int64_t teams = wide ? 1 : kThresholdWarps;  // rows a block
        const int64_t blocks = std::min<int64_t>((rows_ + teams - 1) / teams, int64_t(1) << 30);
        kernel<<<static_cast<unsigned>(blocks), 32 * kThresholdWarps, 0, stream()>>>(
            in[0].as<const T>(), out[0].as<T>(), out[1].as<int64_t>(), rows_, static_cast<int32_t>(r_.extent),
            static_cast<int32_t>(r_.k), largest_);
        check_launch("launching topk (threshold)");
        return;
      }
    }
    if constexpr (sizeof(T) <= 4) {
      if (packed_) {
        constexpr int64_t V = 16 / sizeof(T);
        const bool vector =
            r_.inner == 1 && r_.extent % V == 0 && reinterpret_cast<uintptr_t>(in[0].data) % 16 == 0;
        auto* kernel = small_k_ == 8 ? topk_packed<T, 8> : topk_packed<T, 16>;
        kernel<<<static_cast<unsigned>(blocks_), threads_, 0, stream()>>>(
            in[0].as<const T>(), out[0].as<T>(), out[1].as<int64_t>(), rows_, r_, largest_, vector);
        check_launch("launching topk (packed keys)");
        return;
      }
    }
    if (small_k_) {
      auto* kernel = small_k_ == 8 ? topk_small<T, 8> : topk_small<T, 16>;
      kernel<<<static_cast<unsigned>(blocks_), threads_, 0, stream()>>>(in[0].as<const T>(), out[0].as<T>(),
                                                                       out[1].as<int64_t>(), rows_, r_, largest_);
      check_launch("launching topk (small k)");
      return;
    }
    Key* work = n_ > kSharedKeys ? static_cast<Key*>(workspace) : nullptr;
    topk_rows<<<static_cast<unsigned>(blocks_), threads_, 0, stream()>>>(
        in[0].as<const T>(), out[0].as<T>(), out[1].as<int64_t>(), rows_, r_, n_, largest_, work);
    check_launch("launching topk");
  }

 private:
  Row r_;
  int64_t rows_, n_ = 1, blocks_ = 1;
  int threads_ = 32;
  int small_k_ = 0;  // 8 or 16: topk_small's or topk_packed's K
  bool packed_ = false;     // topk_packed
  bool threshold_ = false;  // topk_threshold, of the packed_ ones (topk_packed when not 16-byte aligned)
  bool largest_;
};

}  // namespace

std::unique_ptr<Kernel> create_topk(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  const AxisView v = axis_view(d, norm_axis(ir::attr_int(s.layer, "axis"), d.rank()));
  const int64_t k = ir::attr_int(s.layer, "k");
  const bool largest = ir::attr_int(s.layer, "largest") != 0;
  return make_non_bool<TopKKernel>(s.inputs[0]->dtype, v, k, largest);
}

}  // namespace tensorforge::cuda
