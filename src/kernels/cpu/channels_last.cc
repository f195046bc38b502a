// The CPU kernels of channels-last ("nhwc") convolution and (adaptive) pooling layers: an adapter
// around the channels-first kernel. It converts the input (and a convolution's weight) to channels
// first in the workspace, runs the channels-first kernel there, and converts the output back, so
// that graphs the channels_last pass rewrote for CUDA run (and are checked) on the CPU too. oneDNN's
// convolutions and float32 2-D pooling (pooling_nhwc.cc) take channels last in place instead.
#include <cstring>

#include "ir/layout.h"
#include "kernels/cpu/spatial.h"

namespace tensorforge::cpu {

namespace {

// dst[b][c][r] = src[b][r][c] over [batch, rows, cols] elements of `esize` bytes.
void transpose_batched(const void* src, void* dst, int64_t batch, int64_t rows, int64_t cols, size_t esize) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  const int64_t plane = rows * cols;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        std::memcpy(d + ((b * plane) + c * rows + r) * esize, s + ((b * plane) + r * cols + c) * esize, esize);
}

// Channels last -> first of a [N, *spatial, C] tensor, or back (`to_first` false: src is [N, C, *spatial]).
void convert(const void* src, void* dst, const Dims& last_dims, size_t esize, bool to_first) {
  const int64_t n = last_dims[0], c = last_dims[last_dims.rank() - 1];
  if (n * c == 0) return;
  const int64_t spatial = last_dims.volume() / (n * c);
  if (to_first)
    transpose_batched(src, dst, n, spatial, c, esize);
  else
    transpose_batched(src, dst, n, c, spatial, esize);
}

class ChannelsLastKernel : public Kernel {
 public:
  ChannelsLastKernel(const KernelSpec& s, std::unique_ptr<Kernel> (*create)(const KernelSpec&)) : layer_(s.layer) {
    layer_.attrs["layout"] = std::string("nchw");
    // x, and a convolution's weight and residual, are channels last; a bias is not.
    const bool conv = s.layer.kind == LayerKind::kConvolution;
    for (size_t i = 0; i < s.inputs.size(); ++i) permuted_.push_back(s.inputs[i] && (i == 0 || (conv && i != 2)));
    descs_.reserve(s.inputs.size() + s.outputs.size());
    std::vector<const ir::TensorDesc*> ins, outs;
    for (size_t i = 0; i < s.inputs.size(); ++i) ins.push_back(view(s.inputs[i], permuted_[i]));
    for (const ir::TensorDesc* t : s.outputs) outs.push_back(view(t, true));
    inner_ = create(KernelSpec{layer_, ins, outs, s.config, s.hints});
    if (!inner_) return;
    for (size_t i = 0; i < ins.size(); ++i) in_dims_.push_back(ins[i] ? ins[i]->dims : Dims{});
    out_dims_ = outs[0]->dims;
    for (size_t i = 0; i < ins.size(); ++i)
      if (permuted_[i]) staging_ += align64(bytes(*ins[i]));
    staging_ += align64(bytes(*outs[0]));
  }
  bool ok() const { return inner_ != nullptr; }

  size_t workspace_size() const override { return staging_ + inner_->workspace_size(); }

  void run(const TensorView* in, const TensorView* out, void* workspace) const override {
    char* ws = static_cast<char*>(workspace);
    const size_t esize = element_size(out[0].dtype);
    std::vector<TensorView> ins(in, in + in_dims_.size());
    for (size_t i = 0; i < ins.size(); ++i) {
      if (!permuted_[i]) continue;
      ins[i].data = ws;
      ins[i].dims = in_dims_[i];
      convert(in[i].data, ws, in[i].dims, esize, true);
      ws += align64(static_cast<size_t>(in[i].dims.volume()) * esize);
    }
    TensorView y = out[0];
    y.data = ws;
    y.dims = out_dims_;
    ws += align64(static_cast<size_t>(out_dims_.volume()) * esize);
    inner_->run(ins.data(), &y, ws);
    convert(y.data, out[0].data, out[0].dims, esize, false);
  }

 private:
  static size_t bytes(const ir::TensorDesc& t) { return static_cast<size_t>(t.dims.volume()) * element_size(t.dtype); }

  // The channels-first description of `t` (a copy kept alive with the kernel) when `permute`.
  const ir::TensorDesc* view(const ir::TensorDesc* t, bool permute) {
    if (!t || !permute) return t;
    descs_.push_back(*t);
    descs_.back().dims = ir::channels_first_view(t->dims, true);
    return &descs_.back();
  }

  ir::Layer layer_;
  std::vector<ir::TensorDesc> descs_;
  std::unique_ptr<Kernel> inner_;
  std::vector<Dims> in_dims_;
  Dims out_dims_;
  std::vector<bool> permuted_;  // per input: converted to channels first
  size_t staging_ = 0;
};

}  // namespace

std::unique_ptr<Kernel> with_layout(const KernelSpec& s, std::unique_ptr<Kernel> (*create)(const KernelSpec&)) {
  if (!ir::is_channels_last(s.layer)) return create(s);
  auto k = std::make_unique<ChannelsLastKernel>(s, create);
  if (!k->ok()) return nullptr;
  return k;
}

}  // namespace tensorforge::cpu
