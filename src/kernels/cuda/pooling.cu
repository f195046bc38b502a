// CUDA max/average pooling over 1-3 spatial dims and adaptive pooling, with the CPU kernels' rules
// (src/kernels/cpu/pooling.cc): padding, dilation (max), ceil_mode (output sizes fixed by inference),
// count_include_pad and divisor_override (avg), PyTorch's adaptive bins; max propagates NaN; sums in
// float32 in the CPU's order, so windowed results equal the CPU's. One thread per output element
// (threads of adjacent outputs read adjacent inputs; 32-bit index arithmetic when the tensors allow).
// A window covering the whole plane (adaptive pooling to 1, global pooling) is a row reduction
// instead: a warp per plane (a block for planes over 2048 elements), summed as a tree.
// Channels-last layers (layout "nhwc") run the same windowed kernels with the channel innermost:
// `cl` channels per spatial position (cl = 1 for channels first, where the channel is part of the
// plane index), so adjacent threads read adjacent channels; their whole-plane pooling is windowed
// too (one thread per (n, c), reading across channels coalesced).
#include <cmath>

#include "ir/layout.h"
#include "kernels/common/spatial_geometry.h"
#include "kernels/cuda/row_reduce.cuh"

namespace tensorforge::cuda {

namespace {


/// Splits output index i (planes x D x H x W x cl) into the plane, the three spatial coordinates and
/// the channel `c` within the innermost cl.
template <class I>
__device__ __forceinline__ I split_output(I i, const Spatial3& g, I cl, I o[3], I& c) {
  c = i % cl;
  i /= cl;
  o[2] = i % I(g.out[2]);
  i /= I(g.out[2]);
  o[1] = i % I(g.out[1]);
  i /= I(g.out[1]);
  o[0] = i % I(g.out[0]);
  return i / I(g.out[0]);
}

template <class T, class I>
__global__ void max_pool(const T* __restrict__ x, T* __restrict__ y, I total, Spatial3 g, I cl) {
  const I iv = I(g.in[0] * g.in[1] * g.in[2]);
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * I(blockDim.x)) {
    I o[3], c;
    const I plane = split_output(i, g, cl, o, c);
    const T* xp = x + plane * iv * cl + c;
    float m = -INFINITY;
    for (I kd = 0; kd < I(g.k[0]); ++kd) {
      const I id = o[0] * I(g.stride[0]) - I(g.pad[0]) + kd * I(g.dil[0]);
      if (id < 0 || id >= I(g.in[0])) continue;
      for (I kh = 0; kh < I(g.k[1]); ++kh) {
        const I ih = o[1] * I(g.stride[1]) - I(g.pad[1]) + kh * I(g.dil[1]);
        if (ih < 0 || ih >= I(g.in[1])) continue;
        const T* row = xp + (id * I(g.in[1]) + ih) * I(g.in[2]) * cl;
        for (I kw = 0; kw < I(g.k[2]); ++kw) {
          const I iw = o[2] * I(g.stride[2]) - I(g.pad[2]) + kw * I(g.dil[2]);
          if (iw < 0 || iw >= I(g.in[2])) continue;
          const float v = load(row, iw * cl);
          if (v > m || v != v) m = v;
        }
      }
    }
    y[i] = store_as<T>(m);
  }
}

// Channels-last max pooling over packs of N = vec_width<T>() channels: thread i computes output
// pack i (C % N == 0, 16-byte aligned tensors, 32-bit indices); the same comparisons as max_pool.
template <class T>
__global__ void max_pool_last_vec(const T* __restrict__ x, T* __restrict__ y, int32_t total_packs, Spatial3 g,
                                  int32_t channel_packs) {
  constexpr int N = vec_width<T>();
  using P = Pack<T, N>;
  const int32_t iv = int32_t(g.in[0] * g.in[1] * g.in[2]);
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total_packs; i += gridDim.x * blockDim.x) {
    int32_t o[3], c;
    const int32_t plane = split_output(i, g, channel_packs, o, c);
    const P* xp = reinterpret_cast<const P*>(x) + plane * iv * channel_packs + c;
    float m[N];
#pragma unroll
    for (int k = 0; k < N; ++k) m[k] = -INFINITY;
    for (int32_t kd = 0; kd < int32_t(g.k[0]); ++kd) {
      const int32_t id = o[0] * int32_t(g.stride[0]) - int32_t(g.pad[0]) + kd * int32_t(g.dil[0]);
      if (id < 0 || id >= int32_t(g.in[0])) continue;
      for (int32_t kh = 0; kh < int32_t(g.k[1]); ++kh) {
        const int32_t ih = o[1] * int32_t(g.stride[1]) - int32_t(g.pad[1]) + kh * int32_t(g.dil[1]);
        if (ih < 0 || ih >= int32_t(g.in[1])) continue;
        const P* row = xp + (id * int32_t(g.in[1]) + ih) * int32_t(g.in[2]) * channel_packs;
        for (int32_t kw = 0; kw < int32_t(g.k[2]); ++kw) {
          const int32_t iw = o[2] * int32_t(g.stride[2]) - int32_t(g.pad[2]) + kw * int32_t(g.dil[2]);
          if (iw < 0 || iw >= int32_t(g.in[2])) continue;
          const P v = row[iw * channel_packs];
#pragma unroll
          for (int k = 0; k < N; ++k) {
            const float f = load(v.v, k);
            if (f > m[k] || f != f) m[k] = f;
          }
        }
      }
    }
    P out;
#pragma unroll
    for (int k = 0; k < N; ++k) out.v[k] = store_as<T>(m[k]);
    reinterpret_cast<P*>(y)[i] = out;
  }
}

// Channels-first 2-D max pooling with a K x K window, dilation 1 and 32-bit indices (ResNet's 3x3/2
// stem pooling): the window unrolled, its K * K loads issued before any comparison (positions in the
// padding read as -inf, which no comparison keeps), then the same comparisons as max_pool in the
// same order, so the same result, NaN included.
template <class T, int K>
__global__ void max_pool_2d(const T* __restrict__ x, T* __restrict__ y, int32_t total, Spatial3 g) {
  const int32_t ih_n = int32_t(g.in[1]), iw_n = int32_t(g.in[2]), oh_n = int32_t(g.out[1]), ow_n = int32_t(g.out[2]);
  const int32_t sh = int32_t(g.stride[1]), sw = int32_t(g.stride[2]), ph = int32_t(g.pad[1]), pw = int32_t(g.pad[2]);
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int32_t t = i / ow_n, ow = i - t * ow_n, plane = t / oh_n, oh = t - plane * oh_n;
    const T* xp = x + plane * ih_n * iw_n;
    const int32_t h0 = oh * sh - ph, w0 = ow * sw - pw;
    float v[K * K];
#pragma unroll
    for (int kh = 0; kh < K; ++kh)
#pragma unroll
      for (int kw = 0; kw < K; ++kw) {
        const int32_t h = h0 + kh, w = w0 + kw;
        const bool inside = unsigned(h) < unsigned(ih_n) && unsigned(w) < unsigned(iw_n);
        v[kh * K + kw] = inside ? load(xp, h * iw_n + w) : -INFINITY;
      }
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < K * K; ++k)
      if (v[k] > m || v[k] != v[k]) m = v[k];
    y[i] = store_as<T>(m);
  }
}

// max_pool_2d for a horizontal stride of 2 (and any vertical stride): a thread takes two adjacent
// outputs of a row, whose windows share a column, so it loads K rows of K + 2 columns once (the
// loads of a row and the index arithmetic shared by two outputs), then compares each window in
// max_pool's order. A row of odd width leaves the last thread one output.
template <class T, int K>
__global__ void max_pool_2d_pairs(const T* __restrict__ x, T* __restrict__ y, int32_t pairs, Spatial3 g) {
  constexpr int kSpan = K + 2;
  const int32_t ih_n = int32_t(g.in[1]), iw_n = int32_t(g.in[2]), oh_n = int32_t(g.out[1]), ow_n = int32_t(g.out[2]);
  const int32_t sh = int32_t(g.stride[1]), ph = int32_t(g.pad[1]), pw = int32_t(g.pad[2]);
  const int32_t row_pairs = (ow_n + 1) / 2;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += gridDim.x * blockDim.x) {
    const int32_t t = i / row_pairs, ow = 2 * (i - t * row_pairs), plane = t / oh_n, oh = t - plane * oh_n;
    const T* xp = x + plane * ih_n * iw_n;
    const int32_t h0 = oh * sh - ph, w0 = ow * 2 - pw;
    float v[K][kSpan];
#pragma unroll
    for (int kh = 0; kh < K; ++kh)
#pragma unroll
      for (int c = 0; c < kSpan; ++c) {
        const int32_t h = h0 + kh, w = w0 + c;
        const bool inside = unsigned(h) < unsigned(ih_n) && unsigned(w) < unsigned(iw_n);
        v[kh][c] = inside ? load(xp, h * iw_n + w) : -INFINITY;
      }
    float m0 = -INFINITY, m1 = -INFINITY;
#pragma unroll
    for (int kh = 0; kh < K; ++kh)
#pragma unroll
      for (int kw = 0; kw < K; ++kw) {
        const float a = v[kh][kw], b = v[kh][kw + 2];
        if (a > m0 || a != a) m0 = a;
        if (b > m1 || b != b) m1 = b;
      }
    y[t * ow_n + ow] = store_as<T>(m0);
    if (ow + 1 < ow_n) y[t * ow_n + ow + 1] = store_as<T>(m1);
  }
}

// 3x3 max pooling of stride 2 and padding 1 over channels-first planes whose width is twice the
// output's and a multiple of V (ResNet's stem pooling): a thread takes V / 2 adjacent outputs of
// kStripRows output rows of one plane. Each input row it needs is loaded once, as a V-element pack
// (columns V q .. V q + V - 1) and the column to its left, and its V / 2 horizontal maxima of three
// computed once (a row is shared by two output rows); an output is then the max of three rows'
// maxima. The comparisons keep the first maximum of the window in row order and propagate NaN, as
// max_pool's; rows and columns outside the input read as -inf.
constexpr int kStripRows = 4;

__device__ __forceinline__ float max_keep_first(float a, float b) { return (b > a || b != b) ? b : a; }

template <class T>
__global__ void max_pool_3x3s2_strips(const T* __restrict__ x, T* __restrict__ y, int32_t items, Spatial3 g) {
  constexpr int V = vec_width<T>(), H = V / 2;
  const int32_t ih = int32_t(g.in[1]), iw = int32_t(g.in[2]), oh = int32_t(g.out[1]), ow = int32_t(g.out[2]);
  const int32_t packs = iw / V, strips = (oh + kStripRows - 1) / kStripRows;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < items; i += gridDim.x * blockDim.x) {
    const int32_t q = i % packs, t = i / packs, strip = t % strips, plane = t / strips;
    const T* xp = x + plane * ih * iw + q * V;
    auto row_maxima = [&](int32_t h, float* m) {
      if (unsigned(h) >= unsigned(ih)) {
#pragma unroll
        for (int j = 0; j < H; ++j) m[j] = -INFINITY;
        return;
      }
      const Pack<T, V> p = *reinterpret_cast<const Pack<T, V>*>(xp + h * iw);
      float v[V + 1];
      v[0] = q > 0 ? load(xp, h * iw - 1) : -INFINITY;
#pragma unroll
      for (int e = 0; e < V; ++e) v[e + 1] = static_cast<float>(load(p.v, e));
#pragma unroll
      for (int j = 0; j < H; ++j) m[j] = max_keep_first(max_keep_first(v[2 * j], v[2 * j + 1]), v[2 * j + 2]);
    };
    const int32_t r0 = strip * kStripRows, r1 = min(r0 + kStripRows, oh);
    float above[H];
    row_maxima(2 * r0 - 1, above);
    for (int32_t r = r0; r < r1; ++r) {
      float mid[H], below[H];
      row_maxima(2 * r, mid);
      row_maxima(2 * r + 1, below);
      Pack<T, H> out;
#pragma unroll
      for (int j = 0; j < H; ++j) {
        out.v[j] = store_as<T>(max_keep_first(max_keep_first(above[j], mid[j]), below[j]));
        above[j] = below[j];
      }
      *reinterpret_cast<Pack<T, H>*>(y + (plane * oh + r) * ow + q * H) = out;
    }
  }
}

template <class T, class I>
__global__ void avg_pool(const T* __restrict__ x, T* __restrict__ y, I total, Spatial3 g, I cl, I divisor_override,
                         bool count_include_pad) {
  const I iv = I(g.in[0] * g.in[1] * g.in[2]);
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * I(blockDim.x)) {
    I o[3], c;
    const I plane = split_output(i, g, cl, o, c);
    const T* xp = x + plane * iv * cl + c;
    I lo[3], hi[3], pool_size = 1, count = 1;
    bool empty = false;
    for (int d = 0; d < 3; ++d) {
      lo[d] = o[d] * I(g.stride[d]) - I(g.pad[d]);
      hi[d] = min(lo[d] + I(g.k[d]), I(g.in[d] + g.pad[d]));
      pool_size *= hi[d] - lo[d];
      lo[d] = max(lo[d], I(0));
      hi[d] = min(hi[d], I(g.in[d]));
      empty = empty || lo[d] >= hi[d];
      count *= hi[d] - lo[d];
    }
    float sum = 0.0f;
    if (!empty) {
      for (I id = lo[0]; id < hi[0]; ++id)
        for (I ih = lo[1]; ih < hi[1]; ++ih) {
          const T* row = xp + (id * I(g.in[1]) + ih) * I(g.in[2]) * cl;
          for (I iw = lo[2]; iw < hi[2]; ++iw) sum += load(row, iw * cl);
        }
      const I div = divisor_override ? divisor_override : count_include_pad ? pool_size : count;
      sum = sum / static_cast<float>(div);
    }
    y[i] = store_as<T>(sum);
  }
}

template <class T, class I>
__global__ void adaptive_pool(const T* __restrict__ x, T* __restrict__ y, I total, Spatial3 g, I cl, bool is_max) {
  const I iv = I(g.in[0] * g.in[1] * g.in[2]);
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * I(blockDim.x)) {
    I o[3], c;
    const I plane = split_output(i, g, cl, o, c);
    const T* xp = x + plane * iv * cl + c;
    I lo[3], hi[3];
    for (int d = 0; d < 3; ++d) {  // PyTorch's bins: floor(o * in / out) to ceil((o + 1) * in / out), in 64 bits
      lo[d] = I(int64_t(o[d]) * g.in[d] / g.out[d]);
      hi[d] = I(((int64_t(o[d]) + 1) * g.in[d] + g.out[d] - 1) / g.out[d]);
    }
    float acc = is_max ? -INFINITY : 0.0f;
    for (I id = lo[0]; id < hi[0]; ++id)
      for (I ih = lo[1]; ih < hi[1]; ++ih) {
        const T* row = xp + (id * I(g.in[1]) + ih) * I(g.in[2]) * cl;
        for (I iw = lo[2]; iw < hi[2]; ++iw) {
          const float v = load(row, iw * cl);
          if (!is_max)
            acc += v;
          else if (v > acc || v != v)
            acc = v;
        }
      }
    if (!is_max) acc /= static_cast<float>((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]));
    y[i] = store_as<T>(acc);
  }
}

// Whole-plane pooling: y[p] = max or sum / divisor of the n contiguous elements of plane p.
template <class T>
__global__ void plane_pool_warps(const T* __restrict__ x, T* __restrict__ y, int64_t planes, int64_t n, bool is_max,
                                 float divisor) {
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int64_t p = blockIdx.x * int64_t(warps) + (threadIdx.x >> 5); p < planes; p += int64_t(gridDim.x) * warps) {
    const T* xp = x + p * n;
    float acc = is_max ? -INFINITY : 0.0f;
    if (is_max) {
      for (int64_t j = lane; j < n; j += 32) acc = MaxNanOp{}(acc, static_cast<float>(load(xp, j)));
      acc = warp_reduce(acc, MaxNanOp{});
    } else {
      for (int64_t j = lane; j < n; j += 32) acc += load(xp, j);
      acc = warp_reduce(acc, SumOp{});
    }
    if (lane == 0) y[p] = store_as<T>(is_max ? acc : acc / divisor);
  }
}

template <class T>
__global__ void plane_pool_blocks(const T* __restrict__ x, T* __restrict__ y, int64_t planes, int64_t n, bool is_max,
                                  float divisor) {
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {
    const T* xp = x + p * n;
    float acc;
    if (is_max) {
      acc = -INFINITY;
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) acc = MaxNanOp{}(acc, static_cast<float>(load(xp, j)));
      acc = block_reduce(acc, MaxNanOp{}, -INFINITY);
    } else {
      acc = 0.0f;
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) acc += load(xp, j);
      acc = block_reduce(acc, SumOp{}, 0.0f) / divisor;
    }
    if (threadIdx.x == 0) y[p] = store_as<T>(acc);
  }
}

enum class Pool { kMax, kAvg, kAdaptiveMax, kAdaptiveAvg };

template <class T>
class PoolingKernel : public Kernel {
 public:
  PoolingKernel(const KernelSpec& s, Pool kind) : kind_(kind) {
    const bool last = ir::is_channels_last(s.layer);
    const Dims x = ir::channels_first_view(s.inputs[0]->dims, last);
    planes_ = x[0] * x[1];
    cl_ = last ? x[1] : 1;
    spatial_extents(x, g_.in);
    spatial_extents(ir::channels_first_view(s.outputs[0]->dims, last), g_.out);
    const int64_t iv = g_.in_volume();
    if (kind == Pool::kMax || kind == Pool::kAvg) {
      spatial_attr(s.layer, "kernel", g_.k);
      for (int i = 0; i < 3; ++i) g_.stride[i] = g_.k[i];
      spatial_attr(s.layer, "stride", g_.stride);
      spatial_attr(s.layer, "padding", g_.pad);
      spatial_attr(s.layer, "dilation", g_.dil);
      count_include_pad_ = ir::attr_int(s.layer, "count_include_pad") != 0;
      divisor_override_ = ir::attr_int(s.layer, "divisor_override");
      bool whole = g_.out_volume() == 1;  // one window, exactly the plane: a plane reduction
      for (int i = 0; i < 3; ++i) whole = whole && g_.pad[i] == 0 && g_.k[i] == g_.in[i] && g_.dil[i] == 1;
      plane_ = whole && !last;
      divisor_ = static_cast<float>(divisor_override_ ? divisor_override_ : iv);
    } else {
      plane_ = g_.out_volume() == 1 && !last;
      divisor_ = static_cast<float>(iv);
    }
    // 32-bit index arithmetic when every index (plus a grid stride) stays below 2^31.
    const int64_t limit = int64_t(1) << 30;
    narrow_ = planes_ * iv < limit && planes_ * g_.out_volume() < limit;
    // A 2-D channels-first window of 2x2 or 3x3 without dilation: max_pool_2d.
    square_ = cl_ == 1 && g_.in[0] == 1 && g_.out[0] == 1 && g_.k[0] == 1 && g_.k[1] == g_.k[2] &&
              (g_.k[2] == 2 || g_.k[2] == 3) && g_.dil[1] == 1 && g_.dil[2] == 1;
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = out[0].numel();
    if (!total) return;
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    const bool is_max = kind_ == Pool::kMax || kind_ == Pool::kAdaptiveMax;
    if (plane_) {
      const int64_t n = g_.in_volume();
      if (n > 2048) {
        plane_pool_blocks<<<row_blocks(planes_), 512, 0, stream()>>>(x, y, planes_, n, is_max, divisor_);
      } else {
        const int64_t warps = kThreads / 32, blocks = (planes_ + warps - 1) / warps;
        plane_pool_warps<<<row_blocks(blocks), kThreads, 0, stream()>>>(x, y, planes_, n, is_max, divisor_);
      }
      check_launch("launching whole-plane pooling");
      return;
    }
    constexpr int N = vec_width<T>();
    if (kind_ == Pool::kMax && cl_ % N == 0 && narrow_ && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(y) % 16 == 0) {
      max_pool_last_vec<T><<<blocks_for(total / N), kThreads, 0, stream()>>>(x, y, int32_t(total / N), g_,
                                                                           int32_t(cl_ / N));
      check_launch("launching channels-last max pooling");
      return;
    }
    if (kind_ == Pool::kMax && square_ && narrow_ && g_.k[2] == 3 && g_.stride[1] == 2 && g_.stride[2] == 2 &&
        g_.pad[1] == 1 && g_.pad[2] == 1 && g_.in[2] == 2 * g_.out[2] && g_.in[2] % N == 0 && N % 2 == 0 &&
        reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 8 == 0) {
      const int64_t items = planes_ * (g_.in[2] / N) * ((g_.out[1] + kStripRows - 1) / kStripRows);
      max_pool_3x3s2_strips<T><<<blocks_for(items), kThreads, 0, stream()>>>(x, y, int32_t(items), g_);
      check_launch("launching 3x3/2 max pooling (strips)");
      return;
    }
    if (kind_ == Pool::kMax && square_ && narrow_ && g_.stride[2] == 2) {
      const int64_t pairs = planes_ * g_.out[1] * ((g_.out[2] + 1) / 2);
      if (g_.k[2] == 3)
        max_pool_2d_pairs<T, 3><<<blocks_for(pairs), kThreads, 0, stream()>>>(x, y, int32_t(pairs), g_);
      else
        max_pool_2d_pairs<T, 2><<<blocks_for(pairs), kThreads, 0, stream()>>>(x, y, int32_t(pairs), g_);
      check_launch("launching 2-D max pooling (pairs)");
      return;
    }
    if (kind_ == Pool::kMax && square_ && narrow_) {
      if (g_.k[2] == 3)
        max_pool_2d<T, 3><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, int32_t(total), g_);
      else
        max_pool_2d<T, 2><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, int32_t(total), g_);
      check_launch("launching 2-D max pooling");
      return;
    }
    if (narrow_)
      launch<int32_t>(x, y, total);
    else
      launch<int64_t>(x, y, total);
  }

 private:
  template <class I>
  void launch(const T* x, T* y, int64_t total) const {
    const unsigned blocks = blocks_for(total);
    switch (kind_) {
      case Pool::kMax: max_pool<T, I><<<blocks, kThreads, 0, stream()>>>(x, y, I(total), g_, I(cl_)); break;
      case Pool::kAvg:
        avg_pool<T, I><<<blocks, kThreads, 0, stream()>>>(x, y, I(total), g_, I(cl_), I(divisor_override_),
                                                          count_include_pad_);
        break;
      default:
        adaptive_pool<T, I>
            <<<blocks, kThreads, 0, stream()>>>(x, y, I(total), g_, I(cl_), kind_ == Pool::kAdaptiveMax);
    }
    check_launch("launching pooling");
  }

  Spatial3 g_;
  Pool kind_;
  int64_t planes_ = 0, divisor_override_ = 0, cl_ = 1;  // cl_: channels innermost (channels last), else 1
  float divisor_ = 1.0f;
  bool count_include_pad_ = true, plane_ = false, narrow_ = false, square_ = false;
};

std::unique_ptr<Kernel> make(const KernelSpec& s, Pool kind) {
  // int8: max pooling only (inference refuses int8 averages), its values compared exactly as floats.
  if (s.inputs[0]->dtype == DataType::kInt8)
    return kind == Pool::kMax ? std::make_unique<PoolingKernel<int8_t>>(s, kind) : nullptr;
  return dispatch(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>)
      return std::make_unique<PoolingKernel<T>>(s, kind);
    else
      return nullptr;  // inference admits floating-point inputs only
  });
}

}  // namespace

std::unique_ptr<Kernel> create_pooling(const KernelSpec& s) {
  return make(s, ir::attr_string(s.layer, "mode") == "max" ? Pool::kMax : Pool::kAvg);
}

std::unique_ptr<Kernel> create_adaptive_pooling(const KernelSpec& s) {
  return make(s, ir::attr_string(s.layer, "mode") == "max" ? Pool::kAdaptiveMax : Pool::kAdaptiveAvg);
}

}  // namespace tensorforge::cuda
