// Channels-last layout assignment (see channels_last.h).
#include "opt/channels_last.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "ir/layout.h"
#include "opt/constant_memo.h"
#include "opt/rebuild.h"

namespace tensorforge {

namespace {

// NCHW -> NHWC and back, as transpose permutations.
const std::vector<int64_t> kToLast = {0, 2, 3, 1};
const std::vector<int64_t> kToFirst = {0, 3, 1, 2};

bool rank4(const ir::Graph& g, int id) { return id >= 0 && g.tensors[id].dims.rank() == 4; }

// A quantize or dequantize with one scale (and zero point) for the whole tensor: element by element.
bool per_tensor_quantize(const ir::Graph& g, const ir::Layer& l) {
  if (l.kind != LayerKind::kQuantize && l.kind != LayerKind::kDequantize) return false;
  for (size_t i = 1; i < l.inputs.size(); ++i)
    if (l.inputs[i] >= 0 && g.tensors[l.inputs[i]].dims.volume() != 1) return false;
  return true;
}

// Layers that compute element by element, so any layout of their operands works.
bool layout_free(const ir::Graph& g, const ir::Layer& l) {
  switch (l.kind) {
    case LayerKind::kElementwise:
    case LayerKind::kUnary:
    case LayerKind::kActivation:
    case LayerKind::kCast:
    case LayerKind::kSelect:
      return l.outputs.size() == 1;
    default:
      return per_tensor_quantize(g, l);
  }
}

// Convolution and (adaptive) pooling over rank-4 tensors: they take layout "nhwc".
bool spatial(const ir::Graph& g, const ir::Layer& l) {
  bool kind = l.kind == LayerKind::kConvolution || l.kind == LayerKind::kPooling ||
              l.kind == LayerKind::kAdaptivePooling;
  return kind && rank4(g, l.inputs[0]) && (l.kind != LayerKind::kConvolution || rank4(g, l.inputs[1])) &&
         non_empty(g, l) && !ir::is_channels_last(l);
}

// The NHWC axis of NCHW axis `a` (0..3).
int64_t last_axis(int64_t a) {
  for (int k = 0; k < 4; ++k)
    if (kToLast[k] == a) return k;
  return a;
}

// Longest reduction a channels-last reduce may run. When the CUDA reduce gave each output (n, c) of
// a reduction over H and W one thread walking the whole plane, nine squeeze-excite means of
// MobileNetV3 (planes up to 56 x 56) took 1.04 ms on the H200 at batch 1, against 0.48 ms for the
// whole model with transposes around them, and this was 64. Its column kernel (a block per 32
// adjacent channels, the plane split 16 ways) reads the NHWC tensor once: no limit now.
constexpr int64_t kMaxChannelsLastReduction = std::numeric_limits<int64_t>::max();

// A reduce over a rank-4 tensor whose NHWC form gives the same output: with keepdim (the output is
// rank 4 and joins the region), or when the kept axes come in the same order in both layouts; and
// whose reduction is short (above).
bool reduce_reads_either(const ir::Graph& g, const ir::Layer& l, bool& keeps_rank) {
  if (l.kind != LayerKind::kReduce || !rank4(g, l.inputs[0])) return false;
  const Dims& x = g.tensors[l.inputs[0]].dims;
  if (x.volume() / std::max<int64_t>(1, g.tensors[l.outputs[0]].dims.volume()) > kMaxChannelsLastReduction)
    return false;
  keeps_rank = ir::attr_int(l, "keepdim") != 0;
  if (keeps_rank) return true;
  std::vector<bool> reduced(4, ir::attr_ints(l, "axes").empty());
  for (int64_t a : ir::attr_ints(l, "axes")) reduced[a < 0 ? a + 4 : a] = true;
  std::vector<int64_t> first, last;
  for (int64_t a = 0; a < 4; ++a) {
    if (!reduced[a]) first.push_back(a);
    if (!reduced[kToLast[a]]) last.push_back(kToLast[a]);
  }
  return first == last;
}

// A convolution that gains from channels last: tensor cores in float16/bfloat16, and where
// `float32`, oneDNN's NHWC kernels on the CPU in float32 (its weight a constant).
bool wants_channels_last(const ir::Graph& g, const ir::Layer& l, bool float32) {
  const DataType t = g.tensors[l.outputs[0]].dtype;
  if (l.kind != LayerKind::kConvolution || !spatial(g, l)) return false;
  if (float32) {
    const int w = g.tensors[l.inputs[1]].producer;
    return t == DataType::kFloat32 && w >= 0 && g.layers[w].kind == LayerKind::kConstant;
  }
  return t == DataType::kFloat16 || t == DataType::kBFloat16;
}

struct UnionFind {
  std::vector<int> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int x) { return parent[x] == x ? x : parent[x] = find(parent[x]); }
  void join(int a, int b) { parent[find(a)] = find(b); }
};

// Dims `d` permuted: out[i] = d[perm[i]].
Dims permuted(const Dims& d, const std::vector<int64_t>& perm) {
  Dims r = d;
  for (int i = 0; i < d.rank(); ++i) r[i] = d[static_cast<int>(perm[i])];
  return r;
}

// Whether permuting `d` by `perm` keeps the elements' memory order (only extent-1 dims move).
bool order_kept(const Dims& d, const std::vector<int64_t>& perm) {
  int last = -1;
  for (int64_t p : perm) {
    if (d[static_cast<int>(p)] == 1) continue;
    if (p < last) return false;
    last = static_cast<int>(p);
  }
  return true;
}

// out[i0][i1][i2][i3] = in at element offset i0 * s[0] + ... + i3 * s[3], elements of type T.
template <class T>
void gather4(const T* in, T* out, const Dims& o, const int64_t s[4]) {
  for (int64_t i0 = 0; i0 < o[0]; ++i0)
    for (int64_t i1 = 0; i1 < o[1]; ++i1)
      for (int64_t i2 = 0; i2 < o[2]; ++i2) {
        const T* row = in + i0 * s[0] + i1 * s[1] + i2 * s[2];
        for (int64_t i3 = 0; i3 < o[3]; ++i3) *out++ = row[i3 * s[3]];
      }
}

// The constant `w` (rank 4) with its dims permuted by `perm` and its data moved to match.
Weights permute_weights(const Weights& w, const std::vector<int64_t>& perm) {
  const Dims& d = w.dims();
  const Dims out = permuted(d, perm);
  const size_t esize = element_size(w.dtype());
  std::vector<uint8_t> bytes(static_cast<size_t>(d.volume()) * esize);
  int64_t in_strides[4], step = 1, s[4];
  for (int k = 3; k >= 0; --k) {
    in_strides[k] = step;
    step *= d[k];
  }
  for (int k = 0; k < 4; ++k) s[k] = in_strides[perm[k]];
  switch (esize) {  // elements moved as unsigned integers of their size
    case 1: gather4(static_cast<const uint8_t*>(w.data()), bytes.data(), out, s); break;
    case 2: gather4(static_cast<const uint16_t*>(w.data()), reinterpret_cast<uint16_t*>(bytes.data()), out, s); break;
    case 4: gather4(static_cast<const uint32_t*>(w.data()), reinterpret_cast<uint32_t*>(bytes.data()), out, s); break;
    default: gather4(static_cast<const uint64_t*>(w.data()), reinterpret_cast<uint64_t*>(bytes.data()), out, s); break;
  }
  return Weights(w.dtype(), out, bytes.data());
}

class Rewriter {
 public:
  Rewriter(const ir::Graph& g, std::vector<bool> last, std::vector<bool> reads_last)
      : g_(g), last_(std::move(last)), reads_last_(std::move(reads_last)), rb_(g) {
    to_last_.assign(g.tensors.size(), -1);
    to_first_.assign(g.tensors.size(), -1);
  }

  ir::Graph run() {
    for (size_t li = 0; li < g_.layers.size(); ++li) {
      const ir::Layer& l = g_.layers[li];
      const bool in_region = (!l.outputs.empty() && last_[l.outputs[0]]) || reads_last_[li];
      if (!in_region) {
        if (l.kind == LayerKind::kConstant) {
          rb_.copy(static_cast<int>(li));
          continue;
        }
        std::vector<int> ins;
        for (int id : l.inputs) ins.push_back(channels_first(id));
        rb_.replace(static_cast<int>(li), l.kind, ins, l.attrs, l.name);
        continue;
      }
      Attributes attrs = l.attrs;
      std::vector<int> ins;
      if (l.kind == LayerKind::kConvolution || l.kind == LayerKind::kPooling ||
          l.kind == LayerKind::kAdaptivePooling) {
        attrs["layout"] = std::string("nhwc");
        ins.push_back(channels_last(l.inputs[0]));
        if (l.kind == LayerKind::kConvolution) {
          ins.push_back(operand(l.inputs[1]));  // [Cout, Cin/g, kh, kw] -> [Cout, kh, kw, Cin/g]
          if (l.inputs.size() > 2) ins.push_back(rb_.map(l.inputs[2]));
          if (l.inputs.size() > 3) ins.push_back(l.inputs[3] < 0 ? -1 : channels_last(l.inputs[3]));  // residual
        }
      } else if (l.kind == LayerKind::kConcat) {
        int64_t axis = ir::attr_int(l, "axis");
        if (axis < 0) axis += 4;
        for (int k = 0; k < 4; ++k)
          if (kToLast[k] == axis) attrs["axis"] = int64_t(k);
        for (int id : l.inputs) ins.push_back(channels_last(id));
      } else if (l.kind == LayerKind::kPad) {  // begins then ends per axis, both permuted
        const std::vector<int64_t>& pads = ir::attr_ints(l, "pads");
        std::vector<int64_t> moved(8);
        for (int k = 0; k < 4; ++k) {
          moved[k] = pads[kToLast[k]];
          moved[4 + k] = pads[4 + kToLast[k]];
        }
        attrs["pads"] = moved;
        ins.push_back(channels_last(l.inputs[0]));
      } else if (l.kind == LayerKind::kReduce) {
        std::vector<int64_t> axes;
        for (int64_t a : ir::attr_ints(l, "axes")) axes.push_back(last_axis(a < 0 ? a + 4 : a));
        std::sort(axes.begin(), axes.end());
        attrs["axes"] = axes;
        ins.push_back(channels_last(l.inputs[0]));
      } else if (per_tensor_quantize(g_, l)) {  // the data channels last; the scale and zero point as they are
        ins.push_back(channels_last(l.inputs[0]));
        for (size_t i = 1; i < l.inputs.size(); ++i) ins.push_back(rb_.map(l.inputs[i]));
      } else {  // layout-free
        for (int id : l.inputs) ins.push_back(operand(id));
      }
      rb_.replace(static_cast<int>(li), l.kind, ins, attrs, l.name);
    }
    // Outputs stay NCHW under their names; the region's tensor takes another name.
    for (int id : g_.outputs)
      if (last_[id]) rb_.substitute(id, channels_first(id), ".nhwc");
    return rb_.finish();
  }

 private:
  bool produced_last(int id) const { return last_[id] && g_.tensors[id].producer >= 0; }

  // A conversion of new tensor `nid` (dims `d`) by `perm`: a reshape when only extent-1 dims move.
  int convert(int nid, const Dims& d, const std::vector<int64_t>& perm, const std::string& name) {
    if (order_kept(d, perm)) {
      const Dims out = permuted(d, perm);
      return rb_.add(LayerKind::kReshape, {nid}, {{"shape", out.vec()}}, name);
    }
    return rb_.add(LayerKind::kTranspose, {nid}, {{"perm", perm}}, name);
  }

  // Old tensor `id` in the new graph, channels first.
  int channels_first(int id) {
    if (id < 0 || !produced_last(id)) return rb_.map(id);
    if (to_first_[id] < 0) {
      const Dims d = permuted(g_.tensors[id].dims, kToLast);
      to_first_[id] = convert(rb_.map(id), d, kToFirst, g_.tensors[id].name + ".to_nchw");
    }
    return to_first_[id];
  }

  // A rank-4 constant channels last; a dynamic engine's plans derive it once (opt/constant_memo.h).
  static Weights nhwc_constant(const Weights& w) {
    return opt::derived_constant("nhwc " + w.dims().str(), {w}, [&] { return permute_weights(w, kToLast); });
  }

  // Old rank-4 tensor `id` in the new graph, channels last.
  int channels_last(int id) {
    if (produced_last(id)) return rb_.map(id);
    if (to_last_[id] < 0) {
      if (is_constant(g_, id)) {
        const Weights& w = constant_value(g_, id);
        to_last_[id] = rb_.constant(nhwc_constant(w), g_.tensors[id].name + ".nhwc");
      } else {
        to_last_[id] = convert(rb_.map(id), g_.tensors[id].dims, kToLast, g_.tensors[id].name + ".to_nhwc");
      }
    }
    return to_last_[id];
  }

  // An operand of a layout-free layer (or a convolution's weight) in the region: rank-4 operands
  // channels last; lower ranks broadcast from the right, so they become rank 4 and are permuted too.
  int operand(int id) {
    if (id < 0) return id;
    const Dims& d = g_.tensors[id].dims;
    if (d.rank() == 4) return channels_last(id);
    if (to_last_[id] >= 0) return to_last_[id];
    Dims d4{1, 1, 1, 1};
    for (int i = 0; i < d.rank(); ++i) d4[4 - d.rank() + i] = d[i];
    const std::string name = g_.tensors[id].name + ".nhwc";
    if (is_constant(g_, id)) {
      const Weights& w = constant_value(g_, id);
      to_last_[id] = rb_.constant(nhwc_constant(Weights(w.dtype(), d4, w.data())), name);
    } else {
      int r = rb_.add(LayerKind::kReshape, {rb_.map(id)}, {{"shape", d4.vec()}}, name + ".rank4");
      to_last_[id] = convert(r, d4, kToLast, name);
    }
    return to_last_[id];
  }

  const ir::Graph& g_;
  std::vector<bool> last_;        // per old tensor: in a channels-last region
  std::vector<bool> reads_last_;  // per old layer: reads its rank-4 input channels last (a reduce)
  GraphRebuilder rb_;
  std::vector<int> to_last_, to_first_;  // per old tensor: its converted copy in the new graph, or -1
};

}  // namespace

namespace {

ir::Graph assign_channels_last(const ir::Graph& g, bool float32) {
  UnionFind regions(g.tensors.size());
  std::vector<bool> joins(g.layers.size(), false);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.outputs.empty() || !rank4(g, l.outputs[0])) continue;
    bool keeps_rank = false;
    const bool pad = l.kind == LayerKind::kPad && rank4(g, l.inputs[0]) && ir::attr_ints(l, "pads").size() == 8;
    if (spatial(g, l) || pad || (reduce_reads_either(g, l, keeps_rank) && keeps_rank)) {
      regions.join(l.inputs[0], l.outputs[0]);
      if (l.inputs.size() > 3 && l.inputs[3] >= 0) regions.join(l.inputs[3], l.outputs[0]);  // a residual
    } else if (layout_free(g, l) || l.kind == LayerKind::kConcat) {
      for (int id : l.inputs)  // lower-rank operands broadcast; concat's inputs all have its rank
        if (rank4(g, id)) regions.join(id, l.outputs[0]);
    } else {
      continue;
    }
    joins[li] = true;
  }
  std::vector<bool> wanted(g.tensors.size(), false);
  bool any = false;
  for (const ir::Layer& l : g.layers)
    if (wants_channels_last(g, l, float32)) {
      wanted[regions.find(l.outputs[0])] = true;
      any = true;
    }
  if (!any) return g;
  // A tensor is channels last when its region is wanted and it is rank 4 and joined (produced by a
  // joining layer, or a network input or constant that only such layers read).
  std::vector<bool> last(g.tensors.size(), false), reads_last(g.layers.size(), false);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    bool keeps_rank = false;
    if (joins[li])
      for (int id : l.outputs) last[id] = rank4(g, id) && wanted[regions.find(id)];
    else if (reduce_reads_either(g, l, keeps_rank))  // the output has a lower rank: it stays as it is
      reads_last[li] = wanted[regions.find(l.inputs[0])];
  }
  return Rewriter(g, std::move(last), std::move(reads_last)).run();
}

}  // namespace

ir::Graph channels_last(const ir::Graph& g) { return assign_channels_last(g, false); }

ir::Graph channels_last_float32(const ir::Graph& g) { return assign_channels_last(g, true); }

}  // namespace tensorforge
