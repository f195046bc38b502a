// The network text parser (see parser.h): a small recursive-descent reader of the printer's lines.
#include "ir/parser.h"

#include "common/float8.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "common/float8.h"
#include "common/half.h"
#include "ir/sizes.h"

namespace tensorforge::ir {

namespace {

class Line {
 public:
  Line(const std::string& text, int number) : s_(text), number_(number) {}

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorCode::kInvalidNetwork, "network text, line " + std::to_string(number_) + ": " + why +
                                                " (at column " + std::to_string(pos_ + 1) + ": '" + s_ + "')");
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool at_end() {
    skip_space();
    return pos_ >= s_.size();
  }
  bool peek(char c) {
    skip_space();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  bool accept(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "'");
  }
  bool accept_word(const std::string& w) {
    skip_space();
    if (s_.compare(pos_, w.size(), w) != 0) return false;
    size_t end = pos_ + w.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) return false;
    pos_ = end;
    return true;
  }
  // A name: letters, digits and _ . / -, and ':' when a name character follows it ("%t:0: ..." is
  // the tensor t:0 then its type).
  std::string name() {
    skip_space();
    size_t start = pos_;
    auto name_char = [&](size_t i) {
      return i < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i])) ||
                               std::string("_./-").find(s_[i]) != std::string::npos);
    };
    while (name_char(pos_) || (pos_ < s_.size() && s_[pos_] == ':' && name_char(pos_ + 1))) ++pos_;
    if (pos_ == start) fail("expected a name");
    return s_.substr(start, pos_ - start);
  }
  std::string tensor_ref() {
    expect('%');
    return name();
  }
  // A string in double quotes; \n, \" and \\ are the printer's escapes.
  std::string quoted() {
    expect('"');
    std::string r;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char ch = s_[pos_++];
      if (ch == '\\' && pos_ < s_.size()) {
        char e = s_[pos_++];
        r += e == 'n' ? '\n' : e;
      } else {
        r += ch;
      }
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    ++pos_;
    return r;
  }
  // A number token; `is_int` says whether it was written as an integer.
  double number(bool& is_int, int64_t& as_int) {
    skip_space();
    size_t start = pos_;
    if (s_.compare(pos_, 4, "-inf") == 0) {
      pos_ += 4;
      is_int = false;
      return -INFINITY;
    }
    if (s_.compare(pos_, 3, "inf") == 0 || s_.compare(pos_, 3, "nan") == 0) {
      bool nan = s_[pos_] == 'n';
      pos_ += 3;
      is_int = false;
      return nan ? NAN : INFINITY;
    }
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) ||
                                std::string("+-.eE").find(s_[pos_]) != std::string::npos))
      ++pos_;
    std::string tok = s_.substr(start, pos_ - start);
    if (tok.empty()) fail("expected a number");
    is_int = tok.find_first_of(".eE") == std::string::npos;
    char* end = nullptr;
    errno = 0;
    if (is_int) {
      as_int = std::strtoll(tok.c_str(), &end, 10);
      if (errno || *end) fail("bad integer '" + tok + "'");
      return static_cast<double>(as_int);
    }
    double v = std::strtod(tok.c_str(), &end);
    if (*end) fail("bad number '" + tok + "'");
    return v;
  }
  size_t mark() const { return pos_; }
  void reset(size_t pos) { pos_ = pos; }
  // The text up to the next ',' or ']' outside parentheses (a list entry), trimmed.
  std::string list_entry() {
    skip_space();
    const size_t start = pos_;
    int depth = 0;
    while (pos_ < s_.size() && (depth > 0 || (s_[pos_] != ',' && s_[pos_] != ']'))) {
      depth += s_[pos_] == '(' ? 1 : s_[pos_] == ')' ? -1 : 0;
      ++pos_;
    }
    size_t end = pos_;
    while (end > start && std::isspace(static_cast<unsigned char>(s_[end - 1]))) --end;
    return s_.substr(start, end - start);
  }
  // After a '(': the text up to its matching ')', which is consumed.
  std::string parenthesized() {
    const size_t start = pos_;
    int depth = 1;
    for (; pos_ < s_.size(); ++pos_) {
      depth += s_[pos_] == '(' ? 1 : s_[pos_] == ')' ? -1 : 0;
      if (depth == 0) return s_.substr(start, pos_++ - start);
    }
    fail("unbalanced parentheses");
  }
  bool peek_number() {
    skip_space();
    return pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' ||
                                s_.compare(pos_, 3, "inf") == 0 || s_.compare(pos_, 3, "nan") == 0);
  }
  // dtype[dims]; with `sizes`, an extent may also be the name of one of them (its opt is the
  // extent, the name goes into `named`, "" for a number).
  std::pair<DataType, Dims> type(const std::map<std::string, SizeRange>* sizes = nullptr,
                                 std::vector<std::string>* named = nullptr) {
    std::string dt = name();
    DataType t;
    try {
      t = parse_data_type(dt);
    } catch (const Error&) {
      fail("unknown dtype '" + dt + "'");
    }
    expect('[');
    std::vector<int64_t> dims;
    while (!accept(']')) {
      if (!dims.empty()) expect(',');
      skip_space();
      if (sizes && pos_ < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        const std::string size = name();
        const auto it = sizes->find(size);
        if (it == sizes->end())
          fail("no size named " + size + " (declare it first: size " + size + ": min .., opt .., max ..)");
        dims.push_back(it->second.opt);
        named->push_back(size);
        continue;
      }
      bool is_int;
      int64_t v = 0;
      number(is_int, v);
      if (!is_int) fail("an extent must be an integer");
      dims.push_back(v);
      if (named) named->push_back("");
    }
    return {t, Dims(dims)};
  }

 private:
  std::string s_;
  int number_;
  size_t pos_ = 0;
};

void store(uint8_t* p, DataType t, int64_t i, double v) {
  switch (t) {
    case DataType::kFloat32: reinterpret_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DataType::kFloat16: reinterpret_cast<half_t*>(p)[i] = to_half(static_cast<float>(v)); break;
    case DataType::kBFloat16: reinterpret_cast<bfloat16_t*>(p)[i] = to_bfloat16(static_cast<float>(v)); break;
    case DataType::kInt8: reinterpret_cast<int8_t*>(p)[i] = static_cast<int8_t>(v); break;
    case DataType::kInt32: reinterpret_cast<int32_t*>(p)[i] = static_cast<int32_t>(v); break;
    case DataType::kInt64: reinterpret_cast<int64_t*>(p)[i] = static_cast<int64_t>(v); break;
    case DataType::kBool: p[i] = v != 0; break;
    case DataType::kUInt8: p[i] = static_cast<uint8_t>(v); break;
    case DataType::kFloat8E4M3: p[i] = to_float8_e4m3(static_cast<float>(v)).bits; break;
  }
}

// dtype[dims] then, optionally, {v, v, ...}; without values, a deterministic pattern in [-1, 1).
Weights weights(Line& in) {
  auto [t, d] = in.type();
  if (!plausible_size(d, t) || d.volume() > (int64_t(1) << 28)) in.fail("weights " + d.str() + " are too large");
  int64_t n = d.volume();
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * element_size(t));
  if (in.accept('{')) {
    for (int64_t i = 0; i < n; ++i) {
      if (i) in.expect(',');
      bool is_int;
      int64_t iv = 0;
      double v = in.number(is_int, iv);
      if (is_int && t == DataType::kInt64)
        reinterpret_cast<int64_t*>(bytes.data())[i] = iv;  // exact beyond 2^53
      else
        store(bytes.data(), t, i, v);
    }
    in.expect('}');
  } else {
    for (int64_t i = 0; i < n; ++i) store(bytes.data(), t, i, is_floating(t) ? ((i * 37) % 64) / 32.0 - 1.0 : i % 7);
  }
  return Weights(t, d, bytes.data());
}

// An attribute value. In a list, an entry that is not a number is a size expression over `sizes`
// (sym_expr.h): the list holds its value at the sizes' opt, and `exprs` gets one expression an entry.
// `text` as a size expression over `sizes` (each declared); *value is its value at the sizes' opt.
SymExpr size_expr(Line& in, const std::string& text, const std::map<std::string, SizeRange>& sizes, int64_t* value) {
  SymBindings opt;
  for (const auto& [name, r] : sizes) opt[name] = r.opt;
  SymExpr e(int64_t(0));
  try {
    e = SymExpr::parse(text);
  } catch (const Error& err) {
    in.fail(err.what());
  }
  std::set<std::string> used;
  e.symbols(&used);
  for (const std::string& u : used)
    if (!sizes.count(u)) in.fail("no size named " + u + " (declare it first: size " + u + ": min .., opt .., max ..)");
  try {
    *value = e.evaluate(opt);
  } catch (const Error& err) {
    in.fail(err.what());
  }
  return e;
}

AttrValue attribute(Line& in, const std::map<std::string, SizeRange>& sizes, std::vector<SymExpr>* exprs) {
  if (in.peek('"')) return in.quoted();
  if (in.accept('(')) {  // an integer written as a size expression: (batch*2)
    int64_t v = 0;
    exprs->push_back(size_expr(in, in.parenthesized(), sizes, &v));
    return v;
  }
  if (in.accept('[')) {
    std::vector<double> fs;
    std::vector<int64_t> is;
    std::vector<SymExpr> es;
    bool all_int = true, symbolic = false;
    while (!in.accept(']')) {
      if (!fs.empty()) in.expect(',');
      const size_t at = in.mark();
      bool is_int = false;
      int64_t iv = 0;
      double v = 0;
      bool plain = true;
      try {
        v = in.number(is_int, iv);
        plain = in.peek(',') || in.peek(']');
      } catch (const Error&) {
        plain = false;
      }
      if (!plain) {  // a size expression
        in.reset(at);
        const SymExpr e = size_expr(in, in.list_entry(), sizes, &iv);
        es.push_back(e);
        is_int = symbolic = true;
        v = static_cast<double>(iv);
      } else {
        es.push_back(SymExpr(iv));
      }
      fs.push_back(v);
      is.push_back(iv);
      all_int = all_int && is_int;
    }
    if (symbolic) {
      if (!all_int) in.fail("a list with size expressions holds integers only");
      *exprs = std::move(es);
    }
    if (all_int) return is;
    return fs;
  }
  if (in.peek_number()) {
    bool is_int;
    int64_t iv = 0;
    double v = in.number(is_int, iv);
    if (is_int) return iv;
    return v;
  }
  return weights(in);
}

}  // namespace

Graph parse_text(const std::string& text) {
  Graph g;
  std::istringstream lines(text);
  std::string raw;
  int number = 0;
  auto lookup = [&](Line& in, const std::string& name) {
    auto it = g.by_name.find(name);
    if (it == g.by_name.end()) in.fail("unknown tensor '%" + name + "'");
    return it->second;
  };
  while (std::getline(lines, raw)) {
    ++number;
    Line in(raw, number);
    if (in.at_end() || in.peek('#')) continue;
    if (in.accept_word("size")) {  // size NAME: min A, opt B, max C
      const std::string name = in.name();
      in.expect(':');
      SizeRange r;
      auto bound = [&](const char* word, int64_t* v) {
        if (!in.accept_word(word)) in.fail(std::string("expected '") + word + "'");
        bool is_int;
        in.number(is_int, *v);
        if (!is_int) in.fail("a size's bound must be an integer");
      };
      bound("min", &r.min);
      in.expect(',');
      bound("opt", &r.opt);
      in.expect(',');
      bound("max", &r.max);
      if (!in.at_end()) in.fail("unexpected text after the size");
      if (g.sizes.count(name)) in.fail("size " + name + " is declared twice");
      g.sizes[name] = r;
      try {
        check_sizes(g);
      } catch (const Error& e) {
        in.fail(e.what());
      }
      continue;
    }
    if (in.accept_word("input")) {
      std::string name = in.tensor_ref();
      in.expect(':');
      std::vector<std::string> named;
      auto [t, d] = in.type(&g.sizes, &named);
      if (g.by_name.count(name)) in.fail("tensor '%" + name + "' is defined twice");
      g.inputs.push_back(g.add_tensor(name, t, d, -1, 0));
      for (const std::string& n : named)
        if (!n.empty()) {
          g.input_sizes[name] = named;
          break;
        }
      continue;
    }
    if (in.accept_word("output")) {
      g.outputs.push_back(lookup(in, in.tensor_ref()));
      continue;
    }
    // %a: type[, %b: type] = kind "name" (%x, none, ...) {k=v, ...}
    std::vector<std::pair<std::string, std::pair<DataType, Dims>>> outs;
    do {
      std::string name = in.tensor_ref();
      in.expect(':');
      outs.push_back({name, in.type()});
    } while (in.accept(','));
    in.expect('=');
    std::string kind_name = in.name();
    LayerKind kind;
    try {
      kind = parse_layer_kind(kind_name);
    } catch (const Error&) {
      in.fail("unknown layer kind '" + kind_name + "'");
    }
    std::string layer_name = in.quoted();
    in.expect('(');
    std::vector<int> inputs;
    while (!in.accept(')')) {
      if (!inputs.empty()) in.expect(',');
      inputs.push_back(in.accept_word("none") ? -1 : lookup(in, in.tensor_ref()));
    }
    Attributes attrs;
    std::map<std::string, std::vector<SymExpr>> size_attrs;
    if (in.accept('{')) {
      while (!in.accept('}')) {
        if (!attrs.empty()) in.expect(',');
        std::string key = in.name();
        in.expect('=');
        std::vector<SymExpr> exprs;
        attrs[key] = attribute(in, g.sizes, &exprs);
        if (!exprs.empty()) size_attrs[key] = std::move(exprs);
      }
    }
    if (!in.at_end()) in.fail("unexpected text after the layer");
    int li;
    try {
      li = g.add_layer(kind, inputs, attrs, layer_name);
    } catch (const Error& e) {
      in.fail(e.what());
    }
    g.layers[li].size_attrs = std::move(size_attrs);
    const Layer& l = g.layers[li];
    if (l.name != layer_name) in.fail("layer name '" + layer_name + "' is used twice");
    if (l.outputs.size() != outs.size())
      in.fail("the layer has " + std::to_string(l.outputs.size()) + " outputs, the line names " +
              std::to_string(outs.size()));
    for (size_t o = 0; o < outs.size(); ++o) {
      int id = l.outputs[o];
      const TensorDesc& t = g.tensors[id];
      if (t.dtype != outs[o].second.first || t.dims != outs[o].second.second)
        in.fail("%" + outs[o].first + " is written " + to_string(outs[o].second.first) + outs[o].second.second.str() +
                " but the layer gives " + to_string(t.dtype) + t.dims.str());
      try {
        g.rename(id, outs[o].first);
      } catch (const Error& e) {
        in.fail(e.what());
      }
    }
  }
  g.validate();
  return g;
}

}  // namespace tensorforge::ir
