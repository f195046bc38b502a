// CUDA quantized_convolution through cuDNN's int8 convolution (the conv_fprop node of cuDNN's C++
// frontend): `cuda.quantized_conv.cudnn`, preferred over the direct kernel (quantized_conv.cu),
// which takes what this one refuses.
//
// It takes channels-last, ungrouped layers whose input and output channel counts are multiples of 4
// (cuDNN's int8 tensor-core convolutions read 4-byte channel groups), with 16-byte aligned tensors.
// One operation graph: the int8 convolution with int32 sums into a virtual float32 tensor, then
// pointwise MUL by scale[k], ADD bias[k], ADD the residual (int8 or float, first multiplied by the
// residual_scale when there is one) and RELU, the last writing the output's
// dtype (float, or int8: cuDNN's conversion, which the CUDA tests hold to the CPU kernel's rounding
// half to even with saturation): the order of the CPU kernel's epilogue. cuDNN's heuristic (mode A, then its fallback
// list) ranks the plans; the first timed_algorithms() that build are timed on scratch data and the
// fastest kept, once per process for layers of one signature (a ResNet's repeated blocks); for the
// layers it takes (64 input channels, stride 1: a ResNet's first stage), our warp-MMA kernel
// (conv_mma.cu) is timed beside them on the same operands and kept when faster. Layers cuDNN
// refuses log the reason at info level.
//
// Without the frontend at build time (TENSORFORGE_WITH_CUDNN_FRONTEND unset) create() refuses every
// layer.
#include <memory>
#include <string>

#include "kernels/kernel.h"

#if TENSORFORGE_WITH_CUDNN_FRONTEND
#include <cstdint>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include <cudnn_frontend.h>

#include "common/build_clock.h"
#include "kernels/cuda/build_timing.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/libraries.h"
#include "kernels/cuda/process_cache.h"
#include "kernels/quantized_conv_shape.h"
#include "runtime/device.h"
#include "tensorforge/logger.h"
#endif

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_quantized_conv_direct(const KernelSpec& s);

#if TENSORFORGE_WITH_CUDNN_FRONTEND
namespace {

namespace fe = cudnn_frontend;

enum Uid : int64_t { kX = 1, kW, kScale, kBias, kResidual, kResidualScale, kY };

void info(const KernelSpec& s, const std::string& what) {
  tensorforge::log(Severity::kInfo, "layer '" + s.layer.name + "' (quantized_convolution): " + what);
}

bool misaligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 != 0; }

cudaStream_t stream() { return static_cast<cudaStream_t>(device::current_stream()); }

// A built graph and the plan timing chose, shared by the layers of one signature.
struct Plan {
  std::shared_ptr<fe::graph::Graph> graph;  // null: refused, for `why`
  int64_t index = 0;
  size_t workspace = 0;
  bool mma = false;  // our warp-MMA kernel (conv_mma.cu) timed faster than every cuDNN plan
  std::string why, choice;
};

// The layer as our MMA kernel's geometry (channels last, ungrouped).
SmallConvGeometry geometry_of(const QuantizedConvShape& p) {
  return SmallConvGeometry{p.n, p.h, p.w, p.c, p.oh, p.ow, p.k, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw};
}

ProcessCache<Plan>& plans() {
  static ProcessCache<Plan> cache(256);
  return cache;
}

std::string signature(const QuantizedConvShape& p, DataType t, int timed) {
  int device = 0;
  cudaGetDevice(&device);
  std::string key = std::to_string(device) + " " + to_string(t) + " " + std::to_string(timed);
  for (int64_t v : {p.n, p.c, p.h, p.w, p.k, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, int64_t(p.has_bias),
                    int64_t(p.has_residual), int64_t(p.residual_dtype), int64_t(p.has_residual_scale),
                    int64_t(p.activation)})
    key += " " + std::to_string(v);
  return key;
}

fe::DataType_t fe_type(DataType t) {
  switch (t) {
    case DataType::kFloat16: return fe::DataType_t::HALF;
    case DataType::kBFloat16: return fe::DataType_t::BFLOAT16;
    case DataType::kInt8: return fe::DataType_t::INT8;
    default: return fe::DataType_t::FLOAT;
  }
}

Plan build(const QuantizedConvShape& p, DataType t, int timed, int calls) {
  using TA = fe::graph::Tensor_attributes;
  Plan plan;
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(fe::DataType_t::INT8)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::INT32);
  // NHWC strides of [n, c, h, w]-ordered dims.
  auto nhwc = [](int64_t n, int64_t c, int64_t h, int64_t w) {
    (void)n;
    return std::vector<int64_t>{c * h * w, 1, c * w, c};
  };
  auto X = g->tensor(TA().set_name("x").set_uid(kX).set_dim({p.n, p.c, p.h, p.w}).set_stride(nhwc(p.n, p.c, p.h, p.w)));
  auto W = g->tensor(TA().set_name("w").set_uid(kW).set_dim({p.k, p.c, p.kh, p.kw}).set_stride(nhwc(p.k, p.c, p.kh, p.kw)));
  auto conv = g->conv_fprop(X, W, fe::graph::Conv_fprop_attributes()
                                      .set_padding({p.ph, p.pw})
                                      .set_stride({p.sh, p.sw})
                                      .set_dilation({p.dh, p.dw})
                                      .set_compute_data_type(fe::DataType_t::INT32));
  auto per_channel = [&](const char* name, Uid uid) {
    return g->tensor(TA().set_name(name).set_uid(uid).set_dim({1, p.k, 1, 1}).set_stride({p.k, 1, p.k, p.k})
                         .set_data_type(fe::DataType_t::FLOAT));
  };
  auto pointwise = [&](fe::PointwiseMode_t mode) {
    return fe::graph::Pointwise_attributes().set_mode(mode).set_compute_data_type(fe::DataType_t::FLOAT);
  };
  auto v = g->pointwise(conv, per_channel("scale", kScale), pointwise(fe::PointwiseMode_t::MUL));
  if (p.has_bias) v = g->pointwise(v, per_channel("bias", kBias), pointwise(fe::PointwiseMode_t::ADD));
  const std::vector<int64_t> ydims = {p.n, p.k, p.oh, p.ow}, ystrides = nhwc(p.n, p.k, p.oh, p.ow);
  if (p.has_residual) {
    auto R = g->tensor(TA().set_name("residual").set_uid(kResidual).set_dim(ydims).set_stride(ystrides)
                           .set_data_type(fe_type(p.residual_dtype)));
    if (p.has_residual_scale) {
      auto RS = g->tensor(TA().set_name("residual_scale").set_uid(kResidualScale).set_dim({1, 1, 1, 1})
                              .set_stride({1, 1, 1, 1}).set_data_type(fe::DataType_t::FLOAT));
      R = g->pointwise(R, RS, pointwise(fe::PointwiseMode_t::MUL));
    }
    v = g->pointwise(v, R, pointwise(fe::PointwiseMode_t::ADD));
  }
  if (p.activation == MatMulActivation::kRelu) v = g->pointwise(v, pointwise(fe::PointwiseMode_t::RELU_FWD));
  v->set_output(true).set_uid(kY).set_dim(ydims).set_stride(ystrides).set_data_type(fe_type(t));
  cudnnHandle_t h = cudnn_handle();
  TimedPart part("cuDNN int8 convolution plans");
  auto failed = [&](fe::error_t e, const char* step) {
    if (e.is_good()) return false;
    plan.why = std::string(step) + ": " + e.get_message();
    return true;
  };
  if (failed(g->validate(), "validating the graph") || failed(g->build_operation_graph(h), "building the graph") ||
      failed(g->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}), "querying cuDNN's heuristic") ||
      failed(g->check_support(h), "checking support") ||
      failed(g->build_plans(h, fe::BuildPlanPolicy_t::ALL), "building the plans"))
    return plan;
  const int64_t count = std::min<int64_t>(g->get_execution_plan_count(), timed);
  // Scratch operands for timing (their values do not matter to an int8 convolution's speed).
  const size_t esize = element_size(t);
  const size_t xb = static_cast<size_t>(p.n * p.h * p.w * p.c), wb = static_cast<size_t>(p.k * p.kh * p.kw * p.c),
               yb = static_cast<size_t>(p.n * p.oh * p.ow * p.k) * esize;
  std::optional<device::Buffer> x, w, y, r, sc, ws;
  std::unordered_map<int64_t, void*> pack;
  if (count > 1) {
    x.emplace(DeviceKind::kCUDA, xb);
    w.emplace(DeviceKind::kCUDA, wb);
    y.emplace(DeviceKind::kCUDA, yb);
    sc.emplace(DeviceKind::kCUDA, static_cast<size_t>(p.k) * sizeof(float));
    check(cudaMemsetAsync(x->data(), 1, xb, stream()), "clearing timing data");
    check(cudaMemsetAsync(w->data(), 1, wb, stream()), "clearing timing data");
    fill_random(DataType::kFloat32, sc->data(), p.k, 7);
    pack = {{kX, x->data()}, {kW, w->data()}, {kScale, sc->data()}, {kY, y->data()}};  // the graph's tensors only
    if (p.has_bias) pack[kBias] = sc->data();
    if (p.has_residual) {
      r.emplace(DeviceKind::kCUDA, static_cast<size_t>(p.n * p.oh * p.ow * p.k) * element_size(p.residual_dtype));
      check(cudaMemsetAsync(r->data(), 0, r->size(), stream()), "clearing timing data");
      pack[kResidual] = r->data();
      if (p.has_residual_scale) pack[kResidualScale] = sc->data();
    }
  }
  // Timing: the first `count` plans, the fastest kept; else the first whose workspace is known.
  const bool timing = count > 1;
  bool chosen = false;
  float best = -1;
  std::string times;
  for (int64_t i = 0; i < g->get_execution_plan_count() && (timing ? i < count : !chosen); ++i) {
    int64_t bytes = 0;
    if (g->get_workspace_size_plan_at_index(i, bytes).is_bad()) continue;
    if (!timing) {
      plan.index = i;
      plan.workspace = static_cast<size_t>(bytes);
      chosen = true;
      continue;
    }
    ws.emplace(DeviceKind::kCUDA, static_cast<size_t>(bytes) + 16);
    void* wsp = ws->data();
    bool ok = true;
    const float ms = median_ms([&] { ok = ok && g->execute_plan_at_index(h, pack, wsp, i).is_good(); }, calls);
    if (!ok) continue;
    times += (times.empty() ? "" : ", ") + std::string("plan ") + std::to_string(i) + " " +
             std::to_string(ms * 1000).substr(0, 6) + " us";
    if (!chosen || ms < best) {
      best = ms;
      plan.index = i;
      plan.workspace = static_cast<size_t>(bytes);
      chosen = true;
    }
  }
  if (!chosen) {
    plan.why = "none of its plans ran";
    return plan;
  }
  plan.choice = "cuDNN int8 plan " + std::to_string(plan.index);
  // Our MMA kernel, where it takes the layer, on the same scratch operands.
  if (timing && quantized_conv_mma_fits(t, p.has_residual, p.residual_dtype, geometry_of(p))) {
    auto ours = [&] {
      quantized_conv_mma_nhwc(t, p.residual_dtype, x->data(), w->data(), sc->data(), p.has_bias ? sc->data() : nullptr,
                              p.has_residual ? r->data() : nullptr, p.has_residual_scale ? sc->data() : nullptr,
                              y->data(), geometry_of(p), p.activation);
    };
    const float ms = median_ms(ours, calls);
    times += ", our MMA kernel " + std::to_string(ms * 1000).substr(0, 6) + " us";
    if (ms < best) {
      // Faster: kept when it writes what cuDNN's plan writes on operands of random bytes: both sum
      // exactly, and int8 results round alike; float16 ones within 1 ulp (an epilogue may fuse
      // its multiply and add where ours rounds each, as the CPU kernel does).
      fill_random(DataType::kFloat16, x->data(), static_cast<int64_t>(xb / 2), 3);
      fill_random(DataType::kFloat16, w->data(), static_cast<int64_t>(wb / 2), 4);
      device::Buffer theirs(DeviceKind::kCUDA, yb), workspace(DeviceKind::kCUDA, plan.workspace + 16);
      pack[kY] = theirs.data();
      const bool ran = g->execute_plan_at_index(h, pack, workspace.data(), plan.index).is_good();
      pack[kY] = y->data();
      ours();
      if (ran && within_ulps(t, theirs.data(), y->data(), static_cast<int64_t>(yb / esize), t == DataType::kInt8 ? 0 : 1)) {
        plan.mma = true;
        plan.workspace = 0;
        plan.choice = "our MMA kernel";
      } else {
        times += " (its output differs from cuDNN's: not kept)";
        tensorforge::log(Severity::kWarning, "quantized_convolution: our MMA kernel disagrees with cuDNN's int8 plan "
                                             "on timing data; cuDNN's kept");
      }
    }
  }
  plan.choice += times.empty() ? "" : " of " + times;
  plan.graph = std::move(g);
  return plan;
}

class CudnnQuantizedConv : public Kernel {
 public:
  static std::unique_ptr<Kernel> create(const KernelSpec& s) {
    const QuantizedConvShape p(s);
    const DataType t = s.outputs[0]->dtype;
    if (!p.last || p.groups != 1 || p.c % 4 || p.k % 4) {
      info(s, "cuDNN int8 convolution refused: it takes channels-last, ungrouped layers of 4k channels");
      return nullptr;
    }
    const int timed = timed_algorithms(s.config);
    const std::string key = signature(p, t, timed);
    std::optional<Plan> found = plans().find(key);
    Plan plan = found ? *found : plans().insert(key, build(p, t, timed, timing_calls(s.config)));
    if (!plan.graph) {
      info(s, "cuDNN int8 convolution refused: " + plan.why);
      return nullptr;
    }
    auto k = std::unique_ptr<CudnnQuantizedConv>(new CudnnQuantizedConv(p, t));
    k->plan_ = plan;
    k->fallback_ = create_quantized_conv_direct(s);
    return k;
  }

  size_t workspace_size() const override { return plan_.workspace; }
  std::string choice() const override { return plan_.choice; }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    if (misaligned(in[0].data) || misaligned(in[1].data) || misaligned(in[2].data) ||
        (p_.has_bias && misaligned(in[3].data)) || (p_.has_residual && misaligned(in[4].data)) ||
        (p_.has_residual_scale && misaligned(in[5].data)) ||
        misaligned(out[0].data)) {
      fallback_->run(in, out, workspace);
      return;
    }
    if (plan_.mma) {
      quantized_conv_mma_nhwc(out_, p_.residual_dtype, in[0].data, in[1].data, in[2].data,
                              p_.has_bias ? in[3].data : nullptr, p_.has_residual ? in[4].data : nullptr,
                              p_.has_residual_scale ? in[5].data : nullptr, out[0].data, geometry_of(p_), p_.activation);
      return;
    }
    std::unordered_map<int64_t, void*> pack = {{kX, in[0].data}, {kW, in[1].data}, {kScale, in[2].data}, {kY, out[0].data}};
    if (p_.has_bias) pack[kBias] = in[3].data;
    if (p_.has_residual) pack[kResidual] = in[4].data;
    if (p_.has_residual_scale) pack[kResidualScale] = in[5].data;
    fe::error_t e = plan_.graph->execute_plan_at_index(cudnn_handle(), pack, workspace, plan_.index);
    if (e.is_bad())
      check_cudnn(CUDNN_STATUS_EXECUTION_FAILED, ("running cuDNN's int8 convolution: " + e.get_message()).c_str());
  }

 private:
  CudnnQuantizedConv(const QuantizedConvShape& p, DataType out) : p_(p), out_(out) {}
  QuantizedConvShape p_;
  DataType out_;
  Plan plan_;
  std::unique_ptr<Kernel> fallback_;  // the direct kernel, for calls whose pointers are not 16-byte aligned
};

}  // namespace

std::unique_ptr<Kernel> create_quantized_conv_cudnn(const KernelSpec& s) { return CudnnQuantizedConv::create(s); }

#else

std::unique_ptr<Kernel> create_quantized_conv_cudnn(const KernelSpec&) { return nullptr; }

#endif

}  // namespace tensorforge::cuda
