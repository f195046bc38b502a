// CUDA pad over any rank with the CPU kernel's rules (src/kernels/cpu/pad.cc): constant (any dtype;
// negative pads crop), reflect (mirror without repeating the edge) and replicate (clamp). A warp per
// output row (of 16 or more elements) maps the row's leading coordinates to a source row once and
// walks it; shorter rows get a thread per output element that maps each coordinate. When the
// output is a whole number of 16-byte packs (32-bit indices, aligned), a thread instead fills one
// pack: it maps the pack's first row once, crosses into the next row where the pack does, gathers
// the pack's elements into registers and stores them at once (with two divisions by scalars where
// only the two innermost dims are padded). Elements move
// as unsigned words of the element's size, and the constant is the CPU's conversion of `value` to
// the dtype, bit for bit.
#include <algorithm>
#include <cstring>

#include "common/broadcast.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/cuda/copy_views.cuh"

namespace tensorforge::cuda {

namespace {

enum class PadMode { kConstant, kReflect, kReplicate };

struct PadPlan {
  int rank = 0;
  int64_t out[kMaxDims] = {}, in[kMaxDims] = {}, in_strides[kMaxDims] = {}, begin[kMaxDims] = {};
};

// I: the index type, 32 bits when every index (plus a grid stride) stays below 2^31.
template <class W, class I>
__global__ void pad_kernel(const W* __restrict__ x, W* __restrict__ y, I total, PadPlan p, PadMode mode, W value) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < total; i += I(gridDim.x) * I(blockDim.x)) {
    I q = i, src = 0;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; --d) {
      const I t = q / I(p.out[d]);
      I s = q - t * I(p.out[d]) - I(p.begin[d]);
      q = t;
      const I n = I(p.in[d]);
      if (mode == PadMode::kReflect) {
        if (s < 0) s = -s;
        if (s >= n) s = 2 * (n - 1) - s;
      } else if (mode == PadMode::kReplicate) {
        s = s < 0 ? 0 : (s >= n ? n - 1 : s);
      } else if (s < 0 || s >= n) {
        inside = false;  // the constant, whatever the other coordinates
        break;
      }
      src += s * I(p.in_strides[d]);
    }
    y[i] = inside ? x[src] : value;
  }
}

// The source coordinate of output coordinate s (already shifted by the pad) along a dim of n
// elements, or -1 where the constant goes.
template <class I>
__device__ __forceinline__ I pad_source(I s, I n, PadMode mode) {
  if (mode == PadMode::kReflect) {
    if (s < 0) s = -s;
    if (s >= n) s = 2 * (n - 1) - s;
    return s;
  }
  if (mode == PadMode::kReplicate) return s < 0 ? 0 : (s >= n ? n - 1 : s);
  return s < 0 || s >= n ? I(-1) : s;
}

// Rows of the output's last dim (rank >= 2, that dim kRowMin or longer): warp threadIdx.y of a block
// takes one output row, maps its leading coordinates to a source row once, then its lanes walk the
// row (adjacent lanes, adjacent elements): no per-element division.
template <class W, class I>
__global__ void pad_rows(const W* __restrict__ x, W* __restrict__ y, I rows, PadPlan p, PadMode mode, W value) {
  const int last = p.rank - 1;
  const I ow = I(p.out[last]), iw = I(p.in[last]), bw = I(p.begin[last]);
  for (I r = blockIdx.x * I(blockDim.y) + threadIdx.y; r < rows; r += I(gridDim.x) * I(blockDim.y)) {
    I q = r, src = 0;
    bool inside = true;
    for (int d = last - 1; d >= 0; --d) {
      const I t = q / I(p.out[d]);
      const I s = pad_source<I>(q - t * I(p.out[d]) - I(p.begin[d]), I(p.in[d]), mode);
      q = t;
      if (s < 0) inside = false;
      src += s * I(p.in_strides[d]);
    }
    W* yr = y + r * ow;
    for (I j = threadIdx.x; j < ow; j += 32) {
      const I s = inside ? pad_source<I>(j - bw, iw, mode) : I(-1);
      yr[j] = s >= 0 ? x[src + s] : value;
    }
  }
}

// The source row of output row r (its offset in x), or false where the whole row is the constant:
// the leading coordinates of r mapped as pad_rows maps them.
__device__ __forceinline__ bool pad_row_source(int32_t r, const PadPlan& p, PadMode mode, int32_t& src) {
  bool inside = true;
  src = 0;
  for (int d = p.rank - 2; d >= 0; --d) {
    const int32_t n = int32_t(p.out[d]), t = r / n;
    const int32_t s = pad_source<int32_t>(r - t * n - int32_t(p.begin[d]), int32_t(p.in[d]), mode);
    r = t;
    if (s < 0) inside = false;
    src += s * int32_t(p.in_strides[d]);
  }
  return inside;
}

// Thread k fills output pack k (V elements, 16 bytes): every load of the pack is issued before its
// one store, so each thread keeps 16 bytes in flight where pad_rows keeps one element.
template <class W, int V>
__global__ void pad_packs(const W* __restrict__ x, W* __restrict__ y, int32_t packs, PadPlan p, PadMode mode,
                          W value) {
  const int last = p.rank - 1;
  const int32_t ow = int32_t(p.out[last]), iw = int32_t(p.in[last]), bw = int32_t(p.begin[last]);
  for (int32_t k = blockIdx.x * blockDim.x + threadIdx.x; k < packs; k += gridDim.x * blockDim.x) {
    int32_t r = k * V / ow, j = k * V - r * ow, src;
    bool inside = pad_row_source(r, p, mode, src);
    Pack<W, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      while (j >= ow) {  // the pack runs on into the next row (more than once for rows under V)
        j -= ow;
        inside = pad_row_source(++r, p, mode, src);
      }
      const int32_t s = inside ? pad_source<int32_t>(j - bw, iw, mode) : -1;
      out.v[e] = s >= 0 ? x[src + s] : value;
      ++j;
    }
    reinterpret_cast<Pack<W, V>*>(y)[k] = out;
  }
}

// The two innermost dims of a pad whose outer dims are not padded (a convolution's padding):
// scalar extents, so the pack's plane and row come from two divisions by kernel arguments.
struct PadPlanes {
  int32_t plane_in, plane_out, ih, iw, oh, ow, bh, bw;
};

// pad_packs for PadPlanes: the same packs and the same per-element rule, with the row's source
// moved along as the pack crosses rows and planes instead of mapped from the row index.
// The mode is a template argument here (the kernel is bound by its arithmetic, not by memory).
template <class W, int V, PadMode mode>
__global__ void pad_plane_packs(const W* __restrict__ x, W* __restrict__ y, int32_t packs, PadPlanes g, W value) {
  for (int32_t k = blockIdx.x * blockDim.x + threadIdx.x; k < packs; k += gridDim.x * blockDim.x) {
    const int32_t i = k * V;
    int32_t plane = i / g.plane_out, rem = i - plane * g.plane_out;
    int32_t oh = rem / g.ow, j = rem - oh * g.ow;
    int32_t ih = pad_source<int32_t>(oh - g.bh, g.ih, mode);
    Pack<W, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      while (j >= g.ow) {  // the pack runs on into the next row, perhaps the next plane
        j -= g.ow;
        if (++oh == g.oh) {
          oh = 0;
          ++plane;
        }
        ih = pad_source<int32_t>(oh - g.bh, g.ih, mode);
      }
      const int32_t s = ih >= 0 ? pad_source<int32_t>(j - g.bw, g.iw, mode) : -1;
      out.v[e] = s >= 0 ? x[plane * g.plane_in + ih * g.iw + s] : value;
      ++j;
    }
    reinterpret_cast<Pack<W, V>*>(y)[k] = out;
  }
}

constexpr int64_t kRowMin = 16;  // the shortest output row pad_rows takes
constexpr int kRowsPerBlock = 8;

template <class W>
class PadKernel : public Kernel {
 public:
  PadKernel(const PadPlan& p, PadMode mode, W value, bool narrow)
      : p_(p), mode_(mode), value_(value), narrow_(narrow) {
    // Only the two innermost dims padded (and 32-bit indices): pad_plane_packs' scalar plan.
    const int r = p.rank;
    planes_ = narrow && r >= 2;
    for (int d = 0; d + 2 < r; ++d) planes_ = planes_ && p.begin[d] == 0 && p.in[d] == p.out[d];
    if (planes_) {
      g_ = {int32_t(p.in[r - 2] * p.in[r - 1]), int32_t(p.out[r - 2] * p.out[r - 1]), int32_t(p.in[r - 2]),
            int32_t(p.in[r - 1]),           int32_t(p.out[r - 2]),              int32_t(p.out[r - 1]),
            int32_t(p.begin[r - 2]),        int32_t(p.begin[r - 1])};
      planes_ = g_.plane_in > 0 && g_.plane_out > 0;
    }
  }
  void run(const TensorView* in, const TensorView* out, void*) const override {
    const int64_t total = out[0].numel();
    if (!total) return;
    const W* x = in[0].as<const W>();
    W* y = out[0].as<W>();
    constexpr int V = sizeof(W) >= 16 ? 1 : int(16 / sizeof(W));
    if (planes_ && total % V == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0) {
      auto* kernel = mode_ == PadMode::kConstant  ? pad_plane_packs<W, V, PadMode::kConstant>
                     : mode_ == PadMode::kReflect ? pad_plane_packs<W, V, PadMode::kReflect>
                                                  : pad_plane_packs<W, V, PadMode::kReplicate>;
      kernel<<<blocks_for(total / V), kThreads, 0, stream()>>>(x, y, int32_t(total / V), g_, value_);
      check_launch("launching pad (plane packs)");
      return;
    }
    if (narrow_ && p_.rank >= 1 && total % V == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0) {
      pad_packs<W, V><<<blocks_for(total / V), kThreads, 0, stream()>>>(x, y, int32_t(total / V), p_, mode_, value_);
      check_launch("launching pad (packs)");
      return;
    }
    const int64_t ow = p_.rank >= 2 ? p_.out[p_.rank - 1] : 0;
    if (ow >= kRowMin) {
      const int64_t rows = total / ow;
      const dim3 block(32, kRowsPerBlock);
      const unsigned grid = static_cast<unsigned>(std::min<int64_t>((rows + kRowsPerBlock - 1) / kRowsPerBlock, 1 << 20));
      if (narrow_)
        pad_rows<W, int32_t><<<grid, block, 0, stream()>>>(x, y, int32_t(rows), p_, mode_, value_);
      else
        pad_rows<W, int64_t><<<grid, block, 0, stream()>>>(x, y, rows, p_, mode_, value_);
      check_launch("launching pad (rows)");
      return;
    }
    if (narrow_)
      pad_kernel<W, int32_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, int32_t(total), p_, mode_, value_);
    else
      pad_kernel<W, int64_t><<<blocks_for(total), kThreads, 0, stream()>>>(x, y, total, p_, mode_, value_);
    check_launch("launching pad");
  }

 private:
  PadPlan p_;
  PadMode mode_;
  W value_;
  bool narrow_, planes_ = false;
  PadPlanes g_{};
};

}  // namespace

std::unique_ptr<Kernel> create_pad(const KernelSpec& s) {
  const Dims& x = s.inputs[0]->dims;
  const Dims& out = s.outputs[0]->dims;
  const auto& pads = ir::attr_ints(s.layer, "pads");
  const std::string& m = ir::attr_string(s.layer, "mode");
  const PadMode mode = m == "reflect" ? PadMode::kReflect : m == "replicate" ? PadMode::kReplicate : PadMode::kConstant;
  PadPlan p;
  p.rank = x.rank();
  std::vector<int64_t> strides = contiguous_strides(x);
  for (int k = 0; k < p.rank; ++k) {
    p.out[k] = out[k];
    p.in[k] = x[k];
    p.in_strides[k] = strides[k];
    p.begin[k] = pads[k];
  }
  // The constant's bits: the CPU kernel's own conversion of the double attribute to the dtype.
  uint64_t bits = 0;
  const double value = ir::attr_float(s.layer, "value");
  cpu::dispatch(s.inputs[0]->dtype, [&](auto tag) {
    const auto v = cpu::store_as<typename decltype(tag)::type>(value);
    std::memcpy(&bits, &v, sizeof v);
  });
  // Pads are within +-2^30 (inference), so |s| < 2^31 per dim whenever both volumes are below 2^30.
  const int64_t limit = int64_t(1) << 30;
  const bool narrow = x.volume() < limit && out.volume() < limit;
  return dispatch_bytes(element_size(s.inputs[0]->dtype), [&](auto tag) -> std::unique_ptr<Kernel> {
    using W = typename decltype(tag)::type;
    W v;
    std::memcpy(&v, &bits, sizeof v);
    return std::make_unique<PadKernel<W>>(p, mode, v, narrow);
  });
}

}  // namespace tensorforge::cuda
