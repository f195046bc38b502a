// GraphRebuilder and graph queries shared by the builder's passes.
#include "opt/rebuild.h"

#include <algorithm>
#include <system_error>
#include <thread>

#include "common/half.h"

namespace tensorforge {

GraphRebuilder::GraphRebuilder(const ir::Graph& old) : old_(old), map_(old.tensors.size(), -1) {
  for (int id : old.inputs) {
    const ir::TensorDesc& t = old.tensors[id];
    map_[id] = out_.add_tensor(t.name, t.dtype, t.dims, -1, 0);
    out_.inputs.push_back(map_[id]);
  }
}

std::vector<int> GraphRebuilder::map(const std::vector<int>& ids) const {
  std::vector<int> v;
  for (int id : ids) v.push_back(map(id));
  return v;
}

void GraphRebuilder::take_outputs(int old_layer, int new_layer) {
  const std::vector<int>& olds = old_.layers[old_layer].outputs;
  for (size_t i = 0; i < olds.size(); ++i) {
    int nid = out_.layers[new_layer].outputs[i];
    map_[olds[i]] = nid;
    if (!out_.by_name.count(old_.tensors[olds[i]].name)) out_.rename(nid, old_.tensors[olds[i]].name);
  }
}

void GraphRebuilder::set_origins(int new_layer, std::vector<int> old_layers) {
  std::sort(old_layers.begin(), old_layers.end());  // network order
  std::vector<std::string>& o = out_.layers[new_layer].origins;
  o.clear();
  for (int li : old_layers)
    for (const std::string& name : old_.layers[li].origins)
      if (std::find(o.begin(), o.end(), name) == o.end()) o.push_back(name);
}

void GraphRebuilder::copy(int li) {
  const ir::Layer& l = old_.layers[li];
  const int nl = out_.add_layer(l.kind, map(l.inputs), l.attrs, l.name);
  out_.layers[nl].origins = l.origins;
  take_outputs(li, nl);
}

void GraphRebuilder::replace(int replaces, LayerKind kind, const std::vector<int>& new_inputs,
                             const Attributes& attrs, const std::string& name, const std::vector<int>& folded) {
  const int nl = out_.add_layer(kind, new_inputs, attrs, name);
  std::vector<int> from = folded;
  from.insert(from.begin(), replaces);
  set_origins(nl, from);
  take_outputs(replaces, nl);
}

void GraphRebuilder::replace_tensors(const std::vector<int>& replaces, LayerKind kind,
                                     const std::vector<int>& new_inputs, const Attributes& attrs,
                                     const std::string& name, const std::vector<int>& folded) {
  int li = out_.add_layer(kind, new_inputs, attrs, name);
  set_origins(li, folded);
  for (size_t i = 0; i < replaces.size(); ++i) {
    int nid = out_.layers[li].outputs.at(i);
    map_[replaces[i]] = nid;
    if (!out_.by_name.count(old_.tensors[replaces[i]].name)) out_.rename(nid, old_.tensors[replaces[i]].name);
  }
}

int GraphRebuilder::add(LayerKind kind, const std::vector<int>& new_inputs, const Attributes& attrs,
                        const std::string& name) {
  int li = out_.add_layer(kind, new_inputs, attrs, name);  // add_layer makes the name unique
  out_.layers[li].origins.clear();
  return out_.layers[li].outputs.at(0);
}

int GraphRebuilder::add_holding(LayerKind kind, const std::vector<int>& new_inputs, const Attributes& attrs,
                                const std::string& name, const std::vector<int>& folded) {
  int li = out_.add_layer(kind, new_inputs, attrs, name);
  set_origins(li, folded);
  return out_.layers[li].outputs.at(0);
}

void GraphRebuilder::substitute(int old, int nid, const std::string& suffix) {
  const std::string& name = old_.tensors[old].name;
  map_[old] = nid;
  auto holder = out_.by_name.find(name);
  if (holder != out_.by_name.end() && holder->second != nid) {
    std::string other = name + suffix;
    for (int k = 2; out_.by_name.count(other); ++k) other = name + suffix + std::to_string(k);
    out_.rename(holder->second, other);
  }
  if (!out_.by_name.count(name)) out_.rename(nid, name);
}

int GraphRebuilder::constant(const Weights& w, const std::string& name) {
  int li = out_.add_layer(LayerKind::kConstant, {}, {{"value", w}}, name);
  out_.layers[li].origins.clear();
  return out_.layers[li].outputs[0];
}

ir::Graph GraphRebuilder::finish() {
  for (int id : old_.outputs) out_.outputs.push_back(map_[id]);
  return std::move(out_);
}

std::vector<std::vector<int>> readers_of(const ir::Graph& g) {
  std::vector<std::vector<int>> readers(g.tensors.size());
  for (size_t li = 0; li < g.layers.size(); ++li)
    for (int id : g.layers[li].inputs)
      if (id >= 0) readers[id].push_back(static_cast<int>(li));
  return readers;
}

std::vector<int> single_readers(const ir::Graph& g) {
  std::vector<int> reader(g.tensors.size(), -1), count(g.tensors.size(), 0);
  for (size_t li = 0; li < g.layers.size(); ++li)
    for (int id : g.layers[li].inputs)
      if (id >= 0) {
        ++count[id];
        reader[id] = static_cast<int>(li);
      }
  for (int id : g.outputs) count[id] += 2;
  for (size_t id = 0; id < reader.size(); ++id)
    if (count[id] != 1) reader[id] = -1;
  return reader;
}

int bias_of_add(const ir::Graph& g, const ir::Layer& add, int x) {
  if (add.kind != LayerKind::kElementwise || ir::attr_string(add, "op") != "add") return -1;
  int other = add.inputs[0] == x ? add.inputs[1] : add.inputs[0];
  if (other == x || !is_constant(g, other)) return -1;
  const ir::TensorDesc &t = g.tensors[x], &b = g.tensors[other];
  if (b.dtype != t.dtype || b.dims.rank() != 1 || b.dims[0] != t.dims[t.dims.rank() - 1]) return -1;
  return other;
}

const Weights& constant_value(const ir::Graph& g, int id) {
  return ir::attr_weights(g.layers[g.tensors[id].producer], "value");
}

Weights float_weights(DataType t, const Dims& dims, const std::vector<double>& v) {
  std::vector<uint8_t> bytes(v.size() * element_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t) {
      case DataType::kFloat32: reinterpret_cast<float*>(bytes.data())[i] = static_cast<float>(v[i]); break;
      case DataType::kFloat16: reinterpret_cast<half_t*>(bytes.data())[i] = to_half(static_cast<float>(v[i])); break;
      case DataType::kBFloat16:
        reinterpret_cast<bfloat16_t*>(bytes.data())[i] = to_bfloat16(static_cast<float>(v[i]));
        break;
      default: break;
    }
  }
  return Weights(t, dims, bytes.data());
}

namespace {

// out[i] = in[i] * scale[block % scale.size()] for the blocks of `inner` elements, rounded through
// float. Large weights are split over threads by whole blocks (the conversions cost a few ns an
// element: ResNet-50's float16 batch-norm folding took 316 ms on one thread of the H200's host).
template <class T, class Load, class Store>
void scale_elements(const void* from, void* to, size_t n, const std::vector<double>& scale, int64_t inner, Load load,
                    Store store) {
  const T* in = static_cast<const T*>(from);
  T* out = static_cast<T*>(to);
  const size_t step = static_cast<size_t>(std::max<int64_t>(inner, 1));
  const size_t blocks = (n + step - 1) / step;
  auto run = [&](size_t first_block, size_t last_block) {
    for (size_t block = first_block; block < last_block; ++block) {
      const double s = scale[block % scale.size()];
      for (size_t i = block * step, end = std::min(n, i + step); i < end; ++i)
        out[i] = store(static_cast<float>(static_cast<double>(load(in[i])) * s));
    }
  };
  constexpr size_t kPerThread = size_t{1} << 18;  // elements below which another thread costs more than it saves
  const size_t threads = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 16, n / kPerThread,
                                           blocks});
  if (threads <= 1) return run(0, blocks);
  std::vector<std::thread> pool;
  const size_t per = (blocks + threads - 1) / threads;
  size_t t = 1;
  try {
    for (; t < threads; ++t) pool.emplace_back(run, std::min(blocks, t * per), std::min(blocks, (t + 1) * per));
  } catch (const std::system_error&) {  // no thread to be had: the ranges left run here
  }
  run(0, std::min(blocks, per));
  for (; t < threads; ++t) run(std::min(blocks, t * per), std::min(blocks, (t + 1) * per));
  for (std::thread& th : pool) th.join();
}

}  // namespace

Weights scaled_weights(const Weights& w, const std::vector<double>& scale, int64_t inner) {
  const size_t n = static_cast<size_t>(w.dims().volume());
  std::vector<uint8_t> bytes(n * element_size(w.dtype()));
  if (n == 0 || scale.empty()) return Weights(w.dtype(), w.dims(), bytes.data());
  switch (w.dtype()) {
    case DataType::kFloat32:
      scale_elements<float>(w.data(), bytes.data(), n, scale, inner, [](float v) { return v; }, [](float v) { return v; });
      break;
    case DataType::kFloat16:
      scale_elements<half_t>(w.data(), bytes.data(), n, scale, inner, [](half_t v) { return to_float(v); },
                             [](float v) { return to_half(v); });
      break;
    case DataType::kBFloat16:
      scale_elements<bfloat16_t>(w.data(), bytes.data(), n, scale, inner, [](bfloat16_t v) { return to_float(v); },
                                 [](float v) { return to_bfloat16(v); });
      break;
    default: break;
  }
  return Weights(w.dtype(), w.dims(), bytes.data());
}

std::vector<double> float_values(const Weights& w) {
  std::vector<double> v(static_cast<size_t>(w.dims().volume()));
  const void* p = w.data();
  for (size_t i = 0; i < v.size(); ++i) {
    switch (w.dtype()) {
      case DataType::kFloat32: v[i] = static_cast<const float*>(p)[i]; break;
      case DataType::kFloat16: v[i] = to_float(static_cast<const half_t*>(p)[i]); break;
      case DataType::kBFloat16: v[i] = to_float(static_cast<const bfloat16_t*>(p)[i]); break;
      default: v[i] = 0; break;
    }
  }
  return v;
}

bool non_empty(const ir::Graph& g, const ir::Layer& l) {
  for (int id : l.inputs)
    if (id >= 0 && g.tensors[id].dims.volume() == 0) return false;
  for (int id : l.outputs)
    if (g.tensors[id].dims.volume() == 0) return false;
  return true;
}

bool is_constant(const ir::Graph& g, int id) {
  int p = id < 0 ? -1 : g.tensors[id].producer;
  return p >= 0 && g.layers[p].kind == LayerKind::kConstant;
}

std::optional<std::vector<std::vector<int>>> dim_groups(const std::vector<int64_t>& fine,
                                                        const std::vector<int64_t>& coarse) {
  std::vector<std::vector<int>> groups(coarse.size());
  size_t p = 0;
  for (size_t i = 0; i < coarse.size(); ++i) {
    int64_t prod = 1;
    while (prod < coarse[i] && p < fine.size()) {
      prod *= fine[p];
      groups[i].push_back(static_cast<int>(p++));
    }
    if (prod != coarse[i]) return std::nullopt;
  }
  for (; p < fine.size(); ++p)
    if (fine[p] != 1) return std::nullopt;
  return groups;
}

bool same_last_two(const Dims& a, const Dims& b) {
  return a.rank() >= 2 && b.rank() >= 2 && a[a.rank() - 1] == b[b.rank() - 1] && a[a.rank() - 2] == b[b.rank() - 2];
}

const ir::Layer* producer(const ir::Graph& g, int id) {
  return id >= 0 && g.tensors[id].producer >= 0 ? &g.layers[g.tensors[id].producer] : nullptr;
}

bool is_op(const ir::Layer* l, LayerKind kind, const char* op) {
  return l && l->kind == kind && (!op || ir::attr_string(*l, "op") == op);
}

std::optional<double> scalar(const ir::Graph& g, int id) {
  const ir::Layer* p = producer(g, id);
  if (!p || p->kind != LayerKind::kConstant) return std::nullopt;
  const Weights& w = ir::attr_weights(*p, "value");
  const DataType t = w.dtype();
  if (w.dims().volume() != 1 || (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16))
    return std::nullopt;
  return float_values(w)[0];
}

}  // namespace tensorforge
