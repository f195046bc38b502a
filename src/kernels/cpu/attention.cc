// CPU scaled dot-product attention, the (batch, head) pairs split over the CPU threads, each in
// float32: scores = scale * q k^T by sgemm into the workspace, mask (bool: false = -inf; float:
// added) or causal j > i, a stable softmax per row (row_math.h's vectorized loops; a row with
// nothing to attend gives 0, as PyTorch on CPU), then out = p v by sgemm. float16/bfloat16 operands
// are staged as float32 per head. Operands are read, and the output written, through the layer's views
// (ir/attention_views.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common/broadcast.h"
#include "ir/attention_views.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matrix.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_math.h"

namespace tensorforge::cpu {

namespace {

template <class T>
class AttentionKernel : public Kernel {
 public:
  explicit AttentionKernel(const KernelSpec& s) : causal_(ir::attr_int(s.layer, "causal") != 0) {
    const ir::StridedOperand qo = ir::attention_operand(s.layer, 0, s.inputs[0]->dims);
    const ir::StridedOperand ko = ir::attention_operand(s.layer, 1, s.inputs[1]->dims);
    const ir::StridedOperand vo = ir::attention_operand(s.layer, 2, s.inputs[2]->dims);
    const Dims &q = qo.dims, &k = ko.dims, &v = vo.dims;
    int r = q.rank();
    l_ = q[r - 2];
    e_ = q[r - 1];
    s_ = k[r - 2];
    ev_ = v[r - 1];
    std::vector<int64_t> qv = q.vec();
    batch_.assign(qv.begin(), qv.end() - 2);
    for (int64_t d : batch_) batches_ *= d;
    if (r >= 3) {  // grouped-query attention: kv head h / group serves query head h
      group_ = k[r - 3] ? q[r - 3] / k[r - 3] : 1;
    }
    std::vector<int64_t> ov = q.vec();
    ov[r - 1] = ev_;
    const std::vector<int64_t> os = ir::attention_output_strides(s.layer, Dims(ov));
    q_row_ = qo.strides[r - 2], k_row_ = ko.strides[r - 2], v_row_ = vo.strides[r - 2], o_row_ = os[r - 2];
    // float32 operands go to sgemm in place unless a view's rows overlap (a leading dim < the row).
    direct_ = std::is_same_v<T, float> && q_row_ >= std::max<int64_t>(e_, 1) && k_row_ >= std::max<int64_t>(e_, 1) &&
              v_row_ >= std::max<int64_t>(ev_, 1) && o_row_ >= std::max<int64_t>(ev_, 1);
    // Each (batch, head)'s first element in every operand; key/value heads serve `group_` query heads.
    for (int64_t b = 0; b < batches_; ++b) {
      int64_t qoff = qo.offset, koff = ko.offset, voff = vo.offset, ooff = 0, rest = b;
      for (int d = r - 3; d >= 0; --d) {
        const int64_t i = rest % q[d], kv = d == r - 3 ? i / group_ : i;
        rest /= q[d];
        qoff += i * qo.strides[d], koff += kv * ko.strides[d], voff += kv * vo.strides[d], ooff += i * os[d];
      }
      offsets_.push_back({qoff, koff, voff, ooff, 0});
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
    BatchWalker w(batch_, mask_batch_strides_.empty() ? zeros_ : mask_batch_strides_, zeros_);
    for (int64_t b = 0; b < batches_; ++b, w.next()) offsets_[b].mask = w.a();
    // Heads run side by side on the CPU threads, each range of heads with its own slot of the
    // workspace (at most kSlots, and at most 64 MB of slots beyond the first).
    const int64_t per_head = head_floats() * static_cast<int64_t>(sizeof(float));
    slots_ = std::clamp<int64_t>(std::min<int64_t>(kSlots, (int64_t(64) << 20) / std::max<int64_t>(per_head, 1)), 1,
                                 std::max<int64_t>(batches_, 1));
  }

  size_t workspace_size() const override { return static_cast<size_t>(head_floats() * slots_) * sizeof(float); }

  void run(const TensorView* in, const TensorView* out, void* ws) const override {
    if (out[0].numel() == 0) return;
    const T* q = in[0].as<T>();
    const T* k = in[1].as<T>();
    const T* v = in[2].as<T>();
    const void* mask = mask_ != kNoMask ? in[3].data : nullptr;
    T* o = out[0].as<T>();
    const int64_t per_slot = (batches_ + slots_ - 1) / slots_;
    // Each slot's heads in order, on one thread; the products and softmax rows inside a head then
    // run inline (the pool is busy with the slots), unless there is one slot.
    parallel_for(slots_, 1, [&](int64_t s0, int64_t s1) {
      for (int64_t slot = s0; slot < s1; ++slot) {
        float* scores = static_cast<float*>(ws) + slot * head_floats();
        for (int64_t b = slot * per_slot; b < std::min(batches_, (slot + 1) * per_slot); ++b) {
          const Offsets& f = offsets_[b];
          head(q + f.q, k + f.k, v + f.v, mask, f.mask, o + f.o, scores);
        }
      }
    });
  }

 private:
  enum MaskKind { kNoMask, kBoolMask, kAddMask };

  // One (batch, head): q [L, E], k [S, E], v [S, Ev] -> o [L, Ev], rows q_row_, k_row_, v_row_ and
  // o_row_ elements apart; mask_base offsets the mask.
  void head(const T* q, const T* k, const T* v, const void* mask, int64_t mask_base, T* o, float* scores) const {
    const float *qf = nullptr, *kf = nullptr, *vf = nullptr;
    float* of = nullptr;
    int64_t lq = q_row_, lk = k_row_, lv = v_row_, lo = o_row_;
    if (direct_) {
      if constexpr (std::is_same_v<T, float>) qf = q, kf = k, vf = v, of = o;
    } else {  // staged as float32, rows packed
      float* p = scores + l_ * s_;
      qf = stage(q, l_, e_, q_row_, p), p += l_ * e_;
      kf = stage(k, s_, e_, k_row_, p), p += s_ * e_;
      vf = stage(v, s_, ev_, v_row_, p), p += s_ * ev_;
      of = p;
      lq = lk = e_, lv = lo = ev_;
    }
    sgemm(false, true, l_, s_, e_, scale_, qf, lq, kf, lk, 0.0f, scores, s_);
    parallel_for(l_, row_grain(s_), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) softmax_row(scores + i * s_, i, mask, mask_base + i * mask_row_stride_);
    });
    sgemm(false, false, l_, ev_, s_, 1.0f, scores, s_, vf, lv, 0.0f, of, lo);
    if (!direct_)
      for (int64_t i = 0; i < l_; ++i) store_floats(of + i * ev_, ev_, o + i * o_row_);
  }

  // Rows [rows, cols] `ld` elements apart -> packed float32 at dst.
  static const float* stage(const T* src, int64_t rows, int64_t cols, int64_t ld, float* dst) {
    for (int64_t i = 0; i < rows; ++i) load_floats(src + i * ld, cols, dst + i * cols);
    return dst;
  }

  // Masks row i of the scores and turns it into probabilities in place. Causal rows are softmaxed
  // over their first i + 1 scores only and the rest set to 0.
  void softmax_row(float* row, int64_t i, const void* mask, int64_t moff) const {
    const float kNegInf = -std::numeric_limits<float>::infinity();
    const int64_t n = causal_ ? std::min(s_, i + 1) : s_;
    if (mask_ == kBoolMask) {
      for (int64_t j = 0; j < n; ++j, moff += mask_col_stride_)
        if (!static_cast<const bool*>(mask)[moff]) row[j] = kNegInf;
    } else if (mask_ == kAddMask) {
      for (int64_t j = 0; j < n; ++j, moff += mask_col_stride_)
        row[j] += static_cast<float>(load(static_cast<const T*>(mask), moff));
    }
    cpu::softmax_row(row, row, n, 0.0f);  // nothing to attend: PyTorch's CPU kernels give a zero row
    std::fill(row + n, row + s_, 0.0f);
  }

  // Workspace floats of one head: its scores, and its operands staged as float32 unless direct_.
  int64_t head_floats() const {
    int64_t floats = l_ * s_;
    if (!direct_) floats += l_ * e_ + s_ * e_ + s_ * ev_ + l_ * ev_;
    return floats;
  }

  static constexpr int64_t kSlots = 8;
  struct Offsets {
    int64_t q, k, v, o, mask = 0;
  };
  bool causal_;
  bool direct_ = false;
  int64_t l_ = 0, e_ = 0, s_ = 0, ev_ = 0, batches_ = 1, group_ = 1;
  int64_t q_row_ = 0, k_row_ = 0, v_row_ = 0, o_row_ = 0;
  std::vector<Offsets> offsets_;  // per (batch, head)
  float scale_ = 1.0f;
  std::vector<int64_t> batch_, mask_batch_strides_, zeros_ = std::vector<int64_t>(kMaxDims, 0);
  int64_t mask_row_stride_ = 0, mask_col_stride_ = 0;
  MaskKind mask_ = kNoMask;
  int64_t slots_ = 1;  // ranges of heads run side by side, each with its own workspace
};

}  // namespace

std::unique_ptr<Kernel> create_attention(const KernelSpec& s) {
  return dispatch_floating(s.inputs[0]->dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    return std::make_unique<AttentionKernel<typename decltype(tag)::type>>(s);
  });
}

}  // namespace tensorforge::cpu
