// CUDA convolution and transposed convolution through cuDNN's legacy API, on the engine's contiguous
// NCHW tensors: 1 to 3 spatial dims (1-D runs as 2-D with H = 1), strides, symmetric padding,
// dilation, groups (depthwise included), bias and, for convolution, an activation (relu, silu,
// hardswish) after the bias. float32 may
// use TF32 tensor cores (BuilderConfig.allow_tf32; CUDNN_FMA_MATH otherwise); float16/bfloat16 use
// tensor cores with float32 accumulation. Everything is fixed at creation: descriptors, the
// algorithm (cuDNN's heuristic at optimization_level 0, else timing every algorithm with
// cudnnFind*Ex on scratch buffers freed right after) and its workspace, within
// BuilderConfig.workspace_size. Ungrouped convolutions may also run in NHWC: input and weight
// transposed into the workspace, cuDNN in NHWC, the output transposed back with bias and activation
// on the way; the faster layout is timed at creation (float16/bfloat16 take NHWC at optimization_level 0).
// In NCHW, bias and relu (or none) go through cudnnConvolutionBiasActivationForward when cuDNN takes
// the configuration (tried once on the scratch buffers), else (and for silu, hardswish) through one
// pass of ours.
#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ir/layout.h"
#include "kernels/common/spatial_geometry.h"
#include "kernels/cuda/build_timing.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/libraries.h"
#include "kernels/layer_attrs.h"
#include "tensorforge/logger.h"

namespace tensorforge::cuda {

namespace {

// y[n, c, ...] = act(y + bias[c] + residual[n, c, ...]) over a contiguous [N, C, inner] tensor;
// bias and residual may be null.
template <class T>
__global__ void bias_relu_kernel(T* __restrict__ y, const T* __restrict__ bias, const T* __restrict__ residual,
                                 int64_t n, int64_t inner, int64_t channels, ConvActivation act) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = load(y, i);
    if (bias) v += load(bias, (i / inner) % channels);
    if (residual) v += load(residual, i);
    y[i] = store_as<T>(conv_activate(act, v));
  }
}

// The same in place over 16-byte packs when a pack never straddles two channels (inner % N == 0),
// with 32-bit index math (n < 2^31).
template <class T>
__global__ void bias_relu_vec_kernel(T* __restrict__ y, const T* __restrict__ bias, const T* __restrict__ residual,
                                     uint32_t packs, uint32_t inner_packs, uint32_t channels, ConvActivation act) {
  constexpr int N = vec_width<T>();
  for (uint32_t p = blockIdx.x * blockDim.x + threadIdx.x; p < packs; p += gridDim.x * blockDim.x) {
    Pack<T, N> a = reinterpret_cast<Pack<T, N>*>(y)[p], r;
    if (residual) r = reinterpret_cast<const Pack<T, N>*>(residual)[p];
    float b = bias ? load(bias, (p / inner_packs) % channels) : 0.0f;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      float v = load(a.v, k) + b + (residual ? load(r.v, k) : 0.0f);
      a.v[k] = store_as<T>(conv_activate(act, v));
    }
    reinterpret_cast<Pack<T, N>*>(y)[p] = a;
  }
}

// The same over channels-innermost y ([positions, C], inner == 1) in 16-byte packs when C % N == 0:
// a pack holds N consecutive channels.
template <class T>
__global__ void bias_relu_last_vec_kernel(T* __restrict__ y, const T* __restrict__ bias,
                                          const T* __restrict__ residual, uint32_t packs, uint32_t channel_packs,
                                          ConvActivation act) {
  constexpr int N = vec_width<T>();
  for (uint32_t p = blockIdx.x * blockDim.x + threadIdx.x; p < packs; p += gridDim.x * blockDim.x) {
    Pack<T, N> a = reinterpret_cast<Pack<T, N>*>(y)[p], b, r;
    if (bias) b = reinterpret_cast<const Pack<T, N>*>(bias)[p % channel_packs];
    if (residual) r = reinterpret_cast<const Pack<T, N>*>(residual)[p];
#pragma unroll
    for (int k = 0; k < N; ++k) {
      float v = load(a.v, k) + (bias ? load(b.v, k) : 0.0f) + (residual ? load(r.v, k) : 0.0f);
      a.v[k] = store_as<T>(conv_activate(act, v));
    }
    reinterpret_cast<Pack<T, N>*>(y)[p] = a;
  }
}

// result[0] = max |a - b| (infinity where exactly one is NaN), result[1] = max |a|, as the bit
// patterns of non-negative floats (which order like their unsigned integers).
template <class T>
__global__ void difference_kernel(const T* __restrict__ a, const T* __restrict__ b, int64_t n,
                                  unsigned* __restrict__ result) {
  float diff = 0.0f, mag = 0.0f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float u = load(a, i), v = load(b, i);
    const bool u_nan = u != u, v_nan = v != v;
    const float d = u_nan || v_nan ? (u_nan == v_nan ? 0.0f : INFINITY) : fabsf(u - v);
    diff = fmaxf(diff, d);
    if (!u_nan) mag = fmaxf(mag, fabsf(u));
  }
  for (int off = 16; off > 0; off >>= 1) {
    diff = fmaxf(diff, __shfl_xor_sync(0xffffffffu, diff, off));
    mag = fmaxf(mag, __shfl_xor_sync(0xffffffffu, mag, off));
  }
  if ((threadIdx.x & 31) == 0) {
    atomicMax(result, __float_as_uint(diff));
    atomicMax(result + 1, __float_as_uint(mag));
  }
}

// out[b, c, r] = act(in[b, r, c] (+ bias[c])) for b < batch: 32x32 tiles through shared memory, so
// both the reads and the writes are coalesced. Grid-stride over row tiles and batches.
template <class T>
__global__ void transpose_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t batch, int64_t rows,
                                 int64_t cols, const T* __restrict__ bias, ConvActivation act) {
  __shared__ float tile[32][33];
  const int64_t c0 = blockIdx.x * int64_t(32), row_tiles = (rows + 31) / 32;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z)
    for (int64_t ty = blockIdx.y; ty < row_tiles; ty += gridDim.y) {
      const T* src = in + b * rows * cols;
      T* dst = out + b * rows * cols;
      const int64_t r0 = ty * 32;
      for (int j = threadIdx.y; j < 32; j += blockDim.y) {
        const int64_t r = r0 + j, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[j][threadIdx.x] = load(src, r * cols + c);
      }
      __syncthreads();
      for (int j = threadIdx.y; j < 32; j += blockDim.y) {
        const int64_t c = c0 + j, r = r0 + threadIdx.x;
        if (r < rows && c < cols) {
          float v = tile[threadIdx.x][j];
          if (bias) v += load(bias, c);
          dst[c * rows + r] = store_as<T>(conv_activate(act, v));
        }
      }
      __syncthreads();
    }
}

void transpose(DataType t, const void* in, void* out, int64_t batch, int64_t rows, int64_t cols,
               const void* bias = nullptr, ConvActivation act = ConvActivation::kNone) {
  const dim3 grid(static_cast<unsigned>((cols + 31) / 32), static_cast<unsigned>(std::min<int64_t>((rows + 31) / 32, 65535)),
                  static_cast<unsigned>(std::min<int64_t>(batch, 65535)));
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      transpose_kernel<<<grid, dim3(32, 8), 0, stream()>>>(static_cast<const T*>(in), static_cast<T*>(out), batch, rows,
                                                           cols, static_cast<const T*>(bias), act);
      check_launch("launching the convolution layout transpose");
    }
  });
}

// The cuDNN descriptors of one layer, in layer terms: x is the layer's input, y its output (for a
// transposed convolution: cuDNN's dy and dx), w the weight, bias [1, C, 1, ...].
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t act = nullptr;

  Descriptors() = default;
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  void create() {
    check_cudnn(cudnnCreateTensorDescriptor(&x), "creating a tensor descriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&y), "creating a tensor descriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&bias), "creating a tensor descriptor");
    check_cudnn(cudnnCreateFilterDescriptor(&w), "creating a filter descriptor");
    check_cudnn(cudnnCreateConvolutionDescriptor(&conv), "creating a convolution descriptor");
    check_cudnn(cudnnCreateActivationDescriptor(&act), "creating an activation descriptor");
  }
  ~Descriptors() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (act) cudnnDestroyActivationDescriptor(act);
  }
};

// Why a layer is refused: logged as a warning (the builder then reports that no kernel supports the
// layer), and nullptr for the factory.
std::unique_ptr<Kernel> refuse(const KernelSpec& s, const std::string& why) {
  tensorforge::log(Severity::kWarning, "layer '" + s.layer.name + "' (" + to_string(s.layer.kind) +
                                           "): the cuDNN kernel does not take it: " + why);
  return nullptr;
}

// cuDNN refusing a shape or configuration (false) versus failing (throws).
bool accepted(cudnnStatus_t st, const char* what) {
  if (st == CUDNN_STATUS_NOT_SUPPORTED || st == CUDNN_STATUS_BAD_PARAM) return false;
  check_cudnn(st, what);
  return true;
}

cudnnDataType_t dnn_type(DataType t) {
  return t == DataType::kFloat16 ? CUDNN_DATA_HALF : t == DataType::kBFloat16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

// A layer's shapes and window in cuDNN's ints: 4-D for 1-D and 2-D layers, 5-D for 3-D ones.
struct Geometry {
  int rank = 4;
  int x[5] = {}, y[5] = {}, w[5] = {}, pad[3] = {}, stride[3] = {}, dil[3] = {};
  int groups = 1;
};

// False when an extent, a packed stride or a window value does not fit an int.
bool make_geometry(const KernelSpec& s, Geometry& g) {
  const Spatial3 sp = conv_geometry(s);
  g.rank = s.inputs[0]->dims.rank() == 5 ? 5 : 4;
  const int first = 5 - g.rank;  // the Spatial3 slots cuDNN sees (1-D layers keep H = 1)
  bool ok = true;
  auto fit = [&](int64_t v) {
    ok = ok && v >= 0 && v <= INT_MAX;
    return static_cast<int>(v);
  };
  auto shape = [&](int* dst, const Dims& d, const int64_t* spatial) {
    int64_t volume = 1;
    for (int k = 0; k < 2; ++k) dst[k] = fit(d[k]);
    for (int k = 0; k < g.rank - 2; ++k) dst[2 + k] = fit(spatial[first + k]);
    for (int k = 1; k < g.rank; ++k) volume *= dst[k];
    fit(volume);
  };
  shape(g.x, s.inputs[0]->dims, sp.in);
  shape(g.y, s.outputs[0]->dims, sp.out);
  shape(g.w, s.inputs[1]->dims, sp.k);
  for (int k = 0; k < g.rank - 2; ++k) {
    g.pad[k] = fit(sp.pad[first + k]);
    g.stride[k] = fit(sp.stride[first + k]);
    g.dil[k] = fit(sp.dil[first + k]);
  }
  g.groups = fit(ir::attr_int(s.layer, "groups"));
  return ok;
}

bool set_tensor(cudnnTensorDescriptor_t t, cudnnDataType_t type, int rank, const int* dims, bool nhwc) {
  int strides[5];
  conv_packed_strides(dims, rank, nhwc, strides);
  return accepted(cudnnSetTensorNdDescriptor(t, type, rank, dims, strides), "describing a tensor");
}

// Sets every descriptor but the math type; false when cuDNN refuses one.
bool describe(const Geometry& g, cudnnDataType_t type, bool relu, bool nhwc, Descriptors& d) {
  int bias[5] = {1, g.y[1], 1, 1, 1};
  return set_tensor(d.x, type, g.rank, g.x, nhwc) && set_tensor(d.y, type, g.rank, g.y, nhwc) &&
         set_tensor(d.bias, type, g.rank, bias, false) &&
         accepted(cudnnSetFilterNdDescriptor(d.w, type, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, g.rank, g.w),
                  "describing a filter") &&
         accepted(cudnnSetConvolutionNdDescriptor(d.conv, g.rank - 2, g.pad, g.stride, g.dil, CUDNN_CROSS_CORRELATION,
                                                  CUDNN_DATA_FLOAT),
                  "describing a convolution") &&
         accepted(cudnnSetConvolutionGroupCount(d.conv, g.groups), "setting the group count") &&
         accepted(cudnnSetActivationDescriptor(d.act, relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                               CUDNN_PROPAGATE_NAN, 0.0),
                  "describing an activation");
}

// Whether cuDNN's convolution of `conv_in` gives exactly `conv_out` (the shapes the layer inferred).
bool forward_shape_matches(const Descriptors& d, cudnnTensorDescriptor_t conv_in, const int* conv_out, int rank) {
  int got[5] = {};
  if (!accepted(cudnnGetConvolutionNdForwardOutputDim(d.conv, conv_in, d.w, rank, got), "computing an output shape"))
    return false;
  return std::equal(got, got + rank, conv_out);
}

// Device buffers shaped like the layer's tensors, zeroed, for timing algorithms and trying the fused
// call at creation; freed with the object.
struct Scratch {
  device::Buffer x, w, y, bias;
  explicit Scratch(const KernelSpec& s) {
    auto make = [](const ir::TensorDesc* t) {
      if (!t) return device::Buffer();
      size_t n = static_cast<size_t>(t->dims.volume()) * element_size(t->dtype);
      device::Buffer b(DeviceKind::kCUDA, n);
      check(cudaMemsetAsync(b.data(), 0, n, stream()), "clearing scratch memory");
      return b;
    };
    x = make(s.inputs[0]);
    w = make(s.inputs[1]);
    y = make(s.outputs[0]);
    bias = make(s.inputs.size() > 2 ? s.inputs[2] : nullptr);
  }
  ~Scratch() { cudaStreamSynchronize(stream()); }  // work queued on the buffers ends before they go
};

// The cuDNN calls that differ between the forward and the backward-data (transposed) convolution.
struct Forward {
  using Algo = cudnnConvolutionFwdAlgo_t;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, a, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int* got, Perf* p) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, kCount, got, p);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, Scratch& s, int* got, Perf* p, void* ws,
                            size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, d.x, s.x.data(), d.w, s.w.data(), d.conv, d.y, s.y.data(), kCount,
                                                  got, p, ws, bytes);
  }
};

struct BackwardData {
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.x, d.conv, d.y, a, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int* got, Perf* p) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.x, d.conv, d.y, kCount, got, p);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, Scratch& s, int* got, Perf* p, void* ws,
                            size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w, s.w.data(), d.x, s.x.data(), d.conv, d.y, s.y.data(),
                                                       kCount, got, p, ws, bytes);
  }
};

template <class Op>
struct Choice {
  typename Op::Algo algo{};
  size_t workspace = 0;
};

// Picks the algorithm and sets the convolution's math type to the one it runs with; false when no
// algorithm fits `cap` bytes of workspace. `scratch` null: cuDNN's heuristic, else timing on it.
// `fma_only`: float32 without TF32, so tensor-core results are skipped.
template <class Op>
bool choose(const Descriptors& d, Scratch* scratch, bool fma_only, size_t cap, Choice<Op>& out) {
  cudnnHandle_t h = cudnn_handle();
  std::vector<typename Op::Perf> perf(Op::kCount);
  int got = 0;
  if (!scratch) {
    if (!accepted(Op::heuristic(h, d, &got, perf.data()), "asking cuDNN for convolution algorithms")) return false;
  } else {
    size_t bytes = 0;  // enough for every algorithm within the cap
    for (int a = 0; a < Op::kCount; ++a) {
      size_t need = 0;
      if (Op::workspace(h, d, static_cast<typename Op::Algo>(a), &need) == CUDNN_STATUS_SUCCESS && need <= cap)
        bytes = std::max(bytes, need);
    }
    device::Buffer ws(DeviceKind::kCUDA, bytes);
    if (!accepted(Op::find(h, d, *scratch, &got, perf.data(), ws.data(), bytes), "timing convolution algorithms"))
      return false;
  }
  for (int i = 0; i < got; ++i) {
    const auto& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > cap) continue;
    if (fma_only && (p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    check_cudnn(cudnnSetConvolutionMathType(d.conv, fma_only ? CUDNN_FMA_MATH : p.mathType), "setting the math type");
    size_t need = 0;
    if (Op::workspace(h, d, p.algo, &need) != CUDNN_STATUS_SUCCESS) continue;
    need = std::max(need, p.memory);
    if (need > cap) continue;
    out.algo = p.algo;
    out.workspace = need;
    return true;
  }
  return false;
}

bool fma_only(const KernelSpec& s) { return s.inputs[0]->dtype == DataType::kFloat32 && !s.config.allow_tf32; }

// Creates and sets the descriptors (NCHW or NHWC) and the initial math type; false when cuDNN
// refuses them.
bool prepare(const KernelSpec& s, const Geometry& g, bool relu, bool nhwc, Descriptors& d) {
  d.create();
  if (!describe(g, dnn_type(s.inputs[0]->dtype), relu, nhwc, d)) return false;
  check_cudnn(cudnnSetConvolutionMathType(d.conv, fma_only(s) ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH),
              "setting the math type");
  return true;
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

size_t bytes_of(const ir::TensorDesc* t) { return static_cast<size_t>(t->dims.volume()) * element_size(t->dtype); }

void report(const KernelSpec& s, const std::string& what) {
  tensorforge::log(Severity::kInfo, "layer '" + s.layer.name + "' (" + to_string(s.layer.kind) + "): " + what);
}

class ConvKernel : public Kernel {
 public:
  static std::unique_ptr<Kernel> create(const KernelSpec& s) {
    if (s.outputs[0]->dims.volume() == 0) return std::unique_ptr<ConvKernel>(new ConvKernel());
    if (s.inputs[0]->dims.volume() == 0) return refuse(s, "the input is empty but the output is not");
    Geometry g;
    if (!make_geometry(s, g)) return refuse(s, "an extent, stride or window value exceeds cuDNN's int range");
    const size_t cap = conv_workspace_cap(s);
    const bool heuristic = s.config.optimization_level == 0;
    Scratch scratch(s);
    std::string why;
    std::unique_ptr<ConvKernel> nchw = plan(s, g, false, scratch, !heuristic, cap, why), nhwc;
    if (g.groups == 1) {
      std::string ignored;
      nhwc = plan(s, g, true, scratch, !heuristic, cap, ignored);
    }
    if (!nchw && !nhwc) return refuse(s, why);
    std::string timing;
    bool take_nhwc = !nchw;
    if (nchw && nhwc && heuristic) {
      take_nhwc = s.inputs[0]->dtype != DataType::kFloat32;
    } else if (nchw && nhwc) {
      const float a = nchw->time(scratch), b = nhwc->time(scratch);
      take_nhwc = b < a;
      timing = " (timed: NCHW " + std::to_string(a) + " ms, NHWC " + std::to_string(b) + " ms)";
    }
    std::unique_ptr<ConvKernel> k = std::move(take_nhwc ? nhwc : nchw);
    report(s, std::string("cuDNN ") + (k->nhwc_ ? "NHWC" : "NCHW") + ", algorithm " +
                  std::to_string(static_cast<int>(k->choice_.algo)) + ", " + std::to_string(k->workspace_size()) +
                  " bytes of workspace, bias/relu " +
                  (k->nhwc_ ? "in the output transpose" : k->fused_ ? "fused by cuDNN" : "in a pass of ours") + timing);
    return k;
  }

  size_t workspace_size() const override { return staging_ + choice_.workspace; }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (!empty_) enqueue(in[0].data, in[1].data, has_bias_ ? in[2].data : nullptr, out[0].data, workspace);
  }

 private:
  ConvKernel() = default;

  // A kernel in one layout with its algorithm (timed on `scratch`, or cuDNN's heuristic); null (and
  // `why`) when cuDNN takes none.
  static std::unique_ptr<ConvKernel> plan(const KernelSpec& s, const Geometry& g, bool nhwc, Scratch& scratch,
                                          bool timed, size_t cap, std::string& why) {
    auto k = std::unique_ptr<ConvKernel>(new ConvKernel());
    k->empty_ = false;
    k->dtype_ = s.inputs[0]->dtype;
    k->x_dims_ = s.inputs[0]->dims;
    k->w_dims_ = s.inputs[1]->dims;
    k->y_dims_ = s.outputs[0]->dims;
    k->has_bias_ = s.inputs.size() > 2 && s.inputs[2] != nullptr;
    k->act_ = conv_activation(s);
    const bool relu = k->act_ == ConvActivation::kRelu;  // cuDNN's fused call applies relu or nothing
    k->nhwc_ = nhwc;
    why = "cuDNN refuses the shapes or window";
    if (!prepare(s, g, relu, nhwc, *k->d_) || !forward_shape_matches(*k->d_, k->d_->x, g.y, g.rank))
      return nullptr;
    if (nhwc) {
      k->x_stage_ = align256(bytes_of(s.inputs[0]));
      k->w_stage_ = align256(bytes_of(s.inputs[1]));
      k->staging_ = k->x_stage_ + k->w_stage_ + align256(bytes_of(s.outputs[0]));
    }
    why = "no cuDNN algorithm runs it within the workspace limit";
    if (k->staging_ >= cap ||
        !choose<Forward>(*k->d_, timed ? &scratch : nullptr, fma_only(s), cap - k->staging_, k->choice_))
      return nullptr;
    // cuDNN fuses an identity activation only with IMPLICIT_PRECOMP_GEMM; try the call once.
    if (!nhwc && k->has_bias_ && (relu || (k->act_ == ConvActivation::kNone &&
                                           k->choice_.algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM))) {
      device::Buffer ws(DeviceKind::kCUDA, k->workspace_size());
      k->fused_ = k->run_fused(scratch.x.data(), scratch.w.data(), scratch.bias.data(), scratch.y.data(),
                               ws.data()) == CUDNN_STATUS_SUCCESS;
      check(cudaStreamSynchronize(stream()), "trying the fused convolution");
    }
    return k;
  }

  float time(Scratch& sc) const {
    device::Buffer ws(DeviceKind::kCUDA, workspace_size());
    return time_ms([&] { enqueue(sc.x.data(), sc.w.data(), sc.bias.data(), sc.y.data(), ws.data()); });
  }

  // The whole layer on the current stream; bias may be null.
  void enqueue(const void* x, const void* w, const void* bias, void* y, void* workspace) const {
    const float one = 1.0f, zero = 0.0f;
    if (fused_) {
      check_cudnn(run_fused(x, w, bias, y, workspace), "running a convolution with bias and activation");
      return;
    }
    if (!nhwc_) {
      check_cudnn(cudnnConvolutionForward(cudnn_handle(), &one, d_->x, x, d_->w, w, d_->conv, choice_.algo, workspace,
                                          choice_.workspace, &zero, d_->y, y),
                  "running a convolution");
      if (bias || act_ != ConvActivation::kNone) conv_bias_act(dtype_, y, bias, y_dims_, act_);
      return;
    }
    char* base = static_cast<char*>(workspace);
    void *xt = base, *wt = base + x_stage_, *yt = base + x_stage_ + w_stage_;
    const int64_t n = x_dims_[0], cin = x_dims_[1], cout = y_dims_[1];
    transpose(dtype_, x, xt, n, cin, x_dims_.volume() / (n * cin));
    transpose(dtype_, w, wt, cout, w_dims_[1], w_dims_.volume() / (cout * w_dims_[1]));
    check_cudnn(cudnnConvolutionForward(cudnn_handle(), &one, d_->x, xt, d_->w, wt, d_->conv, choice_.algo,
                                        base + staging_, choice_.workspace, &zero, d_->y, yt),
                "running a convolution (NHWC)");
    transpose(dtype_, yt, y, n, y_dims_.volume() / (n * cout), cout, bias, act_);
  }

  cudnnStatus_t run_fused(const void* x, const void* w, const void* bias, void* y, void* workspace) const {
    const float one = 1.0f, zero = 0.0f;
    return cudnnConvolutionBiasActivationForward(cudnn_handle(), &one, d_->x, x, d_->w, w, d_->conv, choice_.algo,
                                                 workspace, choice_.workspace, &zero, d_->y, y, d_->bias, bias,
                                                 d_->act, d_->y, y);
  }

  std::unique_ptr<Descriptors> d_ = std::make_unique<Descriptors>();
  Choice<Forward> choice_;
  DataType dtype_ = DataType::kFloat32;
  Dims x_dims_, w_dims_, y_dims_;
  size_t x_stage_ = 0, w_stage_ = 0, staging_ = 0;  // NHWC copies of x, w and y at the workspace's front
  bool has_bias_ = false, fused_ = false, nhwc_ = false, empty_ = true;
  ConvActivation act_ = ConvActivation::kNone;
};

class DeconvKernel : public Kernel {
 public:
  static std::unique_ptr<Kernel> create(const KernelSpec& s) {
    auto k = std::unique_ptr<DeconvKernel>(new DeconvKernel());
    k->dtype_ = s.inputs[0]->dtype;
    k->out_dims_ = s.outputs[0]->dims;
    k->has_bias_ = s.inputs.size() > 2 && s.inputs[2] != nullptr;
    if (s.outputs[0]->dims.volume() == 0) {
      k->empty_ = true;
      return k;
    }
    if (s.inputs[0]->dims.volume() == 0) return refuse(s, "the input is empty but the output is not");
    Geometry g;
    if (!make_geometry(s, g)) return refuse(s, "an extent, stride or window value exceeds cuDNN's int range");
    if (!prepare(s, g, false, false, *k->d_)) return refuse(s, "cuDNN refuses the shapes or window");
    // The output must be an input the forward convolution maps onto x exactly; output_padding of at
    // least the stride (allowed by PyTorch when the dilation is larger) has no such output.
    if (!forward_shape_matches(*k->d_, k->d_->y, g.x, g.rank))
      return refuse(s, "output_padding must be smaller than the stride for cuDNN");
    std::unique_ptr<Scratch> scratch;
    if (s.config.optimization_level > 0) scratch = std::make_unique<Scratch>(s);
    if (!choose<BackwardData>(*k->d_, scratch.get(), fma_only(s), conv_workspace_cap(s), k->choice_))
      return refuse(s, "no cuDNN algorithm runs it within the workspace limit");
    report(s, "cuDNN NCHW, algorithm " + std::to_string(static_cast<int>(k->choice_.algo)) + ", " +
                  std::to_string(k->choice_.workspace) + " bytes of workspace");
    return k;
  }

  size_t workspace_size() const override { return choice_.workspace; }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (empty_) return;
    const float one = 1.0f, zero = 0.0f;
    check_cudnn(cudnnConvolutionBackwardData(cudnn_handle(), &one, d_->w, in[1].data, d_->x, in[0].data, d_->conv,
                                             choice_.algo, workspace, choice_.workspace, &zero, d_->y, out[0].data),
                "running a transposed convolution");
    if (has_bias_) conv_bias_act(dtype_, out[0].data, in[2].data, out_dims_, ConvActivation::kNone);
  }

 private:
  DeconvKernel() = default;
  std::unique_ptr<Descriptors> d_ = std::make_unique<Descriptors>();
  Choice<BackwardData> choice_;
  DataType dtype_ = DataType::kFloat32;
  Dims out_dims_;
  bool has_bias_ = false, empty_ = false;
};

bool is_float(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16; }

}  // namespace

void conv_bias_act(DataType t, void* y, const void* bias, const Dims& dims, ConvActivation act, const void* residual) {
  const int64_t n = dims.volume(), channels = dims[1], inner = n / (dims[0] * channels);
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      constexpr int N = vec_width<T>();
      auto a16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };  // null is aligned
      const bool aligned = n < (int64_t(1) << 31) && a16(y) && a16(residual);
      const T* b = static_cast<const T*>(bias);
      const T* r = static_cast<const T*>(residual);
      if (inner == 1 && channels % N == 0 && aligned && a16(bias))
        bias_relu_last_vec_kernel<<<blocks_for(n / N), kThreads, 0, stream()>>>(
            static_cast<T*>(y), b, r, static_cast<uint32_t>(n / N), static_cast<uint32_t>(channels / N), act);
      else if (inner % N == 0 && aligned)
        bias_relu_vec_kernel<<<blocks_for(n / N), kThreads, 0, stream()>>>(
            static_cast<T*>(y), b, r, static_cast<uint32_t>(n / N), static_cast<uint32_t>(inner / N),
            static_cast<uint32_t>(channels), act);
      else
        bias_relu_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<T*>(y), b, r, n, inner, channels, act);
      check_launch("launching the convolution bias/activation pass");
    }
  });
}

size_t conv_workspace_cap(const KernelSpec& s) {
  if (s.config.workspace_size) return s.config.workspace_size;
  size_t free_bytes = 0, total = 0;
  check(cudaMemGetInfo(&free_bytes, &total), "reading the free device memory");
  return free_bytes / 4;
}

ConvDifference conv_difference(DataType t, const void* a, const void* b, int64_t n) {
  ConvDifference d;
  if (n <= 0) return d;
  unsigned* result = nullptr;
  check(cudaMallocAsync(reinterpret_cast<void**>(&result), 2 * sizeof(unsigned), stream()), "allocating a comparison");
  check(cudaMemsetAsync(result, 0, 2 * sizeof(unsigned), stream()), "clearing a comparison");
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_v<T>) {
      difference_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<const T*>(a), static_cast<const T*>(b), n,
                                                                  result);
      check_launch("comparing convolution outputs");
    }
  });
  unsigned host[2] = {0, 0};
  check(cudaMemcpyAsync(host, result, sizeof(host), cudaMemcpyDeviceToHost, stream()), "reading a comparison");
  check(cudaFreeAsync(result, stream()), "freeing a comparison");
  check(cudaStreamSynchronize(stream()), "comparing convolution outputs");
  std::memcpy(&d.max_diff, &host[0], sizeof(float));
  std::memcpy(&d.max_abs, &host[1], sizeof(float));
  return d;
}

void conv_transpose(DataType t, const void* in, void* out, int64_t batch, int64_t rows, int64_t cols) {
  transpose(t, in, out, batch, rows, cols);
}

std::unique_ptr<Kernel> create_convolution(const KernelSpec& s) {
  // Channels-last layers run through the graph API only (conv_graph.cc), which always has a plan
  // for the non-empty layers the channels_last pass gives that layout.
  if (ir::is_channels_last(s.layer)) return nullptr;
  if (s.inputs.size() > 3 && s.inputs[3]) return nullptr;  // a residual input: the graph API's only
  return is_float(s.inputs[0]->dtype) ? ConvKernel::create(s) : nullptr;
}

std::unique_ptr<Kernel> create_deconvolution(const KernelSpec& s) {
  return is_float(s.inputs[0]->dtype) ? DeconvKernel::create(s) : nullptr;
}

}  // namespace tensorforge::cuda
