// CPU scaled dot-product attention, one (batch, head) at a time in float32: scores = scale * q k^T
// by sgemm into the workspace, mask (bool: false = -inf; float: added) or causal j > i, a stable
// softmax per row (row max subtracted; a row with nothing to attend gives 0, as PyTorch on CPU),
// then out = p v by sgemm. float16/bfloat16 operands are staged as float32 per head.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common/broadcast.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matrix.h"

namespace tensorforge::cpu {

namespace {

template <class T>
class AttentionKernel : public Kernel {
 public:
  explicit AttentionKernel(const KernelSpec& s) : causal_(ir::attr_int(s.layer, "causal") != 0) {
    const Dims &q = s.inputs[0]->dims, &k = s.inputs[1]->dims, &v = s.inputs[2]->dims;
    int r = q.rank();
    l_ = q[r - 2];
    e_ = q[r - 1];
    s_ = k[r - 2];
    ev_ = v[r - 1];
    std::vector<int64_t> qv = q.vec();
    batch_.assign(qv.begin(), qv.end() - 2);
    for (int64_t d : batch_) batches_ *= d;
    if (r >= 3) {  // grouped-query attention: kv head h / group serves query head h
      heads_ = q[r - 3];
      group_ = k[r - 3] ? q[r - 3] / k[r - 3] : 1;
    }
    double scale = ir::attr_float(s.layer, "scale");
    scale_ = static_cast<float>(scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(e_)));
    if (s.inputs.size() > 3 && s.inputs[3]) {
      mask_ = s.inputs[3]->dtype == DataType::kBool ? kBoolMask : kAddMask;
      std::vector<int64_t> sv = qv;
      sv[r - 1] = s_;
      std::vector<int64_t> st = broadcast_strides(s.inputs[3]->dims, Dims(sv));
      mask_batch_strides_.assign(st.begin(), st.end() - 2);
      mask_row_stride_ = st[r - 2];
      mask_col_stride_ = st[r - 1];
    }
  }

  size_t workspace_size() const override {
    int64_t floats = l_ * s_;
    if (!std::is_same_v<T, float>) floats += l_ * e_ + s_ * e_ + s_ * ev_ + l_ * ev_;
    return static_cast<size_t>(floats) * sizeof(float);
  }

  void run(const TensorView* in, const TensorView* out, void* ws) const override {
    if (out[0].numel() == 0) return;
    const T* q = in[0].as<T>();
    const T* k = in[1].as<T>();
    const T* v = in[2].as<T>();
    const void* mask = mask_ != kNoMask ? in[3].data : nullptr;
    T* o = out[0].as<T>();
    float* scores = static_cast<float*>(ws);
    BatchWalker w(batch_, mask_batch_strides_.empty() ? zeros_ : mask_batch_strides_, zeros_);
    for (int64_t b = 0; b < batches_; ++b, w.next()) {
      int64_t kv = heads_ ? (b / heads_) * (heads_ / group_) + (b % heads_) / group_ : b;
      head(q + b * l_ * e_, k + kv * s_ * e_, v + kv * s_ * ev_, mask, w.a(), o + b * l_ * ev_, scores);
    }
  }

 private:
  enum MaskKind { kNoMask, kBoolMask, kAddMask };

  // One (batch, head): q [L, E], k [S, E], v [S, Ev] -> o [L, Ev]; mask_base offsets the mask.
  void head(const T* q, const T* k, const T* v, const void* mask, int64_t mask_base, T* o, float* scores) const {
    const float *qf, *kf, *vf;
    float* of;
    if constexpr (std::is_same_v<T, float>) {
      qf = q, kf = k, vf = v, of = o;
    } else {
      float* p = scores + l_ * s_;
      load_floats(q, l_ * e_, p);
      qf = p, p += l_ * e_;
      load_floats(k, s_ * e_, p);
      kf = p, p += s_ * e_;
      load_floats(v, s_ * ev_, p);
      vf = p, p += s_ * ev_;
      of = p;
    }
    sgemm(false, true, l_, s_, e_, scale_, qf, e_, kf, e_, 0.0f, scores, s_);
    for (int64_t i = 0; i < l_; ++i) softmax_row(scores + i * s_, i, mask, mask_base + i * mask_row_stride_);
    sgemm(false, false, l_, ev_, s_, 1.0f, scores, s_, vf, ev_, 0.0f, of, ev_);
    if constexpr (!std::is_same_v<T, float>) store_floats(of, l_ * ev_, o);
  }

  // Masks row i of the scores and turns it into probabilities in place.
  void softmax_row(float* row, int64_t i, const void* mask, int64_t moff) const {
    const float kNegInf = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < s_; ++j, moff += mask_col_stride_) {
      if (causal_ && j > i)
        row[j] = kNegInf;
      else if (mask_ == kBoolMask && !static_cast<const bool*>(mask)[moff])
        row[j] = kNegInf;
      else if (mask_ == kAddMask)
        row[j] += static_cast<float>(load(static_cast<const T*>(mask), moff));
    }
    float mx = kNegInf;
    for (int64_t j = 0; j < s_; ++j) mx = std::max(mx, row[j]);
    if (mx == kNegInf) {  // nothing to attend: PyTorch's CPU kernels give a zero row
      for (int64_t j = 0; j < s_; ++j) row[j] = 0.0f;
      return;
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < s_; ++j) sum += (row[j] = std::exp(row[j] - mx));
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < s_; ++j) row[j] *= inv;
  }

  bool causal_;
  int64_t l_ = 0, e_ = 0, s_ = 0, ev_ = 0, batches_ = 1, heads_ = 0, group_ = 1;
  float scale_ = 1.0f;
  std::vector<int64_t> batch_, mask_batch_strides_, zeros_ = std::vector<int64_t>(kMaxDims, 0);
  int64_t mask_row_stride_ = 0, mask_col_stride_ = 0;
  MaskKind mask_ = kNoMask;
};

}  // namespace

std::unique_ptr<Kernel> create_attention(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<AttentionKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
