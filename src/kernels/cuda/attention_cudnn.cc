// CUDA scaled dot-product attention through cuDNN's fused flash attention (the SDPA node of cuDNN's
// C++ frontend, cudnn_frontend.h from the nvidia-cudnn-frontend package): `cuda.attention.cudnn`,
// tried before our own kernels (attention.cu), which take every layer it refuses.
//
// It takes float16 and bfloat16 layers of rank 2 to 4 (rank 3 is [heads, L, E], rank 2 one head)
// whose query, key and value views (ir/attention_views.h) and output placement (out_perm) have
// 16-byte aligned rows, blocks and offsets, with no mask, a causal mask (top-left aligned, as
// ours), an additive mask of the query's dtype, or a bool mask, which each call turns into an
// additive one (0 or -infinity) in the workspace first (a mask's broadcast dims are passed to cuDNN
// as extent 1, so the conversion touches only the mask's own elements); grouped-query heads are
// cuDNN's own. Rows with nothing to attend come out zero, as from our kernels. The graph is validated, its plan chosen by cuDNN's heuristic
// and built at creation, once per process for layers of one signature (shapes, strides, scale,
// mask form: a transformer's layers share one); a layer cuDNN does not support (a head dim it lacks, a bool mask, an
// broadcast over keys) is refused with the reason logged at info level. A call whose pointers are
// not 16-byte aligned (an engine input that is a view into a larger tensor) runs our kernel, kept
// beside the plan.
//
// Without the frontend at build time (TENSORFORGE_WITH_CUDNN_FRONTEND unset) create() refuses every
// layer.
#include <memory>
#include <string>

#include "kernels/cuda/device_info.h"
#include "kernels/kernel.h"

#if TENSORFORGE_WITH_CUDNN_FRONTEND
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include <cudnn_frontend.h>

#include "common/broadcast.h"
#include "common/build_clock.h"
#include "ir/attention_views.h"
#include "kernels/cuda/libraries.h"
#include "kernels/cuda/process_cache.h"
#include "kernels/layer_attrs.h"
#include "tensorforge/logger.h"
#endif

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_attention_flash(const KernelSpec& s);
std::unique_ptr<Kernel> create_attention(const KernelSpec& s);
/// bias[i] = mask[i] ? 0 : -infinity for i < n, in float dtype t, on the current stream (attention.cu).
void attention_mask_to_bias(DataType t, const bool* mask, void* bias, int64_t n);

#if TENSORFORGE_WITH_CUDNN_FRONTEND
namespace {

namespace fe = cudnn_frontend;

enum Uid : int64_t { kQ = 1, kK, kV, kO, kBias };

/// One operand as cuDNN's 4-D [batch, heads, rows, cols] tensor: dims, element strides, and the
/// element offset of its first element in the engine tensor.
struct Operand4 {
  std::vector<int64_t> dims, strides;
  int64_t offset = 0;
};

// dims/strides of rank r (2..4) padded at the front to 4-D; padded dims have extent 1.
Operand4 to4(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, int64_t offset) {
  Operand4 o;
  const size_t pad = 4 - dims.size();
  o.dims.assign(pad, 1);
  o.strides.assign(pad, 0);
  o.dims.insert(o.dims.end(), dims.begin(), dims.end());
  o.strides.insert(o.strides.end(), strides.begin(), strides.end());
  // A padded or extent-1 dim's stride is never read; cuDNN wants it consistent, so give it the span
  // of the dims inside it.
  for (int d = 3; d >= 0; --d)
    if (o.dims[d] == 1 && d < 3) o.strides[d] = o.strides[d + 1] * o.dims[d + 1];
  o.offset = offset;
  return o;
}

// True when every stride but the last (1) and the offset are whole 16-byte steps.
bool aligned(const Operand4& o, int64_t esize) {
  const int64_t step = 16 / esize;
  if (o.offset % step) return false;
  for (int d = 0; d < 3; ++d)
    if (o.dims[d] > 1 && o.strides[d] % step) return false;
  return o.strides[3] == 1;
}

bool misaligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 != 0; }

void info(const KernelSpec& s, const std::string& what) {
  tensorforge::log(Severity::kInfo, "layer '" + s.layer.name + "' (attention): " + what);
}

class CudnnAttentionKernel : public Kernel {
 public:
  static std::unique_ptr<Kernel> create(const KernelSpec& s) {
    const DataType t = s.inputs[0]->dtype;
    if (t != DataType::kFloat16 && t != DataType::kBFloat16) return nullptr;
    const ir::StridedOperand q = ir::attention_operand(s.layer, 0, s.inputs[0]->dims);
    const ir::StridedOperand k = ir::attention_operand(s.layer, 1, s.inputs[1]->dims);
    const ir::StridedOperand v = ir::attention_operand(s.layer, 2, s.inputs[2]->dims);
    const int r = q.dims.rank();
    if (r < 2 || r > 4 || s.inputs[1]->dtype != t || s.inputs[2]->dtype != t) return nullptr;
    if (q.dims.volume() == 0 || k.dims.volume() == 0 || v.dims.volume() == 0) return nullptr;
    for (int d = 0; d + 3 < r; ++d)  // batch dims other than the heads must match (no broadcast)
      if (k.dims[d] != q.dims[d] || v.dims[d] != q.dims[d]) return nullptr;
    const bool has_mask = s.inputs.size() > 3 && s.inputs[3] != nullptr;
    const bool bool_mask = has_mask && s.inputs[3]->dtype == DataType::kBool;
    if (has_mask && !bool_mask && s.inputs[3]->dtype != t) {
      info(s, "cuDNN attention refused: the mask is " + std::string(to_string(s.inputs[3]->dtype)) +
                  ", cuDNN adds a mask of the query's dtype only");
      return nullptr;
    }

    auto kernel = std::unique_ptr<CudnnAttentionKernel>(new CudnnAttentionKernel());
    const int64_t esize = static_cast<int64_t>(element_size(t));
    kernel->q_ = to4(q.dims.vec(), q.strides, q.offset);
    kernel->k_ = to4(k.dims.vec(), k.strides, k.offset);
    kernel->v_ = to4(v.dims.vec(), v.strides, v.offset);
    std::vector<int64_t> od = q.dims.vec();
    od[r - 1] = v.dims[r - 1];
    kernel->o_ = to4(od, ir::attention_output_strides(s.layer, Dims(od)), 0);
    kernel->esize_ = esize;
    kernel->dtype_ = t;
    for (const Operand4* o : {&kernel->q_, &kernel->k_, &kernel->v_, &kernel->o_})
      if (!aligned(*o, esize)) {
        info(s, "cuDNN attention refused: an operand's rows or offset are not 16-byte aligned");
        return nullptr;
      }
    const int64_t e = q.dims[r - 1];
    const double scale_attr = ir::attr_float(s.layer, "scale");
    const float scale = static_cast<float>(scale_attr != 0.0 ? scale_attr : 1.0 / std::sqrt(static_cast<double>(e)));
    const bool causal = ir::attr_int(s.layer, "causal") != 0;

    std::string why;
    if (has_mask) {
      std::vector<int64_t> sd = q.dims.vec();
      sd[r - 1] = k.dims[r - 2];
      const std::vector<int64_t> st = broadcast_strides(s.inputs[3]->dims, Dims(sd));
      if (st[r - 1] != 1 || (st[r - 2] * esize) % 16 != 0) {
        info(s, "cuDNN attention refused: the mask's rows are not contiguous and 16-byte aligned");
        return nullptr;
      }
      // First with the broadcast dims given extent 1, then as the full shape with zero strides.
      for (bool unit : {true, false}) {
        std::vector<int64_t> bd = sd;
        if (unit)
          for (int d = 0; d < r; ++d)
            if (st[d] == 0) bd[d] = 1;
        kernel->bias_ = to4(bd, st, 0);
        if (kernel->build(s, t, scale, causal, true, why)) break;
      }
    } else {
      kernel->build(s, t, scale, causal, false, why);
    }
    if (!kernel->graph_) {
      info(s, "cuDNN attention refused: " + why);
      return nullptr;
    }
    kernel->fallback_ = create_attention_flash(s);
    if (!kernel->fallback_) kernel->fallback_ = create_attention(s);
    if (!kernel->fallback_) return nullptr;
    if (bool_mask) {  // the additive mask goes first in the workspace, cuDNN's after it
      kernel->mask_count_ = s.inputs[3]->dims.volume();
      kernel->bias_bytes_ = (static_cast<size_t>(kernel->mask_count_) * esize + 255) / 256 * 256;
    }
    kernel->workspace_ = std::max(kernel->bias_bytes_ + kernel->workspace_, kernel->fallback_->workspace_size());
    info(s, "cuDNN fused attention, " + std::to_string(kernel->workspace_) + " bytes of workspace");
    return kernel;
  }

  size_t workspace_size() const override { return workspace_; }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    const bool mask = bias_.dims.size() == 4;
    if (misaligned(in[0].data) || misaligned(in[1].data) || misaligned(in[2].data) || misaligned(out[0].data) ||
        (mask && !bias_bytes_ && misaligned(in[3].data))) {
      fallback_->run(in, out, workspace);
      return;
    }
    auto at = [&](const TensorView& x, const Operand4& o) {
      return static_cast<void*>(static_cast<char*>(x.data) + o.offset * esize_);
    };
    std::unordered_map<int64_t, void*> pack = {
        {kQ, at(in[0], q_)}, {kK, at(in[1], k_)}, {kV, at(in[2], v_)}, {kO, out[0].data}};
    char* ws = static_cast<char*>(workspace);
    if (mask && bias_bytes_) {  // a bool mask: its additive form in the workspace
      attention_mask_to_bias(dtype_, static_cast<const bool*>(in[3].data), ws, mask_count_);
      pack[kBias] = ws;
      ws += bias_bytes_;
    } else if (mask) {
      pack[kBias] = in[3].data;
    }
    fe::error_t e = graph_->execute(cudnn_handle(), pack, ws);
    if (e.is_bad()) check_cudnn(CUDNN_STATUS_EXECUTION_FAILED, ("running cuDNN attention: " + e.get_message()).c_str());
  }

 private:
  CudnnAttentionKernel() = default;

  // What a built graph depends on: the device, dtype, every operand's dims and strides (offsets are
  // applied to the pointers), the scale, causal and the mask's form. Layers of one signature (a
  // transformer's every layer) share one graph and plan in the process.
  std::string signature(DataType t, float scale, bool causal, bool mask) const {
    int device = 0;
    cudaGetDevice(&device);
    uint32_t scale_bits = 0;  // exactly: layers whose scales differ in the last bit do not share
    std::memcpy(&scale_bits, &scale, sizeof scale_bits);
    std::string key = std::to_string(device) + " " + to_string(t) + " " + std::to_string(scale_bits) + " " +
                      std::to_string(causal) + " " + std::to_string(mask);
    for (const Operand4* o : {&q_, &k_, &v_, &o_, &bias_}) {
      key += " |";
      for (int64_t d : o->dims) key += " " + std::to_string(d);
      key += " :";
      for (int64_t d : o->strides) key += " " + std::to_string(d);
    }
    return key;
  }

  struct Built {
    std::shared_ptr<fe::graph::Graph> graph;  // null: cuDNN refused this signature, for `why`
    size_t workspace = 0;
    std::string why;
  };
  static ProcessCache<Built>& built_graphs() {
    static ProcessCache<Built> cache(256);
    return cache;
  }

  // Builds graph_ (null on failure, with the reason in `why`), or takes the process's graph of the
  // same signature.
  bool build(const KernelSpec& s, DataType t, float scale, bool causal, bool mask, std::string& why) {
    const std::string key = signature(t, scale, causal, mask);
    if (std::optional<Built> b = built_graphs().find(key)) {  // refusals too: a failed try costs as much
      graph_ = b->graph;
      workspace_ = b->workspace;
      why = b->why;
      return graph_ != nullptr;
    }
    const bool ok = build_new(s, t, scale, causal, mask, why);
    built_graphs().insert(key, ok ? Built{graph_, workspace_, ""} : Built{nullptr, 0, why});
    return ok;
  }

  bool build_new(const KernelSpec& s, DataType t, float scale, bool causal, bool mask, std::string& why) {
    (void)s;
    using TA = fe::graph::Tensor_attributes;
    auto g = std::make_shared<fe::graph::Graph>();
    g->set_io_data_type(t == DataType::kFloat16 ? fe::DataType_t::HALF : fe::DataType_t::BFLOAT16)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    auto tensor = [&](const char* name, Uid uid, const Operand4& o) {
      return g->tensor(TA().set_name(name).set_uid(uid).set_dim(o.dims).set_stride(o.strides));
    };
    auto Q = tensor("Q", kQ, q_), K = tensor("K", kK, k_), V = tensor("V", kV, v_);
    auto options = fe::graph::SDPA_attributes().set_name("attention").set_generate_stats(false).set_attn_scale(scale);
    if (causal) options.set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT).set_diagonal_band_right_bound(0);
    if (mask) options.set_bias(tensor("bias", kBias, bias_));
    auto [O, stats] = g->sdpa(Q, K, V, options);
    (void)stats;
    O->set_output(true).set_uid(kO).set_dim(o_.dims).set_stride(o_.strides);
    cudnnHandle_t h = cudnn_handle();
    TimedPart part("cuDNN attention plans");
    auto failed = [&](fe::error_t e, const char* step) {
      if (e.is_good()) return false;
      why = std::string(step) + ": " + e.get_message();
      return true;
    };
    if (failed(g->validate(), "validating the graph") || failed(g->build_operation_graph(h), "building the graph") ||
        failed(g->create_execution_plans({fe::HeurMode_t::A}), "querying cuDNN's heuristic") ||
        failed(g->check_support(h), "checking support") || failed(g->build_plans(h), "building the plan"))
      return false;
    int64_t ws = 0;
    if (failed(g->get_workspace_size(ws), "reading the workspace size")) return false;
    workspace_ = static_cast<size_t>(ws);
    graph_ = std::move(g);
    return true;
  }

  std::shared_ptr<fe::graph::Graph> graph_;
  std::unique_ptr<Kernel> fallback_;  // our kernel, for calls whose pointers are not 16-byte aligned
  Operand4 q_, k_, v_, o_, bias_;     // bias_.dims is empty without a mask
  int64_t esize_ = 2;
  DataType dtype_ = DataType::kFloat16;
  int64_t mask_count_ = 0;  // a bool mask's elements, converted to an additive mask in the workspace
  size_t bias_bytes_ = 0;   // the workspace that additive mask takes (0 for other masks)
  size_t workspace_ = 0;    // cuDNN's after bias_bytes_, or our kernel's
};

}  // namespace

std::unique_ptr<Kernel> create_attention_cudnn(const KernelSpec& s) { return CudnnAttentionKernel::create(s); }
bool built_with_cudnn_attention() { return true; }

#else

std::unique_ptr<Kernel> create_attention_cudnn(const KernelSpec&) { return nullptr; }
bool built_with_cudnn_attention() { return false; }

#endif

}  // namespace tensorforge::cuda
