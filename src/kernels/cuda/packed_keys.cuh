// Packed keys: an element of at most 4 bytes and its index along a row as one unsigned word, so
// that one comparison orders elements as the CPU kernels do (NaN above every number, -0.0 equal to
// 0.0, equal values by lower index). topk keeps the best words; arg_reduce takes the largest.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

/// 16-bit floats: their keys can be computed two at a time (Packed::order2).
template <class T>
constexpr bool is_half_float_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

/// The element's order key (in its width rounded up to 16 or 32 bits) above the complement of its
/// index: larger words come first, and 0 comes after every element of a row shorter than kMaxExtent.
template <class T>
struct Packed {
  static_assert(sizeof(T) <= 4, "packed keys hold elements of at most 4 bytes");
  static constexpr int kBits = sizeof(T) <= 2 ? 16 : 32;
  using Word = std::conditional_t<sizeof(T) <= 2, uint32_t, unsigned long long>;
  static constexpr int64_t kMaxExtent = (int64_t(1) << kBits) - 1;

  __device__ static __forceinline__ bool is_nan(T x) {
    if constexpr (is_float_v<T>)
      return static_cast<float>(x) != static_cast<float>(x);
    else
      return false;
  }
  /// Unsigned, in the value order; NaN (any sign) the largest, -0.0 equal to 0.0.
  __device__ static __forceinline__ Word order(T x) {
    if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
      uint32_t b;
      if constexpr (std::is_same_v<T, __half>)
        b = __half_as_ushort(x);
      else
        b = __bfloat16_as_ushort(x);
      const uint32_t inf = std::is_same_v<T, __half> ? 0x7c00u : 0x7f80u;
      if ((b & 0x7fffu) > inf) return 0xffffu;
      if ((b & 0x7fffu) == 0) b = 0;
      return (b & 0x8000u) ? (~b & 0xffffu) : (b | 0x8000u);
    } else if constexpr (std::is_same_v<T, float>) {
      if (x != x) return 0xffffffffull;
      const uint32_t u = x == 0.0f ? 0u : __float_as_uint(x);
      return (u & 0x80000000u) ? (~u & 0xffffffffu) : (u | 0x80000000u);
    } else if constexpr (std::is_signed_v<T>) {
      return static_cast<Word>(static_cast<int64_t>(x) - static_cast<int64_t>(std::numeric_limits<T>::min()));
    } else {
      return static_cast<Word>(x);
    }
  }
  __device__ static __forceinline__ Word pack(Word order, int64_t j) {
    return (order << kBits) | static_cast<Word>(kMaxExtent - j);
  }
  /// topk's key: the largest first, or the smallest first (NaN then last).
  __device__ static __forceinline__ Word key(T x, int64_t j, bool largest) {
    return pack(largest ? order(x) : order(x) ^ static_cast<Word>(kMaxExtent), j);
  }
  /// arg_reduce's key: the largest word is the answer, the first NaN for argmax and argmin alike.
  __device__ static __forceinline__ Word arg_key(T x, int64_t j, bool is_max) {
    return pack(is_max || is_nan(x) ? order(x) : order(x) ^ static_cast<Word>(kMaxExtent), j);
  }
  __device__ static __forceinline__ int64_t index(Word w) {
    return kMaxExtent - static_cast<int64_t>(w & static_cast<Word>(kMaxExtent));
  }

  // 16-bit floats, two at a time: the halves of a 32-bit word of elements become the halves of a
  // word of keys, by the same rules as order() and key() (SIMD on 16-bit lanes).
  /// order() of both halves.
  __device__ static __forceinline__ uint32_t order2(uint32_t u) {
    static_assert(is_half_float_v<T>, "16-bit floats");
    constexpr uint32_t kInf = std::is_same_v<T, __half> ? 0x7c007c00u : 0x7f807f80u;
    const uint32_t a = u & 0x7fff7fffu, zero = __vcmpeq2(a, 0u), neg = __vcmpgtu2(u, 0x7fff7fffu);
    uint32_t k = u ^ (neg | 0x80008000u);    // negatives complemented, positives with the top bit set
    k = (k & ~zero) | (zero & 0x80008000u);  // -0.0 as 0.0
    return k | __vcmpgtu2(a, kInf);          // NaN the largest
  }
  /// key() of both halves (without the index).
  __device__ static __forceinline__ uint32_t keys2(uint32_t u, bool largest) {
    return order2(u) ^ (largest ? 0u : 0xffffffffu);
  }
  /// The bits of the 16-bit float whose key() is `key`, or -1 where the key does not tell (NaN, and
  /// zero's sign).
  __device__ static __forceinline__ int32_t bits_of_key(uint32_t key, bool largest) {
    const uint32_t o = largest ? key : key ^ 0xffffu;
    if (o == 0xffffu || o == 0x8000u) return -1;
    return static_cast<int32_t>(o & 0x8000u ? o ^ 0x8000u : ~o & 0xffffu);
  }
};

/// Element e (0-7) of a 16-byte word of 16-bit keys.
__device__ __forceinline__ uint32_t key16_at(const uint4& k, int e) {
  const uint32_t v = e < 2 ? k.x : e < 4 ? k.y : e < 6 ? k.z : k.w;
  return e & 1 ? v >> 16 : v & 0xffffu;
}

/// Two 16-bit floats of T (float16 or bfloat16) as one value of the matching SIMD type, for native
/// pair maxima, minima and compare masks (topk, arg_reduce).
template <class T>
using Pair = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;
template <class T>
__device__ __forceinline__ Pair<T> pair_of(uint32_t u) {
  Pair<T> p;
  memcpy(&p, &u, sizeof u);
  return p;
}
/// The larger (`largest`) or smaller of two pairs, half by half, NaN propagating.
template <class T>
__device__ __forceinline__ Pair<T> pair_extreme(Pair<T> a, Pair<T> b, bool largest) {
  return largest ? __hmax2_nan(a, b) : __hmin2_nan(a, b);
}
/// The bits of a pair that every value beats in pair_extreme: -inf twice (+inf for !largest).
template <class T>
constexpr uint32_t worst_pair_bits(bool largest) {
  constexpr bool kHalf = std::is_same_v<T, __half>;
  return largest ? (kHalf ? 0xfc00fc00u : 0xff80ff80u) : (kHalf ? 0x7c007c00u : 0x7f807f80u);
}

}  // namespace tensorforge::cuda
