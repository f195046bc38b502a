// Attribute checking against an op's schema: unknown names, wrong types, missing required ones.
#include <sstream>

#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

const char* type_name(AttrType t) {
  switch (t) {
    case AttrType::kInt: return "int";
    case AttrType::kFloat: return "float";
    case AttrType::kString: return "string";
    case AttrType::kInts: return "list of ints";
    case AttrType::kFloats: return "list of floats";
    case AttrType::kWeights: return "weights";
  }
  return "?";
}

const char* value_type_name(const AttrValue& v) {
  static const char* kNames[] = {"int", "float", "string", "list of ints", "list of floats", "weights"};
  return kNames[v.index()];
}

// Returns the value converted to `t`, or false if it cannot be.
bool coerce(const AttrValue& v, AttrType t, AttrValue& out) {
  switch (t) {
    case AttrType::kInt:
      if (!std::holds_alternative<int64_t>(v)) return false;
      out = v;
      return true;
    case AttrType::kFloat:
      if (auto* i = std::get_if<int64_t>(&v)) {
        out = static_cast<double>(*i);
        return true;
      }
      if (!std::holds_alternative<double>(v)) return false;
      out = v;
      return true;
    case AttrType::kString:
      if (!std::holds_alternative<std::string>(v)) return false;
      out = v;
      return true;
    case AttrType::kInts:
      if (!std::holds_alternative<std::vector<int64_t>>(v)) {
        // an empty list may arrive as an empty float list
        auto* f = std::get_if<std::vector<double>>(&v);
        if (!f || !f->empty()) return false;
        out = std::vector<int64_t>{};
        return true;
      }
      out = v;
      return true;
    case AttrType::kFloats:
      if (auto* i = std::get_if<std::vector<int64_t>>(&v)) {
        out = std::vector<double>(i->begin(), i->end());
        return true;
      }
      if (!std::holds_alternative<std::vector<double>>(v)) return false;
      out = v;
      return true;
    case AttrType::kWeights:
      if (!std::holds_alternative<Weights>(v)) return false;
      out = v;
      return true;
  }
  return false;
}

}  // namespace

Attributes normalize_attributes(const OpDef& def, const Attributes& given, const std::string& layer_name) {
  const std::string where = "layer '" + layer_name + "' (" + to_string(def.kind) + ")";
  for (const auto& [name, value] : given) {
    bool known = false;
    for (const AttrSpec& s : def.attrs) known |= s.name == name;
    if (!known) {
      std::ostringstream os;
      os << where << ": unknown attribute '" << name << "'; it takes";
      if (def.attrs.empty()) os << " none";
      for (size_t i = 0; i < def.attrs.size(); ++i) os << (i ? ", " : " ") << def.attrs[i].name;
      throw Error(ErrorCode::kInvalidArgument, os.str());
    }
  }
  Attributes out;
  for (const AttrSpec& s : def.attrs) {
    auto it = given.find(s.name);
    if (it == given.end()) {
      if (s.required) throw Error(ErrorCode::kInvalidArgument, where + ": attribute '" + s.name + "' is required");
      out[s.name] = s.default_value;
      continue;
    }
    AttrValue v;
    if (!coerce(it->second, s.type, v))
      throw Error(ErrorCode::kInvalidArgument, where + ": attribute '" + s.name + "' must be a " + type_name(s.type) +
                                                   ", got a " + value_type_name(it->second));
    out[s.name] = std::move(v);
  }
  return out;
}

}  // namespace tensorforge::ir
