// Shared pieces of the CUDA kernels: storage types per DataType (float16/bfloat16 computed in
// float), dtype dispatch on the host, numpy-style broadcast indexing, and the launch shape.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/kernel.h"
#include "runtime/device.h"

namespace tensorforge::cuda {

template <class T>
struct Compute {
  using type = T;
};
template <>
struct Compute<__half> {
  using type = float;
};
template <>
struct Compute<__nv_bfloat16> {
  using type = float;
};
template <class T>
using compute_t = typename Compute<T>::type;

template <class T>
__device__ __forceinline__ compute_t<T> load(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, __half>)
    return __half2float(p[i]);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(p[i]);
  else
    return p[i];
}

template <class T, class C>
__device__ __forceinline__ T store_as(C v) {
  if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bool>)
    return v != C(0);
  else
    return static_cast<T>(v);
}

template <class T>
constexpr bool is_float_v = std::is_same_v<T, float> || std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

template <class T>
struct Tag {
  using type = T;
};

/// Calls f(Tag<T>{}) with the CUDA storage type of `t`.
template <class F>
decltype(auto) dispatch(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: return f(Tag<float>{});
    case DataType::kFloat16: return f(Tag<__half>{});
    case DataType::kBFloat16: return f(Tag<__nv_bfloat16>{});
    case DataType::kInt8: return f(Tag<int8_t>{});
    case DataType::kInt32: return f(Tag<int32_t>{});
    case DataType::kInt64: return f(Tag<int64_t>{});
    case DataType::kBool: return f(Tag<bool>{});
    case DataType::kUInt8: return f(Tag<uint8_t>{});
    case DataType::kFloat8E4M3: break;  // a storage type: no kernel computes on it through dispatch
  }
  throw Error(ErrorCode::kInternal, std::string("a CUDA kernel was asked to compute on ") + to_string(t) + " data");
}

/// Output index -> operand offsets for up to three broadcast operands (right-aligned, stride 0 on
/// broadcast dims). Passed to kernels by value. make_broadcast drops size-1 dims and merges adjacent
/// dims every operand walks alike ([N, H, 49, 49] + [H, 49, 49] is [N, H * 49 * 49] + its block), so
/// an offset costs one division per remaining inner dim: 32-bit ones when the output has fewer than
/// 2^32 elements (`small`); the outermost index needs none.
struct Broadcast {
  int rank = 0;
  int64_t dims[kMaxDims] = {};
  int64_t strides[3][kMaxDims] = {};
  bool contiguous[3] = {true, true, true};  // operand k has the output's shape: offset = index
  bool small = false;                       // every index fits in 32 bits

  __host__ __device__ __forceinline__ int64_t offset(int k, int64_t i) const {
    if (contiguous[k] || rank == 0) return contiguous[k] ? i : 0;
    int64_t off = 0;
    if (small) {
      uint32_t j = static_cast<uint32_t>(i);
      for (int d = rank - 1; d > 0; --d) {
        const uint32_t e = static_cast<uint32_t>(dims[d]), q = j / e;
        off += static_cast<int64_t>(j - q * e) * strides[k][d];
        j = q;
      }
      return off + static_cast<int64_t>(j) * strides[k][0];
    }
    for (int d = rank - 1; d > 0; --d) {
      const int64_t q = i / dims[d];
      off += (i - q * dims[d]) * strides[k][d];
      i = q;
    }
    return off + i * strides[k][0];
  }
};

/// A Broadcast of `operands` (shapes) onto `out`.
Broadcast make_broadcast(const Dims& out, const Dims* operands, int n);

constexpr int kThreads = 256;

/// Elements of T in one 16-byte access (memory-bound kernels move 16 bytes per thread when the
/// pointers allow).
template <class T>
constexpr int vec_width() {
  return sizeof(T) >= 16 ? 1 : static_cast<int>(16 / sizeof(T));
}

/// N elements of T loaded or stored as one access.
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

/// True when `p` is aligned for Pack<T, vec_width<In>()> accesses.
template <class In, class T>
inline bool pack_aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * vec_width<In>()) == 0;
}

/// Blocks for n elements with a grid-stride loop (capped; every element is still visited).
inline unsigned blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

inline cudaStream_t stream() { return static_cast<cudaStream_t>(device::current_stream()); }

}  // namespace tensorforge::cuda
