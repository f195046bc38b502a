// CUDA reduce's kernels (the semantics of src/kernels/cpu/reduce.cc), shared by the translation units
// that instantiate them an op or two each (reduce_sum.cu, reduce_prod.cu, reduce_max.cu, reduce_min.cu,
// reduce_any.cu, reduce_all.cu; one file for all took 260 s, the build's longest compile). reduce walks the input in place: the dims are split into kept and reduced runs
// (adjacent dims of one kind merged); output element o starts at kept.offset(o) and its inputs lie at
// reduced.offset(r) from there. When the innermost reduced run is contiguous each output gets a block
// (coalesced loads, 16 bytes at a time when the run is contiguous and every row 16-byte aligned,
// per-thread partials then a block tree; when outputs are fewer than 512 the row also splits over
// blocks of at least 8 KB, whose partials a second kernel combines, in order or, past 32 splits, by
// a block per output in a fixed tree: a whole-tensor any() or sum() uses the whole card); when instead the outputs are the
// contiguous run (a channels-last spatial mean: [N, H, W, C] over H and W) a block takes 32 adjacent
// outputs, its 32 x 16 threads reading rows of 32 adjacent elements and splitting the reduction 16
// ways (then a fixed tree over the 16), or 32 packs of up to 8 adjacent outputs, one load a pack,
// when the run and every stride are whole packs; and when that makes few blocks (batch 1) the reduction also
// splits over blocks whose partials a second kernel combines in order; otherwise each output gets a thread (threads of adjacent
// outputs read adjacent elements). Each thread keeps four accumulators over its elements (four loads
// in flight), combined in a fixed order. Float sums accumulate in float32, float
// products in double, integer sums/products in 64-bit unsigned arithmetic then wrap to the width (as
// the CPU); max/min propagate NaN; an empty reduction gives the op's identity (mean: NaN); any/all
// may apply a float predicate to each element first (the "prologue", reduce_prologue.h).
#pragma once

#include <algorithm>
#include <climits>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "ir/reduce_prologue.h"
#include "kernels/common/axis_view.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/kernel.h"

namespace tensorforge::cuda::reduce_detail {


/// A row-major box of extents with element strides; offset(i) of the i-th index. Rank 0: one index.
/// The outermost index needs no division; the others divide in 32 bits when the box has fewer than
/// 2^32 indices (`small`), as the inner loops of the kernels below do per element.
struct Walk {
  int rank = 0;
  int64_t ext[kMaxDims] = {}, stride[kMaxDims] = {};
  bool small = false;
  int64_t count() const {
    int64_t n = 1;
    for (int k = 0; k < rank; ++k) n *= ext[k];
    return n;
  }
  __device__ __forceinline__ int64_t offset(int64_t i) const {
    if (rank == 0) return 0;
    int64_t off = 0;
    if (small) {
      uint32_t j = static_cast<uint32_t>(i);
      for (int k = rank - 1; k > 0; --k) {
        const uint32_t e = static_cast<uint32_t>(ext[k]), q = j / e;
        off += static_cast<int64_t>(j - q * e) * stride[k];
        j = q;
      }
      return off + static_cast<int64_t>(j) * stride[0];
    }
    for (int k = rank - 1; k > 0; --k) {
      const int64_t q = i / ext[k];
      off += (i - q * ext[k]) * stride[k];
      i = q;
    }
    return off + i * stride[0];
  }
};

/// A host walk as the kernels' value type.
inline Walk to_walk(const StridedWalk& w) {
  Walk r;
  r.rank = w.rank();
  for (int k = 0; k < r.rank; ++k) {
    r.ext[k] = w.extent(k);
    r.stride[k] = w.stride(k);
  }
  r.small = r.count() < (int64_t(1) << 32);
  return r;
}

// Reduction ops: Acc init(), step(acc, value), combine(acc, acc), finish(acc, count) -> output value.
template <class T>
struct SumR {
  using C = compute_t<T>;
  using Acc = std::conditional_t<is_float_v<T>, float, uint64_t>;
  __device__ Acc init() const { return Acc(0); }
  __device__ Acc step(Acc a, C v) const { return a + static_cast<Acc>(v); }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ Acc finish(Acc a, int64_t) const { return a; }
};
template <class T>
struct MeanR : SumR<T> {
  __device__ float finish(float a, int64_t n) const { return a / static_cast<float>(n); }
};
template <class T>
struct ProdR {
  using C = compute_t<T>;
  using Acc = std::conditional_t<is_float_v<T>, double, uint64_t>;
  __device__ Acc init() const { return Acc(1); }
  __device__ Acc step(Acc a, C v) const { return a * static_cast<Acc>(v); }
  __device__ Acc combine(Acc a, Acc b) const { return a * b; }
  __device__ Acc finish(Acc a, int64_t) const { return a; }
};
template <class T, bool Max>
struct ExtremeR {
  using C = compute_t<T>;
  using Acc = C;
  __device__ Acc init() const {
    if constexpr (std::is_floating_point_v<C>)
      return Max ? -INFINITY : INFINITY;
    else
      return Max ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
  }
  __device__ Acc step(Acc a, C v) const { return combine(a, v); }
  __device__ Acc combine(Acc a, Acc b) const {
    if constexpr (Max)
      return MaxNanOp{}(a, b);
    else
      return MinNanOp{}(a, b);
  }
  __device__ Acc finish(Acc a, int64_t) const { return a; }
};
template <class T, bool Any>
struct LogicR {
  using C = compute_t<T>;
  using Acc = bool;
  int prologue = 0;  // a float predicate applied to each element first (reduce_prologue.h); 0: none
  __device__ Acc init() const { return !Any; }
  __device__ Acc step(Acc a, C v) const {
    const bool b = prologue ? reduce_prologue(prologue, static_cast<float>(v)) : v != C(0);
    return Any ? (a || b) : (a && b);
  }
  __device__ Acc combine(Acc a, Acc b) const { return Any ? (a || b) : (a && b); }
  __device__ Acc finish(Acc a, int64_t) const { return a; }
};

template <class Op>
struct Combine {
  Op op;
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return op.combine(a, b);
  }
};

// One thread's part of a reduction: elements r, r + step, ... below end of the walk from `base`, in
// four interleaved accumulators combined in a fixed order (four loads in flight instead of one,
// which a long chain of dependent additions would serialize).
template <class T, class Op>
__device__ __forceinline__ auto thread_reduce(const T* x, int64_t base, const Walk& reduced, int64_t r, int64_t end,
                                              int64_t step, const Op& op) {
  auto a0 = op.init(), a1 = op.init(), a2 = op.init(), a3 = op.init();
  for (; r + 3 * step < end; r += 4 * step) {
    a0 = op.step(a0, load(x, base + reduced.offset(r)));
    a1 = op.step(a1, load(x, base + reduced.offset(r + step)));
    a2 = op.step(a2, load(x, base + reduced.offset(r + 2 * step)));
    a3 = op.step(a3, load(x, base + reduced.offset(r + 3 * step)));
  }
  for (; r < end; r += step) a0 = op.step(a0, load(x, base + reduced.offset(r)));
  return op.combine(op.combine(a0, a1), op.combine(a2, a3));
}

// Block (o, s) reduces output o over the reduction's elements [s * chunk, (s + 1) * chunk): into y
// when the grid has one split, else into partial[s][o] (reduce_partials finishes).
template <class T, class Out, class Op>
__global__ void reduce_blocks(const T* x, Out* y, decltype(Op{}.init())* partial, Walk kept, Walk reduced,
                              int64_t outputs, int64_t count, int64_t chunk, Op op) {
  const int64_t begin = blockIdx.y * chunk, end = begin + chunk < count ? begin + chunk : count;
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    const int64_t base = kept.offset(o);
    auto acc = thread_reduce(x, base, reduced, begin + threadIdx.x, end, blockDim.x, op);
    acc = block_reduce(acc, Combine<Op>{op}, op.init());
    if (threadIdx.x == 0) {
      if (gridDim.y == 1)
        y[o] = store_as<Out>(op.finish(acc, count));
      else
        partial[blockIdx.y * outputs + o] = acc;
    }
  }
}

// reduce_blocks for a reduction that is one contiguous run per output, every row starting 16-byte
// aligned and `chunk` a multiple of V: each thread reads V elements (16 bytes) at a time, in two
// accumulators; the tail of the last split (count not a multiple of V) element by element.
template <class T, class Out, class Op, int V>
__global__ void reduce_blocks_vec(const T* x, Out* y, decltype(Op{}.init())* partial, Walk kept, int64_t outputs,
                                  int64_t count, int64_t chunk, Op op) {
  const int64_t begin = blockIdx.y * chunk, end = begin + chunk < count ? begin + chunk : count;
  const int64_t packs_end = end / V;
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    const T* row = x + kept.offset(o);
    const Pack<T, V>* packs = reinterpret_cast<const Pack<T, V>*>(row);
    auto a0 = op.init(), a1 = op.init();
    int64_t p = begin / V + threadIdx.x;
    for (; p + blockDim.x < packs_end; p += 2 * int64_t(blockDim.x)) {
      const Pack<T, V> u = packs[p], w = packs[p + blockDim.x];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        a0 = op.step(a0, load(u.v, k));
        a1 = op.step(a1, load(w.v, k));
      }
    }
    if (p < packs_end) {
      const Pack<T, V> u = packs[p];
#pragma unroll
      for (int k = 0; k < V; ++k) a0 = op.step(a0, load(u.v, k));
    }
    for (int64_t r = packs_end * V + threadIdx.x; r < end; r += blockDim.x) a1 = op.step(a1, load(row, r));
    auto acc = block_reduce(op.combine(a0, a1), Combine<Op>{op}, op.init());
    if (threadIdx.x == 0) {
      if (gridDim.y == 1)
        y[o] = store_as<Out>(op.finish(acc, count));
      else
        partial[blockIdx.y * outputs + o] = acc;
    }
  }
}

// reduce_blocks_vec's rows with a warp each (many rows of at most kWarpRowPacks packs a lane): no
// shared memory or barriers, four 16-byte loads in flight per lane, the lanes combined by shuffles.
constexpr int kWarpRowsPerBlock = 8;
constexpr int64_t kWarpRowPacks = 16;     // packs a lane reads at most
constexpr int64_t kWarpRowsAtLeast = 512;  // rows: fewer take a block (or several) each
template <class T, class Out, class Op, int V>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    reduce_warps_vec(const T* x, Out* y, Walk kept, int64_t outputs, int64_t count, Op op) {
  const int lane = threadIdx.x & 31;
  const int64_t packs_end = count / V;
  for (int64_t o = blockIdx.x * int64_t(kWarpRowsPerBlock) + (threadIdx.x >> 5); o < outputs;
       o += int64_t(gridDim.x) * kWarpRowsPerBlock) {
    const T* row = x + kept.offset(o);
    const Pack<T, V>* packs = reinterpret_cast<const Pack<T, V>*>(row);
    auto a0 = op.init(), a1 = op.init(), a2 = op.init(), a3 = op.init();
    int64_t p = lane;
    for (; p + 96 < packs_end; p += 128) {
      const Pack<T, V> u0 = packs[p], u1 = packs[p + 32], u2 = packs[p + 64], u3 = packs[p + 96];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        a0 = op.step(a0, load(u0.v, k));
        a1 = op.step(a1, load(u1.v, k));
        a2 = op.step(a2, load(u2.v, k));
        a3 = op.step(a3, load(u3.v, k));
      }
    }
    for (; p < packs_end; p += 32) {
      const Pack<T, V> u = packs[p];
#pragma unroll
      for (int k = 0; k < V; ++k) a0 = op.step(a0, load(u.v, k));
    }
    for (int64_t r = packs_end * V + lane; r < count; r += 32) a1 = op.step(a1, load(row, r));
    auto acc = warp_reduce(op.combine(op.combine(a0, a1), op.combine(a2, a3)), Combine<Op>{op});
    if (lane == 0) y[o] = store_as<Out>(op.finish(acc, count));
  }
}

template <class T, class Out, class Op>
__global__ void reduce_threads(const T* x, Out* y, Walk kept, Walk reduced, int64_t outputs, int64_t count, Op op) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < outputs; o += int64_t(gridDim.x) * blockDim.x) {
    y[o] = store_as<Out>(op.finish(thread_reduce(x, kept.offset(o), reduced, 0, count, 1, op), count));
  }
}

constexpr int kColumnOutputs = 32, kColumnSplit = 16;  // reduce_columns' block: outputs x reduction split
constexpr int64_t kColumnBlocks = 256;  // few outputs (batch 1): the reduction splits over blocks too
constexpr int64_t kColumnMinRun = 8;    // elements each thread of a split block reads at least
constexpr int64_t kRowBlocks = 512;     // few long rows (a whole-tensor any or sum): rows split over blocks
constexpr int64_t kRowMinChunkBytes = 8192;  // bytes each block of a split row reads at least
constexpr int64_t kPartialsByBlock = 32;  // more splits than this: a block per output combines them

// Block (x, s) reduces outputs 32x .. 32x + 31 over the reduction's elements [s * chunk, (s + 1) * chunk):
// into y when the grid has one split, else into partial[s][output] (reduce_partials finishes).
template <class T, class Out, class Op>
__global__ void __launch_bounds__(kColumnOutputs* kColumnSplit)
    reduce_columns(const T* x, Out* y, decltype(Op{}.init())* partial, Walk kept, Walk reduced, int64_t outputs,
                   int64_t count, int64_t chunk, Op op) {
  using Acc = decltype(op.init());
  __shared__ Acc part[kColumnSplit][kColumnOutputs + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t begin = blockIdx.y * chunk, end = begin + chunk < count ? begin + chunk : count;
  for (int64_t o0 = blockIdx.x * int64_t(kColumnOutputs); o0 < outputs; o0 += int64_t(gridDim.x) * kColumnOutputs) {
    const int64_t o = o0 + tx;
    auto acc = op.init();
    if (o < outputs) acc = thread_reduce(x, kept.offset(o), reduced, begin + ty, end, kColumnSplit, op);
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0) {
      for (int k = 1; k < kColumnSplit; ++k) acc = op.combine(acc, part[k][tx]);
      if (o < outputs) {
        if (gridDim.y == 1)
          y[o] = store_as<Out>(op.finish(acc, count));
        else
          partial[blockIdx.y * outputs + o] = acc;
      }
    }
    __syncthreads();
  }
}

// Outputs a thread of reduce_columns_vec takes: a 16-byte pack, at most 8 (so that the block's
// partials of 8-byte accumulators stay within 48 KB of shared memory).
template <class T>
constexpr int column_pack() {
  return vec_width<T>() < 8 ? vec_width<T>() : 8;
}

// reduce_columns with packed loads: thread x takes V adjacent outputs (the outputs' contiguous run
// a multiple of V, every stride a multiple of V, x aligned to the pack), so a block covers 32 * V
// outputs; the 16 y-threads split the reduction and a fixed tree combines them, as reduce_columns.
static_assert(column_pack<uint8_t>() <= kColumnSplit, "reduce_columns_vec finishes an output a thread");
template <class T, class Out, class Op, int V>
__global__ void __launch_bounds__(kColumnOutputs* kColumnSplit)
    reduce_columns_vec(const T* x, Out* y, decltype(Op{}.init())* partial, Walk kept, Walk reduced, int64_t outputs,
                       int64_t count, int64_t chunk, Op op) {
  using Acc = decltype(op.init());
  constexpr int kBlockOutputs = kColumnOutputs * V;
  __shared__ Acc part[kColumnSplit][kBlockOutputs + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t begin = blockIdx.y * chunk, end = begin + chunk < count ? begin + chunk : count;
  for (int64_t o0 = blockIdx.x * int64_t(kBlockOutputs); o0 < outputs; o0 += int64_t(gridDim.x) * kBlockOutputs) {
    const int64_t o = o0 + int64_t(tx) * V;  // outputs % V == 0: all V of them exist when o does
    Acc acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = op.init();
    if (o < outputs) {
      const T* base = x + kept.offset(o);
#pragma unroll 4
      for (int64_t r = begin + ty; r < end; r += kColumnSplit) {
        const Pack<T, V> u = *reinterpret_cast<const Pack<T, V>*>(base + reduced.offset(r));
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = op.step(acc[k], load(u.v, k));
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) part[ty][tx * V + k] = acc[k];
    __syncthreads();
    // The block's first 32 * V threads finish an output each (where one warp finishing all of them
    // would run 15 * V dependent combines while the others wait), in the same order of splits.
    const int id = ty * kColumnOutputs + tx;
    if (id < kBlockOutputs && o0 + id < outputs) {
      Acc a = part[0][id];
#pragma unroll
      for (int j = 1; j < kColumnSplit; ++j) a = op.combine(a, part[j][id]);
      if (gridDim.y == 1)
        y[o0 + id] = store_as<Out>(op.finish(a, count));
      else
        partial[blockIdx.y * outputs + o0 + id] = a;
    }
    __syncthreads();
  }
}

// reduce_columns_vec where one dim is reduced and the outputs are [outer, inner] (inner contiguous,
// whole packs) and the grid does not split the reduction: offsets by two products instead of walks
// over the dims (which the general kernel keeps in local memory), and only kStridedSplit threads a
// pack of outputs, each with up to 16 loads in flight, whose partials are combined in split order.
// The max over the middle axis of [32, 64, 12544] float16 read at 83% of the H100's copy rate this
// way in a scratch benchmark, against 59% through reduce_columns_vec.
constexpr int kStridedSplit = 2;
template <class T, class Out, class Op, int V>
__global__ void __launch_bounds__(kColumnOutputs* kStridedSplit)
    reduce_columns_strided(const T* x, Out* y, int64_t outputs, int64_t inner, int64_t outer_stride,
                           int64_t reduced_stride, int64_t count, Op op) {
  using Acc = decltype(op.init());
  constexpr int kBlockOutputs = kColumnOutputs * V;
  __shared__ Acc part[kStridedSplit][kBlockOutputs];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t o0 = blockIdx.x * int64_t(kBlockOutputs); o0 < outputs; o0 += int64_t(gridDim.x) * kBlockOutputs) {
    const int64_t o = o0 + int64_t(tx) * V;  // outputs % V == 0: all V of them exist when o does
    Acc acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = op.init();
    if (o < outputs) {
      const int64_t b = o / inner;
      const T* base = x + b * outer_stride + (o - b * inner);
#pragma unroll 16
      for (int64_t r = ty; r < count; r += kStridedSplit) {
        const Pack<T, V> u = *reinterpret_cast<const Pack<T, V>*>(base + r * reduced_stride);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = op.step(acc[k], load(u.v, k));
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) part[ty][tx * V + k] = acc[k];
    __syncthreads();
    for (int id = ty * kColumnOutputs + tx; id < kBlockOutputs; id += kColumnOutputs * kStridedSplit) {
      if (o0 + id < outputs) {
        Acc a = part[0][id];
#pragma unroll
        for (int j = 1; j < kStridedSplit; ++j) a = op.combine(a, part[j][id]);
        y[o0 + id] = store_as<Out>(op.finish(a, count));
      }
    }
    __syncthreads();  // part is rewritten by the next outputs
  }
}

// y[o] = the splits' partials of output o combined by one block (block o): thread t takes splits t,
// t + blockDim, ... in order, then a fixed tree (deterministic); for few outputs with many splits.
template <class Out, class Op>
__global__ void reduce_partials_block(const decltype(Op{}.init())* partial, Out* y, int64_t outputs, int64_t splits,
                                      int64_t count, Op op) {
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    auto acc = op.init();
    for (int64_t s = threadIdx.x; s < splits; s += blockDim.x) acc = op.combine(acc, partial[s * outputs + o]);
    acc = block_reduce(acc, Combine<Op>{op}, op.init());
    if (threadIdx.x == 0) y[o] = store_as<Out>(op.finish(acc, count));
  }
}

// y[o] = the splits' partials of output o combined in split order (deterministic).
template <class Out, class Op>
__global__ void reduce_partials(const decltype(Op{}.init())* partial, Out* y, int64_t outputs, int64_t splits,
                                int64_t count, Op op) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < outputs; o += int64_t(gridDim.x) * blockDim.x) {
    auto acc = partial[o];
    for (int64_t s = 1; s < splits; ++s) acc = op.combine(acc, partial[s * outputs + o]);
    y[o] = store_as<Out>(op.finish(acc, count));
  }
}

template <class T, class Out, class Op>
class ReduceKernel : public Kernel {
 public:
  ReduceKernel(const Walk& kept, const Walk& reduced, Op op)
      : kept_(kept), reduced_(reduced), op_(op), outputs_(kept.count()), count_(reduced.count()) {
    by_block_ = reduced.rank > 0 && reduced.stride[reduced.rank - 1] == 1 && count_ >= 32;
    by_columns_ = !by_block_ && kept.rank > 0 && kept.stride[kept.rank - 1] == 1 && count_ >= kColumnSplit;
    chunk_ = count_;
    // One contiguous run per output, rows a whole number of 16-byte packs apart: packed loads (when
    // the pointer is aligned at run time).
    constexpr int64_t V = vec_width<T>();
    vec_ = by_block_ && V > 1 && reduced.rank == 1 && reduced.stride[0] == 1;
    for (int k = 0; vec_ && k < kept.rank; ++k) vec_ = kept.stride[k] % V == 0 || kept.ext[k] == 1;
    if (by_block_ && outputs_ > 0 && outputs_ < kRowBlocks) {  // few rows: each also splits over blocks
      const int64_t min_chunk = std::max<int64_t>(kRowMinChunkBytes / static_cast<int64_t>(sizeof(T)), 1);
      splits_ = std::clamp<int64_t>(std::min(kRowBlocks / outputs_, count_ / min_chunk), 1, 65535);
      chunk_ = (count_ + splits_ - 1) / splits_;
      if (vec_) chunk_ = (chunk_ + V - 1) / V * V;  // splits start on pack boundaries
      splits_ = (count_ + chunk_ - 1) / chunk_;  // no empty split
    }
    // Many rows of a few packs a lane: a warp a row.
    warp_rows_ = vec_ && splits_ == 1 && outputs_ >= kWarpRowsAtLeast && count_ <= 32 * kWarpRowPacks * V;
    // Columns in 16-byte packs: the outputs' run and every stride whole packs (and the pointer
    // aligned at run time).
    constexpr int64_t CV = column_pack<T>();
    // Only with outputs for several packed blocks: with few (a squeeze-excite pooling at batch 1,
    // 72 to 960 outputs) packs leave most of a block's threads idle (measured slower on the H200).
    col_vec_ = by_columns_ && CV > 1 && kept.ext[kept.rank - 1] % CV == 0 && outputs_ >= kColumnOutputs * CV * 4;
    for (int k = 0; col_vec_ && k < kept.rank; ++k)
      col_vec_ = kept.stride[k] % CV == 0 || kept.ext[k] == 1 || k == kept.rank - 1;
    for (int k = 0; col_vec_ && k < reduced.rank; ++k) col_vec_ = reduced.stride[k] % CV == 0 || reduced.ext[k] == 1;
    if (by_columns_) {
      const int64_t per_block = kColumnOutputs * (col_vec_ ? CV : 1);
      column_blocks_ = std::clamp<int64_t>((outputs_ + per_block - 1) / per_block, 1, 1 << 30);
      splits_ = std::max<int64_t>(1, std::min(kColumnBlocks / column_blocks_, count_ / (kColumnSplit * kColumnMinRun)));
      splits_ = std::min<int64_t>(splits_, 65535);
      chunk_ = (count_ + splits_ - 1) / splits_;
      splits_ = (count_ + chunk_ - 1) / chunk_;  // no empty split
    }
    // One reduced dim over [outer, inner] outputs, the reduction not split over blocks.
    strided_ = by_columns_ && col_vec_ && splits_ == 1 && reduced.rank == 1 && kept.rank <= 2;
  }
  size_t workspace_size() const override {
    return splits_ > 1 ? static_cast<size_t>(splits_ * outputs_) * sizeof(decltype(Op{}.init())) : 0;
  }
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (outputs_ == 0) return;
    const T* x = in[0].as<T>();
    Out* y = out[0].as<Out>();
    auto* partial = static_cast<decltype(Op{}.init())*>(workspace);
    if (warp_rows_ && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
      constexpr int V = vec_width<T>();
      const int64_t blocks = std::min<int64_t>((outputs_ + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock, 1 << 30);
      reduce_warps_vec<T, Out, Op, V><<<static_cast<unsigned>(blocks), 32 * kWarpRowsPerBlock, 0, stream()>>>(
          x, y, kept_, outputs_, count_, op_);
      check_launch("launching reduce_warps_vec");
    } else if (by_block_ && vec_ && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
      constexpr int V = vec_width<T>();
      reduce_blocks_vec<T, Out, Op, V>
          <<<dim3(row_blocks(outputs_), static_cast<unsigned>(splits_)), row_threads((chunk_ + V - 1) / V), 0,
             stream()>>>(x, y, partial, kept_, outputs_, count_, chunk_, op_);
      check_launch("launching reduce_blocks_vec");
    } else if (by_block_) {
      reduce_blocks<<<dim3(row_blocks(outputs_), static_cast<unsigned>(splits_)), row_threads(chunk_), 0, stream()>>>(
          x, y, partial, kept_, reduced_, outputs_, count_, chunk_, op_);
      check_launch("launching reduce_blocks");
    } else if (strided_ && reinterpret_cast<uintptr_t>(x) % (column_pack<T>() * sizeof(T)) == 0) {
      constexpr int V = column_pack<T>();
      const int64_t per_block = kColumnOutputs * V;
      const auto blocks = static_cast<unsigned>(std::clamp<int64_t>((outputs_ + per_block - 1) / per_block, 1, 1 << 30));
      reduce_columns_strided<T, Out, Op, V><<<blocks, dim3(kColumnOutputs, kStridedSplit), 0, stream()>>>(
          x, y, outputs_, kept_.ext[kept_.rank - 1], kept_.rank > 1 ? kept_.stride[0] : 0, reduced_.stride[0], count_,
          op_);
      check_launch("launching reduce_columns_strided");
    } else if (by_columns_ && col_vec_ && reinterpret_cast<uintptr_t>(x) % (column_pack<T>() * sizeof(T)) == 0) {
      constexpr int V = column_pack<T>();
      reduce_columns_vec<T, Out, Op, V><<<dim3(static_cast<unsigned>(column_blocks_), static_cast<unsigned>(splits_)),
                                          dim3(kColumnOutputs, kColumnSplit), 0, stream()>>>(
          x, y, partial, kept_, reduced_, outputs_, count_, chunk_, op_);
      check_launch("launching reduce_columns_vec");
    } else if (by_columns_) {
      reduce_columns<<<dim3(static_cast<unsigned>(column_blocks_), static_cast<unsigned>(splits_)),
                       dim3(kColumnOutputs, kColumnSplit), 0, stream()>>>(x, y, partial, kept_, reduced_, outputs_,
                                                                          count_, chunk_, op_);
      check_launch("launching reduce_columns");
    } else {
      reduce_threads<<<blocks_for(outputs_), kThreads, 0, stream()>>>(x, y, kept_, reduced_, outputs_, count_, op_);
      check_launch("launching reduce_threads");
    }
    if (splits_ > kPartialsByBlock) {
      reduce_partials_block<<<row_blocks(outputs_), row_threads(splits_), 0, stream()>>>(partial, y, outputs_, splits_,
                                                                                          count_, op_);
      check_launch("launching reduce_partials_block");
    } else if (splits_ > 1) {
      reduce_partials<<<blocks_for(outputs_), kThreads, 0, stream()>>>(partial, y, outputs_, splits_, count_, op_);
      check_launch("launching reduce_partials");
    }
  }

 private:
  Walk kept_, reduced_;
  bool strided_ = false;
  Op op_;
  int64_t outputs_, count_;
  bool by_block_ = false, by_columns_ = false, vec_ = false, col_vec_ = false, warp_rows_ = false;
  int64_t column_blocks_ = 0, splits_ = 1, chunk_ = 0;  // reduce_columns' / reduce_blocks' grid and chunk
};

template <class T, class Out, class Op>
std::unique_ptr<Kernel> make(const Walk& kept, const Walk& reduced, Op op) {
  return std::make_unique<ReduceKernel<T, Out, Op>>(kept, reduced, op);
}

/// The reduce kernel of sum or mean (`op`) for input dtype `t`; nullptr for a dtype the op does not
/// take (reduce_sum.cu).
std::unique_ptr<Kernel> make_sum_or_mean(DataType t, const std::string& op, const Walk& kept, const Walk& reduced);
/// The same for prod (reduce_prod.cu).
std::unique_ptr<Kernel> make_prod(DataType t, const Walk& kept, const Walk& reduced);

/// The reduce kernel of max (Max) or min for input dtype `t`.
template <bool Max>
std::unique_ptr<Kernel> make_max_or_min(DataType t, const Walk& kept, const Walk& reduced) {
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    return make<T, T>(kept, reduced, ExtremeR<T, Max>{});
  });
}

/// The reduce kernel of any (Any) or all for input dtype `t`, each element first through `prologue`
/// (reduce_prologue.h).
template <bool Any>
std::unique_ptr<Kernel> make_any_or_all(DataType t, const Walk& kept, const Walk& reduced, int prologue) {
  return dispatch(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    return make<T, bool>(kept, reduced, LogicR<T, Any>{prologue});
  });
}

// Each op's kernels for every dtype are compiled in a translation unit of their own (reduce_max.cu,
// reduce_min.cu, reduce_any.cu, reduce_all.cu), so that the build compiles them side by side.
extern template std::unique_ptr<Kernel> make_max_or_min<true>(DataType, const Walk&, const Walk&);
extern template std::unique_ptr<Kernel> make_max_or_min<false>(DataType, const Walk&, const Walk&);
extern template std::unique_ptr<Kernel> make_any_or_all<true>(DataType, const Walk&, const Walk&, int);
extern template std::unique_ptr<Kernel> make_any_or_all<false>(DataType, const Walk&, const Walk&, int);

}  // namespace tensorforge::cuda::reduce_detail
