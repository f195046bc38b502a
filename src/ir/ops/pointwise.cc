// Pointwise layers: elementwise binary (numpy broadcasting), unary, activation, prelu, select, cast.
// Binary operands must share a dtype (converters insert casts); comparisons and logical ops give bool.
#include <algorithm>
#include <set>

#include "ir/op_registry.h"
#include "ir/ops/op_names.h"
#include "common/broadcast.h"

namespace tensorforge::ir {

namespace {

Dims broadcast_or_fail(InferContext& c, const Dims& a, const Dims& b) {
  Dims out;
  if (!broadcast_shape(a, b, out)) c.fail("shapes " + a.str() + " and " + b.str() + " do not broadcast");
  return out;
}

void infer_elementwise(InferContext& c) {
  const std::string& op = c.get_string("op");
  BinaryKind k = binary_kind(op);
  if (k == BinaryKind::kUnknown) c.fail("unknown elementwise op '" + op + "'; valid ops: " + list_names(kBinaryOps));
  DataType a = c.dtype(0), b = c.dtype(1);
  if (a != b)
    c.fail(std::string("operands have different dtypes (") + to_string(a) + " and " + to_string(b) +
           "); cast one of them first");
  if (k == BinaryKind::kArithmetic && a == DataType::kBool) c.fail("arithmetic op '" + op + "' does not take bool operands");
  Dims out = broadcast_or_fail(c, c.dims(0), c.dims(1));
  c.set_output(0, k == BinaryKind::kArithmetic ? a : DataType::kBool, out);
}

void infer_unary(InferContext& c) {
  const std::string& op = c.get_string("op");
  UnaryKind k = unary_kind(op);
  DataType t = c.dtype(0);
  if (k == UnaryKind::kUnknown) c.fail("unknown unary op '" + op + "'; valid ops: " + list_names(kUnaryOps));
  if (k == UnaryKind::kFloatOnly && !is_floating(t)) c.fail("unary op '" + op + "' needs a floating-point input");
  if (k == UnaryKind::kNumeric && t == DataType::kBool) c.fail("unary op '" + op + "' does not take bool input");
  c.set_output(0, k == UnaryKind::kPredicate ? DataType::kBool : t, c.dims(0));
}

void infer_activation(InferContext& c) {
  const std::string& op = c.get_string("op");
  if (!contains(kActivationOps, op))
    c.fail("unknown activation '" + op + "'; valid ones: " + list_names(kActivationOps));
  DataType t = c.dtype(0);
  bool int_ok = op == "relu" || op == "clip";
  if (!is_floating(t) && !(int_ok && is_integer(t)))
    c.fail("activation '" + op + "' needs a floating-point input" + (int_ok ? " or an integer one" : ""));
  if (op == "clip" && c.get_float("alpha") > c.get_float("beta"))
    c.fail("clip needs alpha (min) <= beta (max)");
  if ((op == "softplus" || op == "celu") && c.get_float("alpha") == 0.0)
    c.fail("activation '" + op + "' needs a non-zero alpha");
  c.set_output(0, t, c.dims(0));
}

void infer_prelu(InferContext& c) {
  if (!is_floating(c.dtype(0))) c.fail("prelu needs a floating-point input");
  if (c.dtype(1) != c.dtype(0)) c.fail("slope must have the input's dtype");
  Dims out = broadcast_or_fail(c, c.dims(0), c.dims(1));
  if (out != c.dims(0)) c.fail("slope must broadcast to the input's shape");
  c.set_output(0, c.dtype(0), out);
}

void infer_select(InferContext& c) {
  if (c.dtype(0) != DataType::kBool) c.fail("the condition must be bool");
  if (c.dtype(1) != c.dtype(2)) c.fail("the two branches must have the same dtype");
  Dims ab = broadcast_or_fail(c, c.dims(1), c.dims(2));
  c.set_output(0, c.dtype(1), broadcast_or_fail(c, c.dims(0), ab));
}

void infer_cast(InferContext& c) {
  DataType to;
  try {
    to = parse_data_type(c.get_string("dtype"));
  } catch (const Error& e) {
    c.fail(e.what());
  }
  // float8_e4m3fn converts only to and from the float types (a cast to itself is a copy).
  if (is_float8(to) != is_float8(c.dtype(0)))
    c.require(is_floating(is_float8(to) ? c.dtype(0) : to),
              std::string("float8_e4m3fn casts only to and from float32, float16 and bfloat16, not ") +
                  to_string(is_float8(to) ? c.dtype(0) : to));
  c.set_output(0, to, c.dims(0));
}

}  // namespace

void add_pointwise_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kElementwise, {"a", "b"}, 2, false, {{"op", AttrType::kString, true, {}}}, nullptr,
                  infer_elementwise});
  defs.push_back({LayerKind::kUnary, {"x"}, 1, false, {{"op", AttrType::kString, true, {}}}, nullptr, infer_unary});
  defs.push_back({LayerKind::kActivation,
                  {"x"},
                  1,
                  false,
                  {{"op", AttrType::kString, true, {}},
                   {"alpha", AttrType::kFloat, false, 0.0},
                   {"beta", AttrType::kFloat, false, 0.0}},
                  nullptr,
                  infer_activation});
  defs.push_back({LayerKind::kPRelu, {"x", "slope"}, 2, false, {}, nullptr, infer_prelu});
  defs.push_back({LayerKind::kSelect, {"condition", "a", "b"}, 3, false, {}, nullptr, infer_select});
  defs.push_back({LayerKind::kCast, {"x"}, 1, false, {{"dtype", AttrType::kString, true, {}}}, nullptr, infer_cast});
}

}  // namespace tensorforge::ir
