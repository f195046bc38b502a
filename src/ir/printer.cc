// The network printer. Lines look like
//   input %x: float32[1,3,8,8]
//   %c1: float32[1,4,8,8] = convolution "c1" (%x, %w, none) {dilation=[1, 1], groups=1, ...}
//   output %c1
// Attributes are printed sorted by name; weights print their dtype and shape, and their values when
// they hold at most 16 elements, so golden tests can see small constants.
#include "ir/printer.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "common/element.h"

namespace tensorforge::ir {

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os << std::setprecision(9) << v;
  return os.str();
}

double element(const Weights& w, int64_t i) { return element_as_double(w.dtype(), w.data(), i); }

// In double quotes, with newlines, quotes and backslashes escaped, so a layer stays on one line.
std::string quote(const std::string& s) {
  std::string r = "\"";
  for (char ch : s) {
    if (ch == '\n')
      r += "\\n";
    else if (ch == '"' || ch == '\\')
      r += std::string("\\") + ch;
    else
      r += ch;
  }
  return r + '"';
}

std::string tensor_type(const TensorDesc& t) { return std::string(to_string(t.dtype)) + t.dims.str(); }

}  // namespace

std::string attr_to_text(const AttrValue& v) {
  std::ostringstream os;
  if (auto* i = std::get_if<int64_t>(&v)) {
    os << *i;
  } else if (auto* f = std::get_if<double>(&v)) {
    os << number(*f);
  } else if (auto* s = std::get_if<std::string>(&v)) {
    os << quote(*s);
  } else if (auto* is = std::get_if<std::vector<int64_t>>(&v)) {
    os << '[';
    for (size_t k = 0; k < is->size(); ++k) os << (k ? ", " : "") << (*is)[k];
    os << ']';
  } else if (auto* fs = std::get_if<std::vector<double>>(&v)) {
    os << '[';
    for (size_t k = 0; k < fs->size(); ++k) os << (k ? ", " : "") << number((*fs)[k]);
    os << ']';
  } else {
    const Weights& w = std::get<Weights>(v);
    os << to_string(w.dtype()) << w.dims().str();
    int64_t n = w.dims().volume();
    if (n <= 16) {
      os << '{';
      for (int64_t k = 0; k < n; ++k) os << (k ? ", " : "") << number(element(w, k));
      os << '}';
    }
  }
  return os.str();
}

std::string to_text(const Graph& g) {
  std::ostringstream os;
  for (const auto& [name, r] : g.sizes)
    os << "size " << name << ": min " << r.min << ", opt " << r.opt << ", max " << r.max << '\n';
  for (int id : g.inputs) {
    const TensorDesc& t = g.tensors[id];
    os << "input %" << t.name << ": ";
    const auto named = g.input_sizes.find(t.name);
    if (named == g.input_sizes.end()) {
      os << tensor_type(t) << '\n';
      continue;
    }
    os << to_string(t.dtype) << '[';
    for (int k = 0; k < t.dims.rank(); ++k)
      os << (k ? "," : "") << (named->second[k].empty() ? std::to_string(t.dims[k]) : named->second[k]);
    os << "]\n";
  }
  for (const Layer& l : g.layers) {
    for (size_t o = 0; o < l.outputs.size(); ++o) {
      const TensorDesc& t = g.tensors[l.outputs[o]];
      os << (o ? ", " : "") << '%' << t.name << ": " << tensor_type(t);
    }
    os << " = " << to_string(l.kind) << " " << quote(l.name) << " (";
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      os << (i ? ", " : "");
      if (l.inputs[i] < 0)
        os << "none";
      else
        os << '%' << g.tensors[l.inputs[i]].name;
    }
    os << ')';
    if (!l.attrs.empty()) {
      os << " {";
      bool first = true;
      for (const auto& [name, value] : l.attrs) {
        os << (first ? "" : ", ") << name << '=';
        const auto sym = l.size_attrs.find(name);
        if (sym == l.size_attrs.end()) {
          os << attr_to_text(value);
        } else if (std::holds_alternative<int64_t>(value)) {  // an integer written with the sizes' names
          os << '(' << sym->second.at(0).str() << ')';
        } else {  // a list written with the sizes' names
          os << '[';
          for (size_t k = 0; k < sym->second.size(); ++k) os << (k ? ", " : "") << sym->second[k].str();
          os << ']';
        }
        first = false;
      }
      os << '}';
    }
    os << '\n';
  }
  for (int id : g.outputs) os << "output %" << g.tensors[id].name << '\n';
  return os.str();
}

}  // namespace tensorforge::ir
