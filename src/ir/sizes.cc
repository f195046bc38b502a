#include "ir/sizes.h"

#include <set>
#include <string>
#include <variant>

namespace tensorforge::ir {

namespace {

std::string range_text(const std::string& name, const SizeRange& r) {
  return name + " (" + std::to_string(r.min) + ".." + std::to_string(r.max) + ")";
}

std::string values_text(const SymBindings& values) {
  std::string s;
  for (const auto& [name, v] : values) s += (s.empty() ? "" : ", ") + name + "=" + std::to_string(v);
  return s;
}

}  // namespace

void check_sizes(const Graph& g) {
  auto bad = [](const std::string& m) { throw Error(ErrorCode::kInvalidNetwork, m); };
  for (const auto& [name, r] : g.sizes) {
    try {
      SymExpr::symbol(name);
    } catch (const Error& e) {
      bad(e.what());
    }
    if (r.min < 0 || r.min > r.opt || r.opt > r.max)
      bad("size " + name + ": needs 0 <= min <= opt <= max, got min " + std::to_string(r.min) + ", opt " +
          std::to_string(r.opt) + ", max " + std::to_string(r.max));
  }
  SymBindings opt;
  for (const auto& [name, r] : g.sizes) opt[name] = r.opt;
  for (const Layer& l : g.layers)
    for (const auto& [attr, exprs] : l.size_attrs) {
      const std::string where = "layer '" + l.name + "' attribute " + attr;
      const auto a = l.attrs.find(attr);
      std::vector<int64_t> scalar;
      const auto* ints = a == l.attrs.end() ? nullptr : std::get_if<std::vector<int64_t>>(&a->second);
      if (a != l.attrs.end() && std::holds_alternative<int64_t>(a->second)) {
        scalar.push_back(std::get<int64_t>(a->second));
        ints = &scalar;
      }
      if (!ints || ints->size() != exprs.size()) bad(where + ": its size expressions do not match its integers");
      for (size_t k = 0; k < exprs.size(); ++k) {
        std::set<std::string> used;
        exprs[k].symbols(&used);
        for (const std::string& u : used)
          if (!g.sizes.count(u)) bad(where + ": no size named " + u);
        int64_t v = 0;
        try {
          v = exprs[k].evaluate(opt);
        } catch (const Error& e) {
          bad(where + ": " + e.what());
        }
        if (v != (*ints)[k])
          bad(where + " holds " + std::to_string((*ints)[k]) + " where " + exprs[k].str() + " is " +
              std::to_string(v) + " at the sizes' opt");
      }
    }
  for (const auto& [input, names] : g.input_sizes) {
    const auto it = g.by_name.find(input);
    int id = it == g.by_name.end() ? -1 : it->second;
    bool is_input = false;
    for (int i : g.inputs) is_input = is_input || i == id;
    if (!is_input) bad("dynamic dims are given for '" + input + "', which is not a network input");
    const Dims& d = g.tensors[id].dims;
    if (static_cast<int>(names.size()) != d.rank())
      bad("input '" + input + "' has rank " + std::to_string(d.rank()) + " but " + std::to_string(names.size()) +
          " dims are named");
    for (int k = 0; k < d.rank(); ++k) {
      if (names[k].empty()) continue;
      const auto s = g.sizes.find(names[k]);
      if (s == g.sizes.end()) bad("input '" + input + "' dim " + std::to_string(k) + ": no size named " + names[k]);
      if (d[k] != s->second.opt)
        bad("input '" + input + "' dim " + std::to_string(k) + " holds " + std::to_string(d[k]) + ", not " +
            names[k] + "'s opt " + std::to_string(s->second.opt));
    }
  }
}

SymBindings bind_sizes(const Graph& g, const std::vector<Dims>& dims) {
  auto bad = [](const std::string& m) { throw Error(ErrorCode::kInvalidArgument, m); };
  if (dims.size() != g.inputs.size())
    bad("the network has " + std::to_string(g.inputs.size()) + " inputs, " + std::to_string(dims.size()) +
        " shapes were given");
  SymBindings values;
  std::map<std::string, std::string> first;  // size name -> where its value came from
  for (size_t i = 0; i < dims.size(); ++i) {
    const TensorDesc& t = g.tensors[g.inputs[i]];
    const Dims& d = dims[i];
    const auto named = g.input_sizes.find(t.name);
    if (d.rank() != t.dims.rank())
      bad("input '" + t.name + "': rank " + std::to_string(d.rank()) + ", expected " + std::to_string(t.dims.rank()));
    for (int k = 0; k < d.rank(); ++k) {
      const std::string where = "input '" + t.name + "' dim " + std::to_string(k);
      const std::string size = named == g.input_sizes.end() ? "" : named->second[k];
      if (size.empty()) {
        if (d[k] != t.dims[k])
          bad(where + " is " + std::to_string(d[k]) + ", the network's is " + std::to_string(t.dims[k]));
        continue;
      }
      const SizeRange& r = g.sizes.at(size);
      if (d[k] < r.min || d[k] > r.max)
        bad(where + " is " + std::to_string(d[k]) + ", outside size " + range_text(size, r));
      const auto [it, fresh] = values.emplace(size, d[k]);
      if (fresh)
        first[size] = where;
      else if (it->second != d[k])
        bad(where + " is " + std::to_string(d[k]) + " but " + first[size] + " made size " + size + " " +
            std::to_string(it->second));
    }
  }
  return values;
}

Graph specialize(const Graph& g, const SymBindings& values) {
  for (const auto& [name, r] : g.sizes) {
    const auto it = values.find(name);
    if (it == values.end()) throw Error(ErrorCode::kInvalidArgument, "specialize: no value for size " + name);
    if (it->second < r.min || it->second > r.max)
      throw Error(ErrorCode::kInvalidArgument, "specialize: " + std::to_string(it->second) + " is outside size " +
                                                   range_text(name, r));
  }
  Graph s = g;
  for (const auto& [input, names] : g.input_sizes) {
    TensorDesc& t = s.tensors[s.by_name.at(input)];
    for (int k = 0; k < t.dims.rank(); ++k)
      if (!names[k].empty()) t.dims[k] = values.at(names[k]);
  }
  s.sizes.clear();
  s.input_sizes.clear();
  try {
    for (Layer& l : s.layers) {
      for (const auto& [attr, exprs] : l.size_attrs) {
        std::vector<int64_t> v;
        for (const SymExpr& e : exprs) v.push_back(e.evaluate(values));
        if (std::holds_alternative<int64_t>(l.attrs.at(attr)))
          l.attrs[attr] = v.at(0);
        else
          l.attrs[attr] = std::move(v);
      }
      l.size_attrs.clear();
    }
    s.reinfer();
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidNetwork, "at sizes " + values_text(values) + ": " + e.what());
  }
  return s;
}

}  // namespace tensorforge::ir
