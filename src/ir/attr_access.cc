// Typed attribute lookups on a layer whose attributes were normalized against its schema.
#include "ir/graph.h"

namespace tensorforge::ir {

namespace {
template <class T>
const T& get(const Layer& l, const std::string& n) {
  auto it = l.attrs.find(n);
  if (it == l.attrs.end() || !std::holds_alternative<T>(it->second))
    throw Error(ErrorCode::kInternal, "layer '" + l.name + "': attribute '" + n + "' missing or of the wrong type");
  return std::get<T>(it->second);
}
}  // namespace

int64_t attr_int(const Layer& l, const std::string& n) { return get<int64_t>(l, n); }
double attr_float(const Layer& l, const std::string& n) { return get<double>(l, n); }
const std::string& attr_string(const Layer& l, const std::string& n) { return get<std::string>(l, n); }
std::string attr_string_or(const Layer& l, const std::string& n, const std::string& fallback) {
  auto it = l.attrs.find(n);
  return it != l.attrs.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second)
                                                                                 : fallback;
}
const std::vector<int64_t>& attr_ints(const Layer& l, const std::string& n) { return get<std::vector<int64_t>>(l, n); }
const std::vector<double>& attr_floats(const Layer& l, const std::string& n) { return get<std::vector<double>>(l, n); }
const Weights& attr_weights(const Layer& l, const std::string& n) { return get<Weights>(l, n); }

}  // namespace tensorforge::ir
