// CUDA scaled dot-product attention: out = softmax(scale * q k^T + mask) v per (batch, head), the
// same semantics as the CPU kernel (cpu/attention.cc): causal masks key j > query i (top-left
// aligned), a bool mask's false drops a key, an additive mask is added to the scaled scores, a row
// with nothing to attend gives zeros, and key/value heads (dim -3) may serve a group of query heads.
//
// Two kernels, neither materializing the [L, S] scores in global memory:
// - flash (float16/bfloat16, E == Ev, E % 8 == 0, E <= 128, 16-byte aligned operands): a block of 4
//   warps takes 64 query rows; tiles of 64 keys and values stream through shared memory (cp.async,
//   double-buffered: tile j + 1 loads while tile j is used); scores and p·v run on tensor cores
//   (mma.sync m16n8k16, ldmatrix) with float32 accumulation and an online softmax in float32
//   (running max and sum per row). The head dim is padded with zeros to 32, 64, 96 or 128.
// - rows (every float dtype and shape): a block takes 4 query rows (one warp per row for the softmax
//   statistics); chunks of 128 keys get their scores by warp dot products into shared memory, then an
//   online softmax, then the block accumulates p·v in float32 in shared memory.
// Masks are read in place through broadcast strides; the query, key and value through the layer's
// views and the output through its out_perm (ir/attention_views.h), so no head split or merge copies.
#include <cmath>
#include <vector>

#include "common/broadcast.h"
#include "ir/attention_views.h"
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

namespace {

__host__ __device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

enum MaskKind : int { kNoMask = 0, kBoolMask = 1, kAddMask = 2 };

/// Where one operand's (batch, head) blocks and rows lie: element strides over the query's batch
/// dims (for key and value, over the same dims with the head index divided by the group), between
/// rows, and the offset of the first element.
struct Operand {
  int64_t batch[kMaxDims] = {};
  int64_t row = 0;
  int64_t offset = 0;
};

/// Shapes and options of one attention layer, passed to the kernels by value.
struct Plan {
  int64_t l = 0, s = 0, e = 0, ev = 0;
  int64_t heads = 0, group = 1;  // heads = query heads (dim -3), 0 below rank 3; group = heads per kv head
  float scale = 1.0f;
  int mask = kNoMask;
  bool causal = false;
  int batch_rank = 0;                   // the query's batch dims (all but the last two)
  int64_t batch_dims[kMaxDims] = {};    // their extents
  int64_t mask_strides[kMaxDims] = {};  // the mask's strides over those batch dims (0 = broadcast)
  int64_t mask_row = 0, mask_col = 0;
  Operand qo, ko, vo, oo;  // query, key, value, output (ir/attention_views.h: views and out_perm)

  /// The first element of (batch, head) b in operand x; kv: x is the key or the value.
  __device__ __forceinline__ int64_t base(const Operand& x, int64_t b, bool kv) const {
    int64_t off = x.offset;
    for (int d = batch_rank - 1; d >= 0; --d) {
      const int64_t q = b / batch_dims[d];
      int64_t i = b - q * batch_dims[d];
      if (kv && heads && d == batch_rank - 1) i /= group;
      off += i * x.batch[d];
      b = q;
    }
    return off;
  }

  __device__ __forceinline__ int64_t mask_base(int64_t b) const {
    int64_t off = 0;
    for (int d = batch_rank - 1; d >= 0; --d) {
      int64_t q = b / batch_dims[d];
      off += (b - q * batch_dims[d]) * mask_strides[d];
      b = q;
    }
    return off;
  }
  /// The scaled score x of query i, key j after masking (-inf = not attended).
  template <class T>
  __device__ __forceinline__ float masked(float x, const void* m, int64_t base, int64_t i, int64_t j) const {
    if (causal && j > i) return -INFINITY;
    if (mask == kBoolMask) return static_cast<const bool*>(m)[base + i * mask_row + j * mask_col] ? x : -INFINITY;
    if (mask == kAddMask) return x + load(static_cast<const T*>(m), base + i * mask_row + j * mask_col);
    return x;
  }
};

// ---- flash kernel (tensor cores) -------------------------------------------------------------------

constexpr int kFlashRows = 64;  // query rows per block (16 per warp)
constexpr int kFlashKeys = 64;  // keys per tile
constexpr int kFlashThreads = 128;
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c += a (16x16, row-major fragment) * b (16x8, column-major fragment), float32 accumulators.
template <class T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>)
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to T, lo in the low 16 bits.
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t r;
  if constexpr (std::is_same_v<T, __half>) {
    __half2 h = __floats2half2_rn(lo, hi);
    memcpy(&r, &h, 4);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    memcpy(&r, &h, 4);
  }
  return r;
}

// 2^x by the special function unit (relative error ~2^-22, far below float16/bfloat16 rounding).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The query tile and two stages each of key and value tiles.
template <int D>
constexpr int flash_smem_bytes() {
  return (kFlashRows + 4 * kFlashKeys) * (D + 8) * 2;
}

// q [B, L, E], k/v [Bkv, S, E], o [B, L, E]; block = (batch b, tile of 64 query rows); D = E rounded
// up to 32, 64, 96 or 128. Rows of shared tiles are D + 8 elements (16 bytes of padding: ldmatrix
// rows fall in distinct banks). Key/value tiles are double-buffered: tile j + 1 loads while tile j is
// used.
template <class T, int D>
__global__ void __launch_bounds__(kFlashThreads) flash_attention(const T* __restrict__ q, const T* __restrict__ k,
                                                                 const T* __restrict__ v, const void* __restrict__ mask,
                                                                 T* __restrict__ o, Plan p) {
  constexpr int kStride = D + 8;
  constexpr int kChunks = D / 8;  // 16-byte chunks per padded row
  extern __shared__ __align__(16) unsigned char smem[];
  T* sq = reinterpret_cast<T*>(smem);
  T* sk = sq + kFlashRows * kStride;  // [2][kFlashKeys][kStride]
  T* sv = sk + 2 * kFlashKeys * kStride;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;  // mma fragment row group and column pair
  const int64_t tiles = (p.l + kFlashRows - 1) / kFlashRows;
  const int64_t b = blockIdx.x / tiles;
  const int64_t m0 = (tiles - 1 - blockIdx.x % tiles) * kFlashRows;  // long causal tiles first
  const int64_t e = p.e, chunks = e / 8;
  const T* qb = q + p.base(p.qo, b, false) + m0 * p.qo.row;
  const T* kb = k + p.base(p.ko, b, true);
  const T* vb = v + p.base(p.vo, b, true);
  const int64_t mbase = p.mask ? p.mask_base(b) : 0;

  // Rows `ld` elements apart (16-byte aligned: create() checks) into a padded shared tile.
  auto load_tile = [&](T* dst, const T* src, int64_t ld, int64_t valid_rows, int rows) {
    for (int c = tid; c < rows * kChunks; c += kFlashThreads) {
      const int r = c / kChunks, ch = c - r * kChunks;
      const bool ok = r < valid_rows && ch < chunks;
      cp_async16(dst + r * kStride + ch * 8, ok ? src + r * ld + ch * 8 : src, ok);
    }
  };

  const int64_t key_end = p.causal ? imin(p.s, m0 + kFlashRows) : p.s;
  const int tiles_n = static_cast<int>((key_end + kFlashKeys - 1) / kFlashKeys);
  load_tile(sq, qb, p.qo.row, p.l - m0, kFlashRows);
  cp_async_commit();
  if (tiles_n > 0) {
    load_tile(sk, kb, p.ko.row, p.s, kFlashKeys);
    load_tile(sv, vb, p.vo.row, p.s, kFlashKeys);
  }
  cp_async_commit();
  cp_async_wait<1>();  // the query tile has landed
  __syncthreads();

  uint32_t qf[D / 16][4];
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks)
    ldmatrix_x4(qf[ks], sq + (warp * 16 + (lane & 15)) * kStride + ks * 16 + (lane >> 4) * 8);

  float acc[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  const int64_t row0 = m0 + warp * 16 + g;  // query row of accumulator entries 0, 1 (2, 3: row0 + 8)

  for (int j = 0; j < tiles_n; ++j) {
    const int64_t n0 = int64_t(j) * kFlashKeys;
    const T* skj = sk + (j & 1) * kFlashKeys * kStride;
    const T* svj = sv + (j & 1) * kFlashKeys * kStride;
    if (j + 1 < tiles_n) {  // into the other stage, which every warp left at the end of iteration j - 1
      const int64_t next = n0 + kFlashKeys;
      load_tile(sk + ((j + 1) & 1) * kFlashKeys * kStride, kb + next * p.ko.row, p.ko.row, p.s - next, kFlashKeys);
      load_tile(sv + ((j + 1) & 1) * kFlashKeys * kStride, vb + next * p.vo.row, p.vo.row, p.s - next, kFlashKeys);
    }
    cp_async_commit();
    cp_async_wait<1>();  // tile j has landed (tile j + 1 may still be in flight)
    __syncthreads();
    float sc[kFlashKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kFlashKeys / 8; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
#pragma unroll
      for (int np = 0; np < kFlashKeys / 16; ++np) {
        uint32_t kf[4];
        ldmatrix_x4(kf, skj + (np * 16 + (lane >> 4) * 8 + (lane & 7)) * kStride + ks * 16 + ((lane >> 3) & 1) * 8);
        mma_16816<T>(sc[2 * np], qf[ks], kf[0], kf[1]);
        mma_16816<T>(sc[2 * np + 1], qf[ks], kf[2], kf[3]);
      }
    }

    // Online softmax in float32, natural units for the scores (as the CPU adds the mask), base 2 for exp.
    const bool edge = p.mask != kNoMask || n0 + kFlashKeys > p.s || (p.causal && n0 + kFlashKeys - 1 > m0 + warp * 16);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t i = row0 + h * 8;
      const int64_t im = i < p.l ? i : p.l - 1;  // rows past L are computed, never stored: keep mask reads in range
      float mx = row_max[h];
#pragma unroll
      for (int n = 0; n < kFlashKeys / 8; ++n) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          float x = sc[n][2 * h + c] * p.scale;
          if (edge) {
            const int64_t jj = n0 + n * 8 + 2 * t4 + c;
            x = jj >= p.s ? -INFINITY : p.masked<T>(x, mask, mbase, im, jj);
          }
          sc[n][2 * h + c] = x;
          mx = fmaxf(mx, x);
        }
      }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mu = mx == -INFINITY ? 0.0f : mx * kLog2e;  // nothing attended yet: every p is 0
      const float alpha = fast_exp2(fmaf(row_max[h], kLog2e, -mu));
      row_max[h] = mx;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kFlashKeys / 8; ++n) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const float pv = fast_exp2(fmaf(sc[n][2 * h + c], kLog2e, -mu));
          sc[n][2 * h + c] = pv;
          sum += pv;
        }
      }
      row_sum[h] = row_sum[h] * alpha + sum;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        acc[n][2 * h] *= alpha;
        acc[n][2 * h + 1] *= alpha;
      }
    }

#pragma unroll
    for (int kk = 0; kk < kFlashKeys / 16; ++kk) {
      // The score accumulators of keys 16kk .. 16kk+15 are exactly the A fragment of p.
      const uint32_t a[4] = {pack2<T>(sc[2 * kk][0], sc[2 * kk][1]), pack2<T>(sc[2 * kk][2], sc[2 * kk][3]),
                             pack2<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                             pack2<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t vf[4];
        ldmatrix_x4_trans(vf,
                          svj + (kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * kStride + dp * 16 + (lane >> 4) * 8);
        mma_16816<T>(acc[2 * dp], a, vf[0], vf[1]);
        mma_16816<T>(acc[2 * dp + 1], a, vf[2], vf[3]);
      }
    }
    __syncthreads();  // every warp is done with stage j & 1: iteration j + 1 may load tile j + 2 into it
  }
  cp_async_wait<0>();

  // Normalize (a row that attended nothing has sum 0 and gives zeros), stage this warp's 16 rows in
  // its own rows of the query tile (read only by this warp, into registers), then store 16 bytes a
  // thread.
  float inv[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float s = row_sum[h];
    s += __shfl_xor_sync(0xffffffffu, s, 1);
    s += __shfl_xor_sync(0xffffffffu, s, 2);
    inv[h] = s > 0.0f ? 1.0f / s : 0.0f;
  }
  T* so = sq + warp * 16 * kStride;
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
#pragma unroll
    for (int h = 0; h < 2; ++h)
      *reinterpret_cast<uint32_t*>(so + (g + 8 * h) * kStride + n * 8 + 2 * t4) =
          pack2<T>(acc[n][2 * h] * inv[h], acc[n][2 * h + 1] * inv[h]);
  __syncwarp();
  T* ob = o + p.base(p.oo, b, false) + (m0 + warp * 16) * p.oo.row;
  const int64_t rows = imin(16, p.l - m0 - warp * 16);
  for (int64_t c = lane; c < rows * chunks; c += 32) {
    const int64_t r = c / chunks, ch = c - r * chunks;
    *reinterpret_cast<uint4*>(ob + r * p.oo.row + ch * 8) = *reinterpret_cast<const uint4*>(so + r * kStride + ch * 8);
  }
}

// ---- rows kernel (any float dtype and shape) ----------------------------------------------------------

constexpr int kRows = 4;  // query rows per block = warps per block
constexpr int kRowThreads = kRows * 32;
constexpr int kChunk = 128;  // keys per chunk

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

inline size_t rows_smem_bytes(const Plan& p) {
  return static_cast<size_t>(kRows * (p.e + p.ev + kChunk) + kRows) * sizeof(float);
}

// q [B, L, E], k [Bkv, S, E], v [Bkv, S, Ev], o [B, L, Ev]; block = (batch b, 4 query rows). Shared:
// the query rows, their float32 output accumulators, one chunk of scores / probabilities per row, and
// a per-row factor.
template <class T>
__global__ void __launch_bounds__(kRowThreads) attention_rows(const T* __restrict__ q, const T* __restrict__ k,
                                                             const T* __restrict__ v, const void* __restrict__ mask,
                                                             T* __restrict__ o, Plan p) {
  extern __shared__ float fsmem[];
  float* sq = fsmem;                   // [kRows][E]
  float* sacc = sq + kRows * p.e;      // [kRows][Ev]
  float* ssc = sacc + kRows * p.ev;    // [kRows][kChunk]
  float* sfac = ssc + kRows * kChunk;  // [kRows]
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int64_t groups = (p.l + kRows - 1) / kRows;
  const int64_t b = blockIdx.x / groups, i0 = (blockIdx.x % groups) * kRows;
  const int nr = static_cast<int>(imin(kRows, p.l - i0));
  const T* qb = q + p.base(p.qo, b, false) + i0 * p.qo.row;
  const T* kb = k + p.base(p.ko, b, true);
  const T* vb = v + p.base(p.vo, b, true);
  const int64_t mbase = p.mask ? p.mask_base(b) : 0;

  for (int64_t x = tid; x < kRows * p.e; x += kRowThreads) {
    const int64_t r = x / p.e;
    sq[x] = r < nr ? load(qb, r * p.qo.row + (x - r * p.e)) : 0.0f;
  }
  for (int64_t x = tid; x < kRows * p.ev; x += kRowThreads) sacc[x] = 0.0f;
  float row_max = -INFINITY, row_sum = 0.0f;  // of row `warp`, in that warp
  const int64_t key_end = p.causal ? imin(p.s, i0 + nr) : p.s;
  __syncthreads();

  for (int64_t n0 = 0; n0 < key_end; n0 += kChunk) {
    const int cnt = static_cast<int>(imin(kChunk, key_end - n0));
    for (int kk = warp; kk < cnt; kk += kRows) {  // scores: one key per warp at a time, lanes over E
      const int64_t jj = n0 + kk;
      const T* kr = kb + jj * p.ko.row;
      float d[kRows] = {};
      for (int64_t x = lane; x < p.e; x += 32) {
        const float kx = load(kr, x);
#pragma unroll
        for (int r = 0; r < kRows; ++r) d[r] = fmaf(sq[r * p.e + x], kx, d[r]);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float dot = warp_sum(d[r]);
        if (lane == r)
          ssc[r * kChunk + kk] = r < nr ? p.masked<T>(dot * p.scale, mask, mbase, i0 + r, jj) : -INFINITY;
      }
    }
    __syncthreads();
    {  // softmax statistics of row `warp`; scores become probabilities against the running max
      float* sr = ssc + warp * kChunk;
      float cm = -INFINITY;
      for (int x = lane; x < cnt; x += 32) cm = fmaxf(cm, sr[x]);
      const float mx = fmaxf(row_max, warp_max(cm));
      const float mu = mx == -INFINITY ? 0.0f : mx;  // nothing attended yet: every p is 0
      const float alpha = expf(row_max - mu);
      row_max = mx;
      float sum = 0.0f;
      for (int x = lane; x < cnt; x += 32) {
        const float pv = expf(sr[x] - mu);
        sr[x] = pv;
        sum += pv;
      }
      row_sum = row_sum * alpha + warp_sum(sum);
      if (lane == 0) sfac[warp] = alpha;
    }
    __syncthreads();
    for (int64_t c = tid; c < p.ev; c += kRowThreads) {  // p . v, one output column per thread
      float a[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) a[r] = sacc[r * p.ev + c] * sfac[r];
      for (int x = 0; x < cnt; ++x) {
        const float vx = load(vb, (n0 + x) * p.vo.row + c);
#pragma unroll
        for (int r = 0; r < kRows; ++r) a[r] = fmaf(ssc[r * kChunk + x], vx, a[r]);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) sacc[r * p.ev + c] = a[r];
    }
    __syncthreads();
  }
  if (lane == 0) sfac[warp] = row_sum > 0.0f ? 1.0f / row_sum : 0.0f;  // 0: nothing attended, zeros
  __syncthreads();
  T* ob = o + p.base(p.oo, b, false) + i0 * p.oo.row;
  for (int64_t x = tid; x < nr * p.ev; x += kRowThreads) {
    const int64_t r = x / p.ev;
    ob[r * p.oo.row + (x - r * p.ev)] = store_as<T>(sacc[x] * sfac[r]);
  }
}

// ---- host side -----------------------------------------------------------------------------------------

inline bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

template <class T>
class AttentionKernel : public Kernel {
 public:
  /// flash_dim: the flash kernel's padded head dim (32, 64, 96, 128), 0 = the rows kernel only.
  AttentionKernel(const Plan& p, int64_t batches, int flash_dim, size_t rows_smem)
      : p_(p), batches_(batches), flash_dim_(flash_dim), rows_smem_(rows_smem) {}

  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (out[0].numel() == 0) return;
    const T* q = in[0].as<const T>();
    const T* k = in[1].as<const T>();
    const T* v = in[2].as<const T>();
    const void* m = p_.mask != kNoMask ? in[3].data : nullptr;
    T* o = out[0].as<T>();
    if constexpr (!std::is_same_v<T, float>) {
      if (flash_dim_ && aligned16(q) && aligned16(k) && aligned16(v) && aligned16(o)) {
        switch (flash_dim_) {
          case 32: return launch_flash<32>(q, k, v, m, o);
          case 64: return launch_flash<64>(q, k, v, m, o);
          case 96: return launch_flash<96>(q, k, v, m, o);
          default: return launch_flash<128>(q, k, v, m, o);
        }
      }
    }
    const int64_t blocks = batches_ * ((p_.l + kRows - 1) / kRows);
    attention_rows<T><<<static_cast<unsigned>(blocks), kRowThreads, rows_smem_, stream()>>>(q, k, v, m, o, p_);
    check_launch("launching attention_rows");
  }

 private:
  template <int D>
  void launch_flash(const T* q, const T* k, const T* v, const void* m, T* o) const {
    if constexpr (!std::is_same_v<T, float>) {
      const int64_t blocks = batches_ * ((p_.l + kFlashRows - 1) / kFlashRows);
      flash_attention<T, D><<<static_cast<unsigned>(blocks), kFlashThreads, flash_smem_bytes<D>(), stream()>>>(
          q, k, v, m, o, p_);
      check_launch("launching flash_attention");
    }
  }

  Plan p_;
  int64_t batches_;
  int flash_dim_;
  size_t rows_smem_;
};

template <class T, int D>
void allow_flash_smem() {
  if constexpr (!std::is_same_v<T, float>) {
    if (flash_smem_bytes<D>() > 48 * 1024)
      check(cudaFuncSetAttribute(flash_attention<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 flash_smem_bytes<D>()),
            "raising flash_attention's shared memory limit");
  }
}

// Operand x's strides over the batch dims, its row stride and offset.
Operand operand(const std::vector<int64_t>& strides, int64_t offset) {
  Operand o;
  const int r = static_cast<int>(strides.size());
  for (int d = 0; d < r - 2; ++d) o.batch[d] = strides[d];
  o.row = strides[r - 2];
  o.offset = offset;
  return o;
}

// True when every row and (batch, head) block of x starts 16 bytes after the start of its tensor.
bool aligned_rows(const Operand& x, int batch_rank) {
  bool ok = x.row % 8 == 0 && x.offset % 8 == 0;
  for (int d = 0; d < batch_rank; ++d) ok = ok && x.batch[d] % 8 == 0;
  return ok;
}

Plan make_plan(const KernelSpec& s, int64_t& batches) {
  const ir::StridedOperand qv = ir::attention_operand(s.layer, 0, s.inputs[0]->dims);
  const ir::StridedOperand kv = ir::attention_operand(s.layer, 1, s.inputs[1]->dims);
  const ir::StridedOperand vv = ir::attention_operand(s.layer, 2, s.inputs[2]->dims);
  const Dims &q = qv.dims, &k = kv.dims, &v = vv.dims;
  const int r = q.rank();
  Plan p;
  p.l = q[r - 2];
  p.e = q[r - 1];
  p.s = k[r - 2];
  p.ev = v[r - 1];
  p.causal = ir::attr_int(s.layer, "causal") != 0;
  const double scale = ir::attr_float(s.layer, "scale");
  p.scale = static_cast<float>(scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(p.e)));
  if (r >= 3) {  // grouped-query attention: kv head h / group serves query head h
    p.heads = q[r - 3];
    p.group = k[r - 3] ? q[r - 3] / k[r - 3] : 1;
  }
  batches = 1;
  p.batch_rank = r - 2;
  for (int d = 0; d < r - 2; ++d) {
    p.batch_dims[d] = q[d];
    batches *= q[d];
  }
  p.qo = operand(qv.strides, qv.offset);
  p.ko = operand(kv.strides, kv.offset);
  p.vo = operand(vv.strides, vv.offset);
  std::vector<int64_t> ov = q.vec();
  ov[r - 1] = p.ev;
  p.oo = operand(ir::attention_output_strides(s.layer, Dims(ov)), 0);
  if (s.inputs.size() > 3 && s.inputs[3]) {
    p.mask = s.inputs[3]->dtype == DataType::kBool ? kBoolMask : kAddMask;
    std::vector<int64_t> sv = q.vec();
    sv[r - 1] = p.s;
    const std::vector<int64_t> st = broadcast_strides(s.inputs[3]->dims, Dims(sv));
    for (int d = 0; d < r - 2; ++d) p.mask_strides[d] = st[d];
    p.mask_row = st[r - 2];
    p.mask_col = st[r - 1];
  }
  return p;
}

/// The rows kernel's shared memory for `p`, after raising the kernel's limit when needed; 0 when it
/// does not fit the device.
template <class T>
size_t prepare_rows(const Plan& p) {
  const size_t bytes = rows_smem_bytes(p);
  if (bytes > 48 * 1024) {
    int dev = 0, optin = 0;
    check(cudaGetDevice(&dev), "querying the current device");
    check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
          "querying the shared memory limit");
    if (bytes > static_cast<size_t>(optin)) return 0;
    check(cudaFuncSetAttribute(attention_rows<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
          "raising attention_rows' shared memory limit");
  }
  return bytes;
}

std::unique_ptr<Kernel> create(const KernelSpec& s, bool flash) {
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      int64_t batches = 1;
      const Plan p = make_plan(s, batches);
      int dim = 0;
      if (flash) {
        const bool aligned = aligned_rows(p.qo, p.batch_rank) && aligned_rows(p.ko, p.batch_rank) &&
                             aligned_rows(p.vo, p.batch_rank) && aligned_rows(p.oo, p.batch_rank);
        if (std::is_same_v<T, float> || !aligned || p.e != p.ev || p.e % 8 != 0 || p.e <= 0 || p.e > 128)
          return nullptr;
        dim = p.e <= 32 ? 32 : p.e <= 64 ? 64 : p.e <= 96 ? 96 : 128;
        if (dim == 96) allow_flash_smem<T, 96>();
        if (dim == 128) allow_flash_smem<T, 128>();
      }
      // The rows kernel also serves the flash entry when an operand is not 16-byte aligned.
      const size_t rows = prepare_rows<T>(p);
      if (!rows) return nullptr;
      return std::make_unique<AttentionKernel<T>>(p, batches, dim, rows);
    } else {
      return nullptr;
    }
  });
}

// bias[i] = mask[i] ? 0 : -infinity.
template <class T>
__global__ void mask_to_bias_kernel(const bool* __restrict__ mask, T* __restrict__ bias, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    bias[i] = store_as<T>(mask[i] ? 0.0f : -INFINITY);
}

}  // namespace

void attention_mask_to_bias(DataType t, const bool* mask, void* bias, int64_t n) {
  if (n <= 0) return;
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      mask_to_bias_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(mask, static_cast<T*>(bias), n);
      check_launch("launching mask_to_bias_kernel");
    }
  });
}

std::unique_ptr<Kernel> create_attention_flash(const KernelSpec& s) { return create(s, true); }
std::unique_ptr<Kernel> create_attention(const KernelSpec& s) { return create(s, false); }

}  // namespace tensorforge::cuda
