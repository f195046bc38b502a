// CUDA convolution through cuDNN's graph (backend) API: `cuda.conv.cudnn_graph`, preferred over the
// legacy-API kernel of conv.cu, which takes the layers this one refuses (create() returns nullptr).
//
// The layer becomes one operation graph on the engine's NCHW tensors (described with NCHW strides;
// cuDNN's engines pick their own internal layout): convolution (float32 compute) into a virtual
// float32 tensor, then pointwise ADD of the bias [1, C, 1, ...], ADD of the residual (the optional
// fourth input, of y's shape) and RELU_FWD (NaN propagated) or SWISH_FWD (silu), the last writing y; 1-D layers run as 2-D with H = 1; groups (depthwise included)
// are implied by the weight's [Cout, Cin/groups, ...] shape. Everything is decided at creation:
// cuDNN's heuristic (mode A, then the fallback list) ranks engine configurations, the first few
// whose numerical notes the dtype allows and whose execution plan finalizes within the workspace
// cap become candidates; besides the fused graph, the plain convolution followed by our
// bias/activation pass (the only kind for hardswish, which the graph does not take), and (ungrouped layers) the fused graph in NHWC with transposes through the workspace, are
// candidates too, and for channels-last layers our direct depthwise kernel (conv_depthwise.cu), our
// small-channel kernel for stems of 1-4 input channels (conv_small_channels.cu), cuDNN's plans of a
// stride-2 stem's space-to-depth form (conv_space_to_depth.cu: input and weight regrouped into 2x2
// blocks through the workspace, a stride-1 convolution of 4C channels; not kept on disk), our warp-MMA
// kernel of that form for 3-4 channel stems (conv_mma.cu; likewise not kept on disk) and a 1x1
// layer's matrix-multiply form (conv_gemm.cc). The choice is kept on disk across processes
// (conv_plan_store.h). A channels-last layer (layout "nhwc": x and y [N, *spatial, C], the weight
// [Cout, *kernel, Cin / groups]) is described to cuDNN with NHWC strides and runs in place; its
// fallbacks are the unfused NHWC graph and the NCHW graph with transposes through the workspace. optimization_level 0 keeps the first plan (the fused graph's first); levels 1-2 time 3
// fused, 2 unfused (5 for grouped layers) and 2 NHWC candidates, levels 3 and up 6, 2 (5) and 3 (of
// which at most 1, 2 at level 4, are engines that cuDNN compiles at finalization), each on random (non-zero)
// scratch data, 3 rounds of 5 calls, and keep the fastest median among the plans whose output agrees
// with the heuristic's first plan (or with the majority, when most disagree with that one). A
// dynamic engine's plans off its opt sizes time nothing: each layer takes the kind of plan (and the
// cuDNN engine) its opt plan chose, where it applies (kernels/tactic_hints.h).
// Tensors are declared 16-byte aligned; a second plan declared only element-aligned serves calls
// whose pointers are not (NCHW plans only: NHWC plans read and write staging copies).
// run() builds a variant pack (host only) and calls cudnnBackendExecute on cudnn_handle(), bound to
// the current stream.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/build_clock.h"
#include "kernels/common/spatial_geometry.h"
#include "kernels/cuda/build_timing.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/choice_store.h"
#include "kernels/cuda/conv_plan_store.h"
#include "kernels/cuda/libraries.h"
#include "kernels/cuda/process_cache.h"
#include "ir/layout.h"
#include "kernels/layer_attrs.h"
#include "runtime/device.h"
#include "tensorforge/logger.h"

// Recent cuDNN 9 headers mark the handle attributes of operation graphs and execution plans, and the
// NaN propagation of pointwise operations, deprecated; the 9.x libraries still take (and older 9.x
// releases require) them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace tensorforge::cuda {

namespace {

cudaStream_t stream() { return static_cast<cudaStream_t>(device::current_stream()); }

// One backend descriptor, destroyed with the object. set() keeps the first failing status and
// finalize() reports it: a configuration cuDNN does not take shows as finalize() == false.
class Desc {
 public:
  Desc() = default;
  explicit Desc(cudnnBackendDescriptorType_t type) {
    check_cudnn(cudnnBackendCreateDescriptor(type, &d_), "creating a cuDNN backend descriptor");
  }
  Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)), status_(o.status_) {}
  Desc& operator=(Desc&& o) noexcept {
    std::swap(d_, o.d_);
    std::swap(status_, o.status_);
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  ~Desc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }

  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnStatus_t status() const { return status_; }

  template <class T>
  Desc& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T* values, int64_t count = 1) {
    if (status_ == CUDNN_STATUS_SUCCESS) status_ = cudnnBackendSetAttribute(d_, name, type, count, values);
    return *this;
  }
  Desc& set(cudnnBackendAttributeName_t name, const Desc& d) {
    cudnnBackendDescriptor_t raw = d.get();
    return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, &raw);
  }
  bool finalize() {
    if (status_ == CUDNN_STATUS_SUCCESS) status_ = cudnnBackendFinalize(d_);
    return status_ == CUDNN_STATUS_SUCCESS;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
  cudnnStatus_t status_ = CUDNN_STATUS_SUCCESS;
};

// The tensors' unique ids in the graph and the variant pack.
enum Uid : int64_t { kX = 1, kW, kBias, kY, kConvOut, kResidual, kStep = 10 /* kStep + i: epilogue step i's output */ };

// A layer in cuDNN's terms: 4-D for 1-D and 2-D layers, 5-D for 3-D ones (N, C, spatial).
struct Shape {
  int rank = 4;
  int64_t x[5] = {}, w[5] = {}, y[5] = {}, pad[3] = {}, stride[3] = {}, dil[3] = {};
  int64_t groups = 1;
};

// The layer's geometry from the channels-first views of x, w and y.
Shape shape_of(const KernelSpec& s, const Dims& x, const Dims& w, const Dims& y) {
  Spatial3 sp;
  spatial_extents(x, sp.in);
  spatial_extents(y, sp.out);
  spatial_extents(w, sp.k);
  spatial_attr(s.layer, "stride", sp.stride);
  spatial_attr(s.layer, "padding", sp.pad);
  spatial_attr(s.layer, "dilation", sp.dil);
  Shape g;
  g.rank = x.rank() == 5 ? 5 : 4;
  const int first = 5 - g.rank;  // the Spatial3 slots cuDNN sees (1-D layers keep H = 1)
  auto fill = [&](int64_t* dst, const Dims& d, const int64_t* spatial) {
    dst[0] = d[0];
    dst[1] = d[1];
    for (int k = 0; k < g.rank - 2; ++k) dst[2 + k] = spatial[first + k];
  };
  fill(g.x, x, sp.in);
  fill(g.w, w, sp.k);
  fill(g.y, y, sp.out);
  for (int k = 0; k < g.rank - 2; ++k) {
    g.pad[k] = sp.pad[first + k];
    g.stride[k] = sp.stride[first + k];
    g.dil[k] = sp.dil[first + k];
  }
  g.groups = ir::attr_int(s.layer, "groups");
  return g;
}

// The ways a layer can run through a graph.
struct Variant {
  bool fused = true;  // bias, residual and relu/silu in the graph (else the graph convolves and our pass follows)
  bool nhwc = false;  // the graph's tensors are NHWC (copies in the workspace when the layer's are NCHW)
  int64_t align = 16;  // the byte alignment declared for every tensor
};

// An operation graph with every descriptor it refers to.
struct Graph {
  std::vector<Desc> parts;
  Desc graph;
};

// Whether the graph computes activation `act` itself (fused variants): relu and silu (cuDNN's swish);
// hardswish runs in our pass after a plain convolution.
bool graph_takes(ConvActivation act) {
  return act == ConvActivation::kNone || act == ConvActivation::kRelu || act == ConvActivation::kSilu;
}

// The operation graph of the layer in `v`; null when cuDNN does not take it (`why` says how).
std::shared_ptr<Graph> build_graph(const Shape& g, cudnnDataType_t type, bool bias, bool residual, ConvActivation act,
                                   const Variant& v, std::string& why) {
  auto out = std::make_shared<Graph>();
  auto& parts = out->parts;
  parts.reserve(16);
  if (v.fused && !graph_takes(act)) {
    why = "the graph takes no such activation";
    return nullptr;
  }
  const bool epilogue = v.fused && (bias || residual || act != ConvActivation::kNone);
  auto tensor = [&](int64_t uid, cudnnDataType_t t, const int64_t* dims, bool is_virtual) -> Desc* {
    int64_t strides[5];
    conv_packed_strides(dims, g.rank, v.nhwc, strides);
    Desc d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    d.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &uid)
        .set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &t)
        .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims, g.rank)
        .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides, g.rank)
        .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &v.align)
        .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, &is_virtual);
    if (!d.finalize()) {
      why = std::string("cuDNN refuses a tensor: ") + cudnnGetErrorString(d.status());
      return nullptr;
    }
    parts.push_back(std::move(d));
    return &parts.back();
  };
  const int64_t bias_dims[5] = {1, g.y[1], 1, 1, 1};
  Desc *x = tensor(kX, type, g.x, false), *w = tensor(kW, type, g.w, false),
       *y = tensor(kY, type, g.y, false), *conv_out = y, *bias_t = nullptr, *residual_t = nullptr;
  if (!x || !w || !y) return nullptr;
  if (epilogue && !(conv_out = tensor(kConvOut, CUDNN_DATA_FLOAT, g.y, true))) return nullptr;
  if (epilogue && bias && !(bias_t = tensor(kBias, type, bias_dims, false))) return nullptr;
  if (epilogue && residual && !(residual_t = tensor(kResidual, type, g.y, false))) return nullptr;

  auto finish = [&](Desc d, const char* what) -> Desc* {
    if (!d.finalize()) {
      why = std::string("cuDNN refuses the ") + what + ": " + cudnnGetErrorString(d.status());
      return nullptr;
    }
    parts.push_back(std::move(d));
    return &parts.back();
  };
  const int64_t spatial = g.rank - 2;
  const cudnnDataType_t fp32 = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  Desc conv_d(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  conv_d.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &fp32)
      .set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, &mode)
      .set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, &spatial)
      .set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, g.dil, spatial)
      .set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, g.stride, spatial)
      .set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, g.pad, spatial)
      .set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, g.pad, spatial);
  Desc* conv = finish(std::move(conv_d), "convolution descriptor");
  if (!conv) return nullptr;

  std::vector<cudnnBackendDescriptor_t> ops;
  const float one = 1.0f, zero = 0.0f;
  Desc op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, *x)
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, *w)
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, *conv_out)
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, *conv)
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, &one)
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, &zero);
  Desc* conv_op = finish(std::move(op), "convolution operation");
  if (!conv_op) return nullptr;
  ops.push_back(conv_op->get());

  // out = mode(in[, b]) as a pointwise operation in float32.
  auto pointwise = [&](cudnnPointwiseMode_t pw_mode, Desc* in, Desc* b, Desc* result) -> bool {
    Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, &pw_mode)
        .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, &fp32);
    if (pw_mode == CUDNN_POINTWISE_RELU_FWD) {
      const cudnnNanPropagation_t nan = CUDNN_PROPAGATE_NAN;
      pw.set(CUDNN_ATTR_POINTWISE_NAN_PROPAGATION, CUDNN_TYPE_NAN_PROPOGATION, &nan);
    }
    Desc* pw_desc = finish(std::move(pw), "pointwise descriptor");
    if (!pw_desc) return false;
    Desc pw_op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    pw_op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, *pw_desc)
        .set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, *in)
        .set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, *result);
    if (b) pw_op.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
    Desc* done = finish(std::move(pw_op), "pointwise operation");
    if (done) ops.push_back(done->get());
    return done != nullptr;
  };
  // The epilogue: + bias, + residual, relu or silu (swish with its default beta, 1), each step in
  // float32 into a virtual tensor; the last writes y.
  std::vector<std::pair<cudnnPointwiseMode_t, Desc*>> steps;
  if (epilogue && bias) steps.push_back({CUDNN_POINTWISE_ADD, bias_t});
  if (epilogue && residual) steps.push_back({CUDNN_POINTWISE_ADD, residual_t});
  if (epilogue && act == ConvActivation::kRelu) steps.push_back({CUDNN_POINTWISE_RELU_FWD, nullptr});
  if (epilogue && act == ConvActivation::kSilu) steps.push_back({CUDNN_POINTWISE_SWISH_FWD, nullptr});
  Desc* value = conv_out;
  for (size_t i = 0; i < steps.size(); ++i) {
    Desc* result = i + 1 == steps.size() ? y : tensor(kStep + static_cast<int64_t>(i), CUDNN_DATA_FLOAT, g.y, true);
    if (!result || !pointwise(steps[i].first, value, steps[i].second, result)) return nullptr;
    value = result;
  }

  cudnnHandle_t handle = cudnn_handle();
  out->graph = Desc(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  out->graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle)
      .set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, ops.data(), static_cast<int64_t>(ops.size()));
  if (!out->graph.finalize()) {
    why = std::string("cuDNN refuses the operation graph: ") + cudnnGetErrorString(out->graph.status());
    return nullptr;
  }
  return out;
}

// An execution plan of one engine configuration, with what run() needs around it.
struct Plan {
  std::shared_ptr<Graph> graph;
  Desc plan;
  Variant variant;
  int64_t engine = -1;  // cuDNN's global engine index
  size_t workspace = 0;  // cuDNN's
  float ms = 0;  // timed at creation (optimization_level > 0)
  bool staged = false;  // the graph's layout is not the layer's: transposes through the workspace
  bool direct = false;  // not cuDNN's: our depthwise kernel (conv_depthwise.cu), the whole layer
  bool small = false;   // with direct: our small-channel kernel (conv_small_channels.cu) instead
  bool s2d = false;     // cuDNN's plan of the layer's space-to-depth form (conv_space_to_depth.cu)
  bool mma = false;     // with s2d: our MMA kernel of that form (conv_mma.cu) instead of cuDNN's plan
  std::shared_ptr<const ConvGemm> gemm;  // not cuDNN's: a 1x1 layer as cuBLASLt matmul (conv_gemm.cc)
  std::string name() const {
    if (direct && small) return "NHWC our small-channel kernel";
    if (s2d && mma) return "NHWC space-to-depth, our MMA kernel";
    if (s2d) return "NHWC space-to-depth engine " + std::to_string(engine) + " fused";
    if (direct)
      return "NHWC our depthwise kernel" + (variant.align < 16 ? " (" + std::to_string(variant.align) + "-byte packs)" : std::string());
    if (gemm) return "NHWC 1x1 as cuBLASLt matmul";
    return std::string(variant.nhwc ? "NHWC" : "NCHW") + (staged ? " (staged)" : "") + " engine " +
           std::to_string(engine) + (variant.fused ? " fused" : " + our bias/relu pass");
  }
};

// Whether an engine configuration's numerical notes suit the layer: never down-converted inputs or
// reduced-precision accumulation; float32 without TF32 also never tensor cores. Sets `engine` to its
// global index and `compiles` to whether finalizing it compiles a kernel (NVRTC, inside cuDNN).
bool suitable(const Desc& cfg, bool fma_only, int64_t& engine, bool& compiles) {
  Desc e(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = e.get();
  int64_t n = 0;
  if (cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw) !=
      CUDNN_STATUS_SUCCESS)
    return false;
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  if (cudnnBackendGetAttribute(raw, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, notes) != CUDNN_STATUS_SUCCESS)
    return false;
  for (int64_t i = 0; i < n; ++i) {
    if (notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS || notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION)
      return false;
    if (fma_only && notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE) return false;
  }
  cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  compiles = false;
  if (cudnnBackendGetAttribute(raw, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n, behavior) == CUDNN_STATUS_SUCCESS)
    for (int64_t i = 0; i < n; ++i) compiles = compiles || behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
  if (cudnnBackendGetAttribute(raw, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &engine) !=
      CUDNN_STATUS_SUCCESS)
    engine = -1;
  return true;
}

// Appends up to `want` finalized plans of `graph` to `out`, in cuDNN's heuristic order (mode A,
// then the fallback list when mode A gives none), each within `cap` bytes of workspace. Finalizing
// a runtime-compiled engine compiles its kernel (a large part of a convolution network's build):
// such configurations are skipped once `compiles_left` is 0, and each one tried counts against it.
// With `only_engine` >= 0, configurations of other cuDNN engines (global index) are skipped.
void add_plans(const std::shared_ptr<Graph>& graph, const Variant& v, bool fma_only, size_t cap, int want,
               std::vector<Plan>& out, int& compiles_left, int64_t only_engine = -1) {
  TimedPart part("cuDNN convolution plans");  // the heuristic's query and the plans' finalization
  int added = 0;
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    if (added > 0) break;
    Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph->graph).set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode);
    if (!heur.finalize()) continue;
    int64_t count = 0;
    if (cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                 nullptr) != CUDNN_STATUS_SUCCESS)
      continue;
    count = std::min<int64_t>(count, 32);
    std::vector<Desc> cfgs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < count; ++i) {
      cfgs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
      raw.push_back(cfgs.back().get());
    }
    if (count == 0 || cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                               count, &count, raw.data()) != CUDNN_STATUS_SUCCESS)
      continue;
    for (int64_t i = 0; i < count && added < want; ++i) {
      Plan p;
      bool compiles = false;
      if (!suitable(cfgs[i], fma_only, p.engine, compiles) || (only_engine >= 0 && p.engine != only_engine) ||
          (compiles && compiles_left <= 0))
        continue;
      if (compiles) --compiles_left;
      cudnnHandle_t handle = cudnn_handle();
      p.plan = Desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      p.plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle)
          .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfgs[i]);
      bool finalized;
      if (compiles) {
        TimedPart compiling("cuDNN runtime compiles");  // the part of the plans' time that compiles
        finalized = p.plan.finalize();
      } else {
        finalized = p.plan.finalize();
      }
      if (!finalized) continue;
      int64_t bytes = 0, n = 0;
      if (cudnnBackendGetAttribute(p.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                   &bytes) != CUDNN_STATUS_SUCCESS ||
          bytes < 0 || static_cast<size_t>(bytes) > cap)
        continue;
      p.graph = graph;
      p.variant = v;
      p.workspace = static_cast<size_t>(bytes);
      out.push_back(std::move(p));
      ++added;
    }
  }
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// cuDNN's serialized form of a finalized plan ("" when cuDNN cannot serialize it).
std::string plan_json(const Desc& plan) {
  int64_t n = 0;
  if (cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, 0, &n,
                               nullptr) != CUDNN_STATUS_SUCCESS ||
      n <= 0)
    return "";
  std::string json(static_cast<size_t>(n), '\0');
  if (cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, n, &n,
                               json.data()) != CUDNN_STATUS_SUCCESS)
    return "";
  return json;
}

// The global index of the cuDNN engine a finalized plan runs; -1 when cuDNN does not say.
int64_t plan_engine(const Desc& plan) {
  Desc cfg(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR), e(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw_cfg = cfg.get(), raw_e = e.get();
  int64_t n = 0, engine = -1;
  if (cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                               &n, &raw_cfg) != CUDNN_STATUS_SUCCESS ||
      cudnnBackendGetAttribute(raw_cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw_e) !=
          CUDNN_STATUS_SUCCESS ||
      cudnnBackendGetAttribute(raw_e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &engine) !=
          CUDNN_STATUS_SUCCESS)
    return -1;
  return engine;
}

// A stored plan back as a Plan for the layer `s` (cuDNN's from its JSON, finalized for this handle);
// false when cuDNN refuses it or it needs more than `cap` bytes of workspace.
bool restore(const KernelSpec& s, const StoredPlan& sp, size_t cap, Plan& out) {
  out = Plan{};
  out.direct = sp.direct;
  out.staged = sp.staged;
  out.variant = Variant{sp.fused, sp.nhwc, sp.align};
  if (sp.direct) return true;
  if (sp.gemm) {
    out.gemm = create_conv_gemm(s);
    if (out.gemm) out.workspace = conv_gemm_workspace(*out.gemm);
    return out.gemm && out.workspace < cap;
  }
  TimedPart part("cuDNN convolution plans");
  cudnnHandle_t handle = cudnn_handle();
  out.plan = Desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  out.plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle)
      .set(CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, sp.json.data(),
           static_cast<int64_t>(sp.json.size()));
  if (!out.plan.finalize()) return false;
  int64_t bytes = 0, n = 0;
  if (cudnnBackendGetAttribute(out.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                               &bytes) != CUDNN_STATUS_SUCCESS ||
      bytes < 0 || static_cast<size_t>(bytes) > cap)
    return false;
  out.workspace = static_cast<size_t>(bytes);
  out.engine = plan_engine(out.plan);
  return true;
}

// A plan in its stored form; false when cuDNN cannot serialize it.
bool to_stored(const Plan& p, StoredPlan& out) {
  if (p.s2d) return false;  // not kept on disk: the layer is timed again in the next process
  out = StoredPlan{p.direct, p.gemm != nullptr, p.variant.fused, p.variant.nhwc, p.staged, p.variant.align, ""};
  if (p.direct || p.gemm) return true;
  out.json = plan_json(p.plan);
  return !out.json.empty();
}

// A plan's kind as a hint for a dynamic engine's other plans (kernels/tactic_hints.h): "direct gemm
// fused nhwc staged align engine", integers; cuDNN's serialized plan is not kept (it names the sizes).
constexpr const char* kHintKind = "cuDNN convolution graph";

std::string hint_of(const Plan& p) {
  return std::to_string(p.direct) + " " + std::to_string(p.gemm != nullptr) + " " + std::to_string(p.variant.fused) +
         " " + std::to_string(p.variant.nhwc) + " " + std::to_string(p.staged) + " " + std::to_string(p.variant.align) +
         " " + std::to_string(p.s2d ? int64_t(-1) : p.engine);  // a space-to-depth plan's engine is another graph's
}

struct ConvHint {
  int direct = 0, gemm = 0, fused = 0, nhwc = 0, staged = 0;
  long long align = 16, engine = -1;
};

bool parse_hint(const std::string& text, ConvHint& h) {
  std::istringstream in(text);
  in >> h.direct >> h.gemm >> h.fused >> h.nhwc >> h.staged >> h.align >> h.engine;
  auto flag = [](int f) { return f == 0 || f == 1; };
  return !in.fail() && flag(h.direct) && flag(h.gemm) && flag(h.fused) && flag(h.nhwc) && flag(h.staged) &&
         h.align > 0 && h.align <= 16;
}

std::string plan_key(const KernelSpec& s);

// The key under which a layer's kernel and prepared plans are shared in the process: the plan key,
// and for a layer following a hint the hint too (its untimed choice must not serve a timed build).
std::string shared_key(const KernelSpec& s) {
  std::string hint;
  return plan_key(s) + (followed_hint(s, kHintKind, hint) ? "|follows " + hint : std::string());
}

// How far two correct plans' outputs on the timing data may be apart, relative to the largest
// output (at least 1): accumulation order and rounding stay far below it, a wrong result far above.
float conv_tolerance(DataType t) { return t == DataType::kBFloat16 ? 0.05f : 0.02f; }

size_t bytes_of(const ir::TensorDesc* t) { return static_cast<size_t>(t->dims.volume()) * element_size(t->dtype); }

cudnnDataType_t dnn_type(DataType t) {
  return t == DataType::kFloat16 ? CUDNN_DATA_HALF : t == DataType::kBFloat16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

void note(const KernelSpec& s, const std::string& what) {
  tensorforge::log(Severity::kInfo, "layer '" + s.layer.name + "' (" + to_string(s.layer.kind) + "): " + what);
}

bool misaligned(const void* p, int64_t align) { return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(align) != 0; }

// What create() does before it times anything, which prepare() may do ahead on another thread: the
// plans an earlier process stored for the layer, restored, or else the cuDNN candidates finalized.
struct Prepared {
  bool restored = false;  // main (and loose) come from the plan cache; nothing is timed
  bool hinted = false;    // the one candidate follows a dynamic engine's opt plan; nothing is timed
  Plan main;
  std::unique_ptr<Plan> loose;
  std::vector<Plan> candidates;  // otherwise: cuDNN's plans to time, the reference first
  std::string why;               // why there are none
};

// Prepared work by plan key, left by prepare_convolution_graph() for create() to take.
ProcessCache<std::shared_ptr<Prepared>>& prepared_plans() {
  static ProcessCache<std::shared_ptr<Prepared>> cache(4096);
  return cache;
}

class ConvGraphKernel : public Kernel {
 public:
  // The kernel's geometry and options for layer `s`, no plan yet; null for what the legacy kernel
  // takes (other dtypes, empty tensors).
  static std::unique_ptr<ConvGraphKernel> shell(const KernelSpec& s) {
    const DataType t = s.inputs[0]->dtype;
    if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16) return nullptr;
    if (s.inputs[0]->dims.volume() == 0 || s.outputs[0]->dims.volume() == 0) return nullptr;  // the legacy kernel
    auto k = std::unique_ptr<ConvGraphKernel>(new ConvGraphKernel());
    const bool last = ir::is_channels_last(s.layer);
    k->dtype_ = t;
    k->last_ = last;
    k->x_dims_ = ir::channels_first_view(s.inputs[0]->dims, last);
    k->w_dims_ = ir::channels_first_view(s.inputs[1]->dims, last);
    k->y_dims_ = ir::channels_first_view(s.outputs[0]->dims, last);
    k->has_bias_ = s.inputs.size() > 2 && s.inputs[2] != nullptr;
    k->has_residual_ = s.inputs.size() > 3 && s.inputs[3] != nullptr;
    k->act_ = conv_activation(s);
    k->x_stage_ = align256(bytes_of(s.inputs[0]));
    k->w_stage_ = align256(bytes_of(s.inputs[1]));
    k->y_stage_ = align256(bytes_of(s.outputs[0]));
    k->g_ = shape_of(s, k->x_dims_, k->w_dims_, k->y_dims_);
    const Shape& g = k->g_;
    if (g.rank == 4)
      k->depthwise_ = DepthwiseGeometry{g.x[0], g.x[2], g.x[3], g.x[1], g.y[2], g.y[3], g.w[2], g.w[3],
                                        g.stride[0], g.stride[1], g.pad[0], g.pad[1], g.dil[0], g.dil[1]};
    if (g.rank == 4 && last && g.groups == 1) {
      k->small_geometry_ = SmallConvGeometry{g.x[0], g.x[2], g.x[3], g.x[1], g.y[2], g.y[3], g.y[1], g.w[2], g.w[3],
                                             g.stride[0], g.stride[1], g.pad[0], g.pad[1], g.dil[0], g.dil[1]};
      k->small_ = conv_small_channels_fits(t, k->small_geometry_);
      if (space_to_depth_of(k->small_geometry_, k->s2d_)) {
        const SpaceToDepth& d = k->s2d_;
        k->s2d_x_ = align256(static_cast<size_t>(d.n * d.hb * d.wb * d.cs) * element_size(t));
        k->s2d_w_ = align256(static_cast<size_t>(d.k * d.kbh * d.kbw * d.cs) * element_size(t));
      }
    }
    return k;
  }

  // The stored plans or the candidates for layer `s` (a shell's): the work that needs no device.
  // On a helper thread (`ahead`), null when the stored plan is the matmul form, whose restoring
  // creates a matmul kernel that times its algorithms: create() does that on the builder's thread.
  std::shared_ptr<Prepared> prepare(const KernelSpec& s, bool ahead = false) const {
    auto out = std::make_shared<Prepared>();
    // cuDNN's graph takes relu and silu as pointwise nodes; hardswish runs in our pass after a plain
    // convolution, which then does bias and residual too (no fused variant).
    const bool ours_only = !graph_takes(act_);
    const cudnnDataType_t type = dnn_type(dtype_);
    const bool fma_only = dtype_ == DataType::kFloat32 && !s.config.allow_tf32;
    const size_t cap = conv_workspace_cap(s);
    const bool timed = s.config.optimization_level > 0;
    out->why = "cuDNN's heuristic offers no engine configuration that finalizes";

    // The plans an earlier process chose for this key, when the disk cache has them. The key names
    // this build of the library too: how a layer becomes a cuDNN graph (tensor ids, epilogue order)
    // may change between builds, and a stored plan must describe the graph this code builds.
    if (ahead && stored_main_is_gemm(s)) return nullptr;
    if (restore_stored(s, stored_key(s), cap, timed && direct_fits(), *out)) {
      out->restored = true;
      return out;
    }
    std::string hint;
    ConvHint h;
    if (followed_hint(s, kHintKind, hint) && parse_hint(hint, h)) {
      if (ahead && h.gemm) return nullptr;  // the matmul form is created on the builder's thread
      if (follow(s, h, cap, fma_only, *out)) return out;
    }

    const bool thorough = s.config.optimization_level >= 3;  // more of the heuristic's list is timed
    // Runtime-compiled engines finalized for the timing, over all variants: 1 below level 4, 2 at
    // level 4, every one at 5. Each compiles a kernel, about 1 s of a helper thread on the H200,
    // and they hardly scale past 8 threads: EfficientNet-B0's 3 a layer were 54 s of compiles, 7 s
    // of its build, for no speed over 2 a layer (benchmarks/RESULTS.md, run R).
    const int level = s.config.optimization_level;
    int compiles_left = !timed || level >= 5 ? 1 << 30 : level == 4 ? 2 : 1;
    std::vector<Plan>& candidates = out->candidates;
    auto add = [&](Variant v, int want) {
      const size_t staging = v.nhwc != last_ ? this->staging() : 0;
      if (staging >= cap || (v.fused && ours_only)) return;
      std::string graph_why;
      std::shared_ptr<Graph> graph = build_graph(g_, type, has_bias_, has_residual_, act_, v, graph_why);
      if (!graph) {
        out->why = graph_why;
        return;
      }
      const size_t first = candidates.size();
      add_plans(graph, v, fma_only, cap - staging, want, candidates, compiles_left);
      for (size_t i = first; i < candidates.size(); ++i) candidates[i].staged = v.nhwc != last_;
    };
    // In the layer's own layout first (fused, then unfused), then staged through the other layout.
    add(Variant{true, last_, 16}, !timed ? 1 : thorough ? 6 : 3);
    // Grouped (depthwise) layers time more plain convolutions: cuDNN's fastest depthwise kernels
    // take no fused epilogue, and they win even with our bias/activation pass after them.
    if (epilogue() && (timed || candidates.empty())) add(Variant{false, last_, 16}, !timed ? 1 : g_.groups > 1 ? 5 : 2);
    // Staged plans leave a residual to our pass, which reads it in the layer's layout.
    if ((timed && (g_.groups == 1 || last_)) || candidates.empty())
      add(Variant{!has_residual_, !last_, 16}, thorough ? 3 : 2);
    return out;
  }

  static std::unique_ptr<ConvGraphKernel> create(const KernelSpec& s) {
    std::unique_ptr<ConvGraphKernel> k = shell(s);
    if (!k) return nullptr;
    // What prepare_convolution_graph() left for this key (taken: its plans move into this kernel),
    // or the same work done here.
    std::shared_ptr<Prepared> ready = prepared_plans().take(shared_key(s)).value_or(nullptr);
    if (!ready) ready = k->prepare(s);
    Prepared& pre = *ready;
    if (pre.restored) {
      k->main_ = std::move(pre.main);
      k->loose_ = std::move(pre.loose);
      k->workspace_ = std::max(k->needs(k->main_), k->loose_ ? k->needs(*k->loose_) : 0);
      k->choice_ = k->main_.name() + " (from the plan cache)";
      note(s, "cuDNN graph " + k->main_.name() + " from the plan cache, " + std::to_string(k->workspace_) +
                  " bytes of workspace");
      return k;
    }
    std::vector<Plan> candidates = std::move(pre.candidates);
    if (candidates.empty()) {
      note(s, "cuDNN graph API: " + pre.why + "; the legacy cuDNN kernel takes the layer");
      return nullptr;
    }
    const DataType t = k->dtype_;
    const Shape& g = k->g_;
    const bool last = k->last_;
    const bool ours_only = !graph_takes(k->act_);
    const bool relu = k->act_ == ConvActivation::kRelu;
    const cudnnDataType_t type = dnn_type(t);
    const bool fma_only = t == DataType::kFloat32 && !s.config.allow_tf32;
    const size_t cap = conv_workspace_cap(s);
    const bool timed = s.config.optimization_level > 0 && !pre.hinted;
    const bool epilogue = k->epilogue();
    const int64_t esize = static_cast<int64_t>(element_size(t));
    // A channels-last 2-D depthwise layer also times our direct kernel (never first: cuDNN's first
    // plan is the reference every candidate must agree with).
    // Narrower packs of channels a thread (more threads) are timed too where the layer is small.
    if (timed && k->small_) {
      Plan direct;
      direct.direct = direct.small = true;
      direct.variant = Variant{true, true, 16};
      candidates.push_back(std::move(direct));
    }
    // A stride-2 stem also times cuDNN's plans of its space-to-depth form (never first, as above).
    if (timed && k->s2d_x_ && graph_takes(k->act_) && k->s2d_x_ + k->s2d_w_ < cap) {
      const SpaceToDepth& d = k->s2d_;
      Shape form = g;
      form.x[1] = form.w[1] = d.cs;
      form.x[2] = d.hb, form.x[3] = d.wb, form.w[2] = d.kbh, form.w[3] = d.kbw;
      for (int i = 0; i < 2; ++i) form.pad[i] = 0, form.stride[i] = 1, form.dil[i] = 1;
      std::string ignored;
      const Variant v{true, true, 16};
      if (std::shared_ptr<Graph> graph = build_graph(form, type, k->has_bias_, k->has_residual_, k->act_, v, ignored)) {
        std::vector<Plan> plans;
        int compiles_left = 0;  // cuDNN's precompiled engines only: a compiled one costs ~1 s of build
        add_plans(graph, v, fma_only, cap - k->s2d_x_ - k->s2d_w_, 3, plans, compiles_left);
        for (Plan& p : plans) {
          p.s2d = true;
          candidates.push_back(std::move(p));
        }
      }
    }
    // ... and our MMA kernel of that form (any activation; the layers it takes: conv.h).
    if (timed && k->s2d_x_ && k->s2d_x_ + k->s2d_w_ < cap && conv_s2d_mma_fits(t, k->s2d_)) {
      Plan p;
      p.s2d = p.mma = true;
      p.variant = Variant{true, true, 16};
      candidates.push_back(std::move(p));
    }
    if (timed && k->direct_fits() && !k->small_) {
      const int64_t threads16 = g.x[0] * k->depthwise_.oh * k->depthwise_.ow * g.x[1] * esize / 16;
      const bool tiled = conv_depthwise_tiled(t, k->depthwise_);  // one form whatever the pack width
      for (int bytes : kDepthwisePackBytes) {
        if (bytes < 16 && (tiled || threads16 >= (int64_t(1) << 17) || bytes < esize)) continue;
        Plan direct;
        direct.direct = true;
        direct.variant = Variant{true, true, bytes};
        candidates.push_back(std::move(direct));
      }
    }
    // A channels-last 1x1 layer also times the matrix multiply it is (never first, as above).
    if (timed && last) {
      if (std::shared_ptr<ConvGemm> gemm = create_conv_gemm(s)) {
        Plan p;
        p.gemm = std::move(gemm);
        p.variant = Variant{true, true, 16};
        p.workspace = conv_gemm_workspace(*p.gemm);
        if (p.workspace < cap) candidates.push_back(std::move(p));
      }
    }

    size_t best = 0;
    std::string timing;
    if (timed && candidates.size() > 1) {
      size_t ws_bytes = 0;
      for (const Plan& p : candidates) ws_bytes = std::max(ws_bytes, k->needs(p));
      const int64_t y_count = s.outputs[0]->dims.volume();
      device::Buffer x(DeviceKind::kCUDA, bytes_of(s.inputs[0])), w(DeviceKind::kCUDA, bytes_of(s.inputs[1])),
          y(DeviceKind::kCUDA, bytes_of(s.outputs[0])), ref(DeviceKind::kCUDA, bytes_of(s.outputs[0])),
          ws(DeviceKind::kCUDA, std::max<size_t>(ws_bytes, 1));
      device::Buffer b(DeviceKind::kCUDA, k->has_bias_ ? bytes_of(s.inputs[2]) : 1);
      device::Buffer z(DeviceKind::kCUDA, k->has_residual_ ? bytes_of(s.inputs[3]) : 1);
      if (k->has_residual_) fill_random(t, z.data(), s.inputs[3]->dims.volume(), 4);
      fill_random(t, x.data(), s.inputs[0]->dims.volume(), 1);
      fill_random(t, w.data(), s.inputs[1]->dims.volume(), 2);
      if (k->has_bias_) fill_random(t, b.data(), s.inputs[2]->dims.volume(), 3);
      // relu keeps NaN (docs/layers.md) and some cuDNN engines drop it: a NaN in the bias (else the
      // residual) makes a whole channel (one element) NaN in every algorithm, which a plan must keep.
      const bool nan_probe = relu && (k->has_bias_ || k->has_residual_);
      if (relu && k->has_bias_)
        put_nan(t, b.data(), 0);
      else if (relu && k->has_residual_)
        put_nan(t, z.data(), 0);
      auto run_into = [&](const Plan& p, void* out) {
        k->execute(p, x.data(), w.data(), b.data(), z.data(), out, ws.data());
      };
      TimedPart part("convolution timing");
      for (Plan& p : candidates) {
        p.ms = median_ms([&] { run_into(p, y.data()); }, timing_calls(s.config));
        timing += (timing.empty() ? "" : ", ") + p.name() + " " + std::to_string(p.ms) + " ms";
      }
      check(cudaStreamSynchronize(stream()), "timing convolution plans");
      // A plan that computes something else must never win on speed: every candidate's output on
      // the same data is checked against the first's, or, when most candidates disagree with the
      // first, against the first of those. With relu's NaN probe in the data, the reference is a
      // plan whose relu is our pass (it keeps NaN) and no majority overrules it: several fused
      // engines that drop the NaN would otherwise outvote it (a whole-suite run on the H200 took one).
      const size_t keeper = nan_probe ? first_unfused(candidates) : candidates.size();
      std::vector<char> agrees =
          k->agreement(candidates, keeper < candidates.size() ? keeper : 0, run_into, ref.data(), y.data(), y_count);
      const auto agreeing = std::count(agrees.begin(), agrees.end(), 1);
      if (keeper == candidates.size() && agreeing * 2 < static_cast<std::ptrdiff_t>(candidates.size())) {
        const size_t other = static_cast<size_t>(std::find(agrees.begin(), agrees.end(), 0) - agrees.begin());
        std::vector<char> others = k->agreement(candidates, other, run_into, ref.data(), y.data(), y_count);
        if (std::count(others.begin(), others.end(), 1) > agreeing) agrees = std::move(others);
      }
      best = static_cast<size_t>(std::find(agrees.begin(), agrees.end(), 1) - agrees.begin());
      for (size_t i = 0; i < candidates.size(); ++i)
        if (agrees[i] && candidates[i].ms < candidates[best].ms) best = i;
    }
    k->main_ = std::move(candidates[best]);

    // Calls whose pointers are not 16-byte aligned (views into larger buffers) need a plan declared
    // only element-aligned; NHWC plans only touch their aligned staging copies. That plan serves a
    // rare case, untimed: an engine cuDNN compiles at finalization (0.3-0.5 s each, most of
    // EfficientNet's and MobileNetV3's cold builds on the H200 when every depthwise layer compiled
    // one here) is taken only when no precompiled engine, fused or not, takes the layer.
    if (!k->main_.staged && esize < 16) {
      std::vector<Plan> loose;
      for (int compiles : {0, 1 << 30}) {
        // Fused first (faster), except under relu: this plan is not timed, so not checked for
        // keeping NaN, and our pass's relu after an unfused plan always keeps it.
        for (bool fused : {!relu, relu}) {
          if (!loose.empty() || (!fused && !epilogue) || (fused && ours_only)) continue;
          std::string ignored;
          const Variant v{fused, last, esize};
          int compiles_left = compiles;
          if (auto graph = build_graph(g, type, k->has_bias_, k->has_residual_, k->act_, v, ignored))
            add_plans(graph, v, fma_only, cap, 1, loose, compiles_left);
        }
      }
      if (loose.empty()) {
        note(s, "cuDNN graph API: no plan for element-aligned tensors; the legacy cuDNN kernel takes the layer");
        return nullptr;
      }
      k->loose_ = std::make_unique<Plan>(std::move(loose[0]));
    }
    k->workspace_ = std::max(k->needs(k->main_), k->loose_ ? k->needs(*k->loose_) : 0);
    StoredConvPlans keep;
    keep.has_loose = k->loose_ != nullptr;
    if (!pre.hinted && to_stored(k->main_, keep.main) && (!keep.has_loose || to_stored(*k->loose_, keep.loose)))
      store_conv_plans(timing_cache_folder(s.config.timing_cache_dir), stored_key(s), keep);
    if (pre.hinted) timing = "untimed: the opt plan's choice";
    k->choice_ = k->main_.name() + (timing.empty() ? "" : " (timed: " + timing + ")");
    note(s, "cuDNN graph " + k->main_.name() + ", " + std::to_string(k->workspace_) + " bytes of workspace" +
                (timing.empty() ? "" : " (timed: " + timing + ")"));
    return k;
  }

  size_t workspace_size() const override { return workspace_; }
  std::string choice() const override { return choice_; }

  /// The chosen plan, as the creation note names it ("NHWC engine 12 fused").
  std::string plan_name() const { return main_.name(); }
  /// The chosen plan's kind, as a dynamic engine's other plans follow it (hint_of).
  std::string hint() const { return hint_of(main_); }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const void* bias = has_bias_ ? in[2].data : nullptr;
    const void* residual = has_residual_ ? in[3].data : nullptr;
    const Plan* p = &main_;
    if (loose_ && (misaligned(in[0].data, 16) || misaligned(in[1].data, 16) || misaligned(out[0].data, 16) ||
                   (bias && misaligned(bias, 16)) || (residual && misaligned(residual, 16))))
      p = loose_.get();
    execute(*p, in[0].data, in[1].data, bias, residual, out[0].data, workspace);
  }

 private:
  ConvGraphKernel() = default;

  size_t staging() const { return x_stage_ + w_stage_ + y_stage_; }

  // Whether one of our direct kernels takes the layer: channels-last 2-D depthwise (one weight per
  // channel and tap), or the small-channel kernel's layers (small_).
  bool direct_fits() const {
    return small_ || (last_ && g_.rank == 4 && g_.groups == g_.x[1] && g_.w[0] == g_.x[1] && g_.w[1] == 1);
  }
  bool epilogue() const { return has_bias_ || has_residual_ || act_ != ConvActivation::kNone; }

  // A dynamic engine's plan off its opt sizes (kernels/tactic_hints.h): the one candidate is the kind
  // of plan opt's plan chose, with its cuDNN engine where the heuristic offers that engine at these
  // sizes precompiled (else the heuristic's first precompiled plan of that kind), untimed. False when
  // the hint does not apply here; the layer then chooses as usual.
  bool follow(const KernelSpec& s, const ConvHint& h, size_t cap, bool fma_only, Prepared& out) const {
    Plan p;
    if (h.direct || h.gemm) {
      if ((h.direct && !direct_fits()) || (h.gemm && !last_)) return false;
      p.direct = h.direct;
      p.small = h.direct && small_;
      p.variant = Variant{true, true, h.direct ? h.align : 16};
      if (h.gemm) {
        p.gemm = create_conv_gemm(s);
        if (!p.gemm || (p.workspace = conv_gemm_workspace(*p.gemm)) >= cap) return false;
      }
      out.candidates.push_back(std::move(p));
    } else {
      const Variant v{h.fused != 0, h.nhwc != 0, h.align};
      const size_t staging = v.nhwc != last_ ? this->staging() : 0;
      if (staging >= cap || (v.fused && !graph_takes(act_)) || (h.staged != 0) != (v.nhwc != last_)) return false;
      std::string why;
      std::shared_ptr<Graph> graph = build_graph(g_, dnn_type(dtype_), has_bias_, has_residual_, act_, v, why);
      if (!graph) return false;
      // Engines that cuDNN compiles at finalization compile again for every new size (ResNet-50's
      // took 3.3 s of helper threads a plan on the H200): a precompiled engine is taken instead, the
      // opt plan's where it is one, and a compiled one only where no other takes the layer.
      int compiles_left = 0;
      add_plans(graph, v, fma_only, cap - staging, 1, out.candidates, compiles_left, h.engine);
      if (out.candidates.empty()) add_plans(graph, v, fma_only, cap - staging, 1, out.candidates, compiles_left);
      compiles_left = 1;
      if (out.candidates.empty()) add_plans(graph, v, fma_only, cap - staging, 1, out.candidates, compiles_left);
      if (out.candidates.empty()) return false;
      out.candidates[0].staged = h.staged != 0;
    }
    out.hinted = true;
    return true;
  }

  // Takes the plans stored under `key` into `out` when they still fit: cuDNN finalizes them from
  // their JSON, their workspace is within `cap`, an element-aligned plan is there exactly when the
  // main one needs it, and a direct plan only where our kernel applies (`direct_ok`).
  bool restore_stored(const KernelSpec& s, const std::string& key, size_t cap, bool direct_ok, Prepared& out) const {
    StoredConvPlans stored;
    if (!load_conv_plans(timing_cache_folder(s.config.timing_cache_dir), key, stored) || (stored.main.direct && !direct_ok)) return false;
    Plan main, loose;
    const bool wants_loose = !stored.main.staged && element_size(dtype_) < 16;
    if (wants_loose != stored.has_loose || stored.loose.direct || stored.loose.gemm ||
        !restore(s, stored.main, cap, main) || (wants_loose && !restore(s, stored.loose, cap, loose)) ||
        needs(main) > cap || (wants_loose && needs(loose) > cap))
      return false;
    out.main = std::move(main);
    out.main.small = out.main.direct && small_;
    if (wants_loose) out.loose = std::make_unique<Plan>(std::move(loose));
    return true;
  }

  static bool stored_main_is_gemm(const KernelSpec& s) {
    StoredConvPlans stored;
    return load_conv_plans(timing_cache_folder(s.config.timing_cache_dir), stored_key(s), stored) && stored.main.gemm;
  }

  // The key of the plans stored on disk: the plan key and this build of the library.
  static std::string stored_key(const KernelSpec& s) { return plan_key(s) + "|built " __DATE__ " " __TIME__; }

  // Which of `plans` compute what plans[reference] computes on the timing data (run_into(plan, out)
  // runs one into `out`): its output goes to `ref`, each other plan's to `scratch`, compared with
  // conv_tolerance(). Disagreeing plans are logged as warnings.
  template <class RunInto>
  std::vector<char> agreement(const std::vector<Plan>& plans, size_t reference, const RunInto& run_into, void* ref,
                              void* scratch, int64_t count) const {
    std::vector<char> agrees(plans.size(), 0);
    agrees[reference] = 1;
    run_into(plans[reference], ref);
    for (size_t i = 0; i < plans.size(); ++i) {
      if (i == reference) continue;
      run_into(plans[i], scratch);
      const ConvDifference d = conv_difference(dtype_, ref, scratch, count);
      agrees[i] = d.max_diff <= conv_tolerance(dtype_) * std::max(d.max_abs, 1.0f);
      if (!agrees[i] && std::isinf(d.max_diff))  // the timing data's NaN kept by one plan, not the other
        tensorforge::log(Severity::kInfo, "cuDNN graph " + plans[i].name() + " and " + plans[reference].name() +
                                              " differ in keeping the timing data's NaN through relu; " +
                                              plans[i].name() + " is not used");
      else if (!agrees[i])
        tensorforge::log(Severity::kWarning, "cuDNN graph " + plans[i].name() + " disagrees with " +
                                                 plans[reference].name() + " on the timing data (max abs diff " +
                                                 std::to_string(d.max_diff) + ", outputs up to " +
                                                 std::to_string(d.max_abs) + "); it is not used");
    }
    return agrees;
  }
  // The first of `plans` that is cuDNN's plain convolution followed by our bias/activation pass.
  static size_t first_unfused(const std::vector<Plan>& plans) {
    for (size_t i = 0; i < plans.size(); ++i)
      if (!plans[i].variant.fused && !plans[i].direct && !plans[i].gemm) return i;
    return plans.size();
  }
  size_t needs(const Plan& p) const {
    return (p.staged ? staging() : 0) + (p.s2d ? s2d_x_ + s2d_w_ : 0) + p.workspace;
  }

  // The layer on the current stream through plan `p`; bias and residual may be null.
  void execute(const Plan& p, const void* x, const void* w, const void* bias, const void* residual, void* y,
               void* workspace) const {
    if (!has_bias_) bias = nullptr;  // timing passes scratch buffers for every operand
    if (!has_residual_) residual = nullptr;
    if (p.direct && p.small) {
      conv_small_channels_nhwc(dtype_, x, w, bias, residual, y, small_geometry_, act_);
      return;
    }
    if (p.direct) {
      conv_depthwise_nhwc(dtype_, x, w, bias, residual, y, depthwise_, act_, static_cast<int>(p.variant.align));
      return;
    }
    if (p.gemm) {
      run_conv_gemm(*p.gemm, x, w, bias, residual, y, workspace);
      return;
    }
    char* ws = static_cast<char*>(workspace);
    const void *cx = x, *cw = w;
    void* cy = y;
    const int64_t n = x_dims_[0], cin = x_dims_[1], cout = y_dims_[1], cin_g = w_dims_[1];
    const int64_t x_sp = x_dims_.volume() / (n * cin), w_sp = w_dims_.volume() / (cout * cin_g),
                  y_sp = y_dims_.volume() / (n * cout);
    if (p.staged) {  // the layer's layout -> the graph's: out[b, c, r] = in[b, r, c]
      void *xt = ws, *wt = ws + x_stage_;
      cy = ws + x_stage_ + w_stage_;
      if (last_) {
        conv_transpose(dtype_, x, xt, n, x_sp, cin);
        conv_transpose(dtype_, w, wt, cout, w_sp, cin_g);
      } else {
        conv_transpose(dtype_, x, xt, n, cin, x_sp);
        conv_transpose(dtype_, w, wt, cout, cin_g, w_sp);
      }
      cx = xt;
      cw = wt;
      ws += staging();
    } else if (p.s2d) {  // the regrouped input and weight, then the graph of the stride-1 form
      space_to_depth_nhwc(dtype_, x, w, ws, ws + s2d_x_, s2d_);
      if (p.mma) {
        conv_s2d_mma_nhwc(dtype_, ws, ws + s2d_x_, bias, residual, y, s2d_, act_);
        return;
      }
      cx = ws;
      cw = ws + s2d_x_;
      ws += s2d_x_ + s2d_w_;
    }
    int64_t uids[5] = {kX, kW, kY};
    void* ptrs[5] = {const_cast<void*>(cx), const_cast<void*>(cw), cy};
    int64_t count = 3;
    if (has_bias_ && p.variant.fused) {
      uids[count] = kBias;
      ptrs[count++] = const_cast<void*>(bias);
    }
    if (has_residual_ && p.variant.fused) {
      uids[count] = kResidual;
      ptrs[count++] = const_cast<void*>(residual);
    }
    void* ws_ptr = p.workspace ? ws : nullptr;
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids, count)
        .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, ptrs, count)
        .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, &ws_ptr);
    pack.finalize();
    check_cudnn(pack.status(), "building a cuDNN variant pack");
    check_cudnn(cudnnBackendExecute(cudnn_handle(), p.plan.get(), pack.get()), "running a convolution (cuDNN graph)");
    if (p.staged) {
      if (last_)
        conv_transpose(dtype_, cy, y, n, cout, y_sp);
      else
        conv_transpose(dtype_, cy, y, n, y_sp, cout);
    }
    // Our pass sees y in the layer's layout: channels last is [positions, C].
    if (!p.variant.fused && (has_bias_ || has_residual_ || act_ != ConvActivation::kNone))
      conv_bias_act(dtype_, y, bias, last_ ? Dims{n * y_sp, cout} : y_dims_, act_, residual);
  }

  Plan main_;
  std::unique_ptr<Plan> loose_;  // for pointers that are not 16-byte aligned (NCHW main plans)
  DataType dtype_ = DataType::kFloat32;
  Dims x_dims_, w_dims_, y_dims_;  // channels-first views
  size_t x_stage_ = 0, w_stage_ = 0, y_stage_ = 0, workspace_ = 0;
  bool has_bias_ = false, has_residual_ = false, last_ = false;  // last_: the layer is channels last
  ConvActivation act_ = ConvActivation::kNone;
  DepthwiseGeometry depthwise_;  // for the direct plan
  SmallConvGeometry small_geometry_;  // for the direct plan of a small-channel layer
  bool small_ = false;                // the small-channel kernel takes the layer (its direct plan)
  SpaceToDepth s2d_;                  // the layer's space-to-depth form, when s2d_x_ > 0
  size_t s2d_x_ = 0, s2d_w_ = 0;      // the workspace its regrouped input and weight take
  Shape g_;                      // the convolution's geometry (channels first)
  std::string choice_;           // the plan and what it was timed against
};

// What decides a layer's kernel: device, dtype, layout, geometry, epilogue and the build options
// that create() reads. Layers with equal keys get equal kernels.
std::string plan_key(const KernelSpec& s) {
  const bool last = ir::is_channels_last(s.layer);
  const Dims x = ir::channels_first_view(s.inputs[0]->dims, last), w = ir::channels_first_view(s.inputs[1]->dims, last),
             y = ir::channels_first_view(s.outputs[0]->dims, last);
  const Shape g = shape_of(s, x, w, y);
  int dev = 0;
  check(cudaGetDevice(&dev), "querying the current device");
  std::string key = std::to_string(dev) + "|" + to_string(s.inputs[0]->dtype) + (last ? "|nhwc|" : "|nchw|") +
                    x.str() + w.str() + y.str();
  for (int k = 0; k < g.rank - 2; ++k)
    key += "|" + std::to_string(g.pad[k]) + "," + std::to_string(g.stride[k]) + "," + std::to_string(g.dil[k]);
  key += "|g" + std::to_string(g.groups) + (s.inputs.size() > 2 && s.inputs[2] ? "|bias" : "") +
         (s.inputs.size() > 3 && s.inputs[3] ? "|residual" : "") + "|act" + std::to_string(static_cast<int>(conv_activation(s))) + "|O" +
         std::to_string(s.config.optimization_level) + (s.config.allow_tf32 ? "|tf32|" : "|fp32|") +
         std::to_string(s.config.workspace_size);
  return key;
}

// A kernel shared by every layer of one plan key (run() and workspace_size() are const, as for one
// engine run from several threads).
class SharedKernel : public Kernel {
 public:
  explicit SharedKernel(std::shared_ptr<const Kernel> k) : k_(std::move(k)) {}
  size_t workspace_size() const override { return k_->workspace_size(); }
  std::string choice() const override { return k_->choice() + " [shared with an earlier layer]"; }
  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    k_->run(in, out, workspace);
  }

 private:
  std::shared_ptr<const Kernel> k_;
};

struct CachedKernel {
  std::shared_ptr<const Kernel> kernel;  // null: the graph API refused the key
  std::string plan;                      // its plan's name
  std::string hint;                      // its plan's kind (hint_of)
};

// Convolutions of the same plan key share one kernel, process-wide: the first creates it (timing the
// candidates), the rest reuse it (ResNet-50's 53 convolutions have 23 keys at a batch size). It
// holds at most 4096 kernels and starts over when full.
ProcessCache<CachedKernel>& kernel_cache() {
  static ProcessCache<CachedKernel> cache(4096);
  return cache;
}

// Plan keys whose kernel a build is creating now: preparation on a helper thread (which runs beside
// kernel creation) leaves those alone, as create() has taken or will redo their prepared plans.
ProcessCache<bool>& in_creation() {
  static ProcessCache<bool> keys(4096);
  return keys;
}

}  // namespace

std::unique_ptr<Kernel> create_convolution_graph(const KernelSpec& s) {
  const std::string key = shared_key(s);
  if (std::optional<CachedKernel> hit = kernel_cache().find(key)) {
    if (!hit->kernel) return nullptr;
    note(s, "cuDNN graph " + hit->plan + ", shared with an earlier layer of the same shape and options");
    record_hint(s, kHintKind, hit->hint);
    return std::make_unique<SharedKernel>(hit->kernel);
  }
  in_creation().insert(key, true);
  struct Done {
    const std::string& key;
    ~Done() { in_creation().take(key); }
  } done{key};
  std::unique_ptr<ConvGraphKernel> created = ConvGraphKernel::create(s);
  CachedKernel c{nullptr, created ? created->plan_name() : std::string(), created ? created->hint() : std::string()};
  c.kernel = std::move(created);
  const CachedKernel kept = kernel_cache().insert(key, c);
  if (kept.kernel) record_hint(s, kHintKind, kept.hint);
  return kept.kernel ? std::make_unique<SharedKernel>(kept.kernel) : nullptr;
}

void prepare_convolution_graph(const KernelSpec& s) {
  try {
    const std::string key = shared_key(s);
    if (in_creation().find(key) || kernel_cache().find(key)) return;  // create() has it in hand
    std::unique_ptr<ConvGraphKernel> shell = ConvGraphKernel::shell(s);
    if (!shell) return;
    // One preparation per key at a time: the thread whose claim is stored does it; the result is
    // published only when complete (a build on another thread may be creating kernels meanwhile:
    // it finds either nothing, and does the work itself, or the finished plans).
    static ProcessCache<std::shared_ptr<char>> claims(4096);
    auto mine = std::make_shared<char>();
    if (claims.insert(key, mine) != mine || prepared_plans().find(key)) return;
    struct Release {
      const std::string& key;
      ~Release() { claims.take(key); }
    } release{key};
    if (std::shared_ptr<Prepared> done = shell->prepare(s, true)) prepared_plans().insert(key, done);
  } catch (...) {  // create() does the work itself and reports
  }
}

}  // namespace tensorforge::cuda

#pragma GCC diagnostic pop
