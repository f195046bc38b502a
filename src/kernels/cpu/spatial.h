// Factories of the CPU spatial kernels (registered in spatial_family.cc) and what they share: the
// geometry of kernels/common/spatial_geometry.h, and float32 staging of float16/bfloat16 data in
// the workspace.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "kernels/common/spatial_geometry.h"
#include "kernels/cpu/dtype_dispatch.h"
#include "kernels/kernel.h"

namespace tensorforge::cpu {

std::unique_ptr<Kernel> create_convolution(const KernelSpec& s);
/// oneDNN's convolution (conv_onednn.cc) for float32 2-D layers with a constant weight; nullptr for
/// the others and in builds without oneDNN.
std::unique_ptr<Kernel> create_convolution_onednn(const KernelSpec& s);
/// Whether this build has oneDNN's convolution (CMake's TENSORFORGE_ONEDNN found libdnnl).
bool built_with_onednn();
std::unique_ptr<Kernel> create_deconvolution(const KernelSpec& s);
/// quantized_convolution: int8 x and weight, int32 sums, float epilogue (quantized_conv.cc).
std::unique_ptr<Kernel> create_quantized_convolution(const KernelSpec& s);
std::unique_ptr<Kernel> create_pooling(const KernelSpec& s);
std::unique_ptr<Kernel> create_adaptive_pooling(const KernelSpec& s);
/// Channels-last float32 2-D (adaptive) pooling in place (pooling_nhwc.cc); nullptr for other layers.
std::unique_ptr<Kernel> create_pooling_nhwc(const KernelSpec& s);
std::unique_ptr<Kernel> create_adaptive_pooling_nhwc(const KernelSpec& s);
std::unique_ptr<Kernel> create_pad(const KernelSpec& s);
std::unique_ptr<Kernel> create_resize(const KernelSpec& s);

/// `create(s)` for a channels-first layer; for a channels-last ("nhwc") convolution or (adaptive)
/// pooling, an adapter that converts to channels first in the workspace around `create`'s kernel
/// (channels_last.cc).
std::unique_ptr<Kernel> with_layout(const KernelSpec& s, std::unique_ptr<Kernel> (*create)(const KernelSpec&));

/// Rounds a byte count up to the workspace alignment (64 bytes).
inline size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/// Converts n elements of storage type T to float.
template <class T>
inline void to_float_buffer(const T* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = load(src, i);
}

/// Stores n floats as storage type T (rounded).
template <class T>
inline void from_float_buffer(const float* src, T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = store_as<T>(src[i]);
}

/// Hands out consecutive 64-byte aligned float blocks of a workspace.
class FloatCarver {
 public:
  explicit FloatCarver(void* base) : p_(static_cast<char*>(base)) {}
  float* take(int64_t n) {
    float* r = reinterpret_cast<float*>(p_);
    p_ += align64(static_cast<size_t>(n) * sizeof(float));
    return r;
  }

 private:
  char* p_;
};

/// float32 views of a (de)convolution's input, weight and output (one batch item at a time): the
/// tensors themselves when T is float, workspace copies otherwise (the output copy is stored back
/// by store_output). `x_item` and `y_item` are the element counts of one batch item.
template <class T>
class FloatStaging {
 public:
  static size_t workspace_size(int64_t x_item, int64_t w_size, int64_t y_item) {
    if constexpr (std::is_same_v<T, float>) return 0;
    return align64(sizeof(float) * x_item) + align64(sizeof(float) * w_size) + align64(sizeof(float) * y_item);
  }
  FloatStaging(FloatCarver& ws, const TensorView* in, const TensorView* out, int64_t x_item, int64_t w_size,
               int64_t y_item)
      : x_(in[0].as<T>()), y_(out[0].as<T>()), x_item_(x_item), y_item_(y_item) {
    if constexpr (std::is_same_v<T, float>) {
      w_ = in[1].as<float>();
    } else {
      xbuf_ = ws.take(x_item);
      float* wbuf = ws.take(w_size);
      ybuf_ = ws.take(y_item);
      to_float_buffer(in[1].as<T>(), wbuf, w_size);
      w_ = wbuf;
    }
  }
  const float* weight() const { return w_; }
  const float* input(int64_t n) const {
    if constexpr (std::is_same_v<T, float>) return x_ + n * x_item_;
    to_float_buffer(x_ + n * x_item_, xbuf_, x_item_);
    return xbuf_;
  }
  float* output(int64_t n) const {
    if constexpr (std::is_same_v<T, float>) return y_ + n * y_item_;
    return ybuf_;
  }
  void store_output(int64_t n) const {
    if constexpr (!std::is_same_v<T, float>) from_float_buffer(ybuf_, y_ + n * y_item_, y_item_);
  }

 private:
  const T* x_;
  T* y_;
  int64_t x_item_, y_item_;
  const float* w_ = nullptr;
  float *xbuf_ = nullptr, *ybuf_ = nullptr;
};

}  // namespace tensorforge::cpu
