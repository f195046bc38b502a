// Reductions and scans: reduce (sum, mean, max, min, prod, any, all over a set of axes), arg_reduce
// (argmax/argmin along one axis), cumsum, topk. Axes are checked for range and duplicates; reductions
// that have no value over an empty extent (max, min, argmax, argmin) are rejected here, as PyTorch does.
#include <string>

#include "ir/op_registry.h"
#include "ir/reduce_prologue.h"
#include "ir/ops/op_names.h"
#include "ir/ops/reduce_ops.h"

namespace tensorforge::ir {

namespace {

void require_flag(InferContext& c, const char* name) {
  int64_t v = c.get_int(name);
  if (v != 0 && v != 1) c.fail(std::string(name) + " must be 0 or 1, got " + std::to_string(v));
}

/// x's shape with `axis` removed, or kept as 1 with keepdim (a rank-0 x stays rank 0).
Dims drop_axis(const Dims& x, int axis, bool keepdim) {
  if (x.rank() == 0) return x;
  std::vector<int64_t> d = x.vec();
  if (keepdim)
    d[axis] = 1;
  else
    d.erase(d.begin() + axis);
  return Dims(d);
}

void infer_reduce(InferContext& c) {
  const std::string& op = c.get_string("op");
  if (!contains(kReduceOps, op)) c.fail("unknown reduce op '" + op + "'; valid ops: " + list_names(kReduceOps));
  require_flag(c, "keepdim");
  DataType t = c.dtype(0);
  const Dims& x = c.dims(0);
  if (op == "mean" && !is_floating(t)) c.fail("reduce op 'mean' needs a floating-point input");
  if ((op == "sum" || op == "prod") && t == DataType::kBool)
    c.fail("reduce op '" + op + "' does not take bool input; cast it to an integer type first");
  const std::string& prologue = c.get_string("prologue");
  const int code = reduce_prologue_code(prologue);
  if (code < 0)
    c.fail("unknown reduce prologue '" + prologue + "'; valid prologues: " + reduce_prologue_names() +
           " (or none)");
  if (code > 0 && op != "any" && op != "all")
    c.fail("a reduce prologue ('" + prologue + "') goes with op 'any' or 'all', not '" + op + "'");
  if (code > 0 && t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16)
    c.fail("a reduce prologue ('" + prologue + "') needs a float32, float16 or bfloat16 input");
  std::vector<bool> reduced(x.rank(), false);
  const auto& axes = c.get_ints("axes");
  if (axes.empty()) reduced.assign(x.rank(), true);
  for (int64_t a : axes) {
    int k = c.axis(a, x.rank());
    if (x.rank() == 0) continue;
    if (reduced[k]) c.fail("axis " + std::to_string(a) + " is listed more than once in axes");
    reduced[k] = true;
  }
  int64_t count = 1;
  std::vector<int64_t> out;
  for (int k = 0; k < x.rank(); ++k) {
    if (reduced[k]) count *= x[k];
    if (!reduced[k] || c.get_int("keepdim")) out.push_back(reduced[k] ? 1 : x[k]);
  }
  if (count == 0 && (op == "max" || op == "min"))
    c.fail("reduce op '" + op + "' over an empty extent has no value");
  c.set_output(0, op == "any" || op == "all" ? DataType::kBool : t, Dims(out));
}

void infer_arg_reduce(InferContext& c) {
  const std::string& op = c.get_string("op");
  if (op != "argmax" && op != "argmin") c.fail("unknown arg_reduce op '" + op + "'; valid ops: argmax, argmin");
  require_flag(c, "keepdim");
  if (c.dtype(0) == DataType::kBool) c.fail("arg_reduce does not take bool input");
  const Dims& x = c.dims(0);
  int axis = c.axis(c.get_int("axis"), x.rank());
  if (x.rank() > 0 && x[axis] == 0) c.fail(op + " over an empty axis has no value");
  c.set_output(0, DataType::kInt64, drop_axis(x, axis, c.get_int("keepdim") != 0));
}

void infer_cumsum(InferContext& c) {
  DataType t = c.dtype(0);
  if (!is_floating(t) && !is_integer(t)) c.fail("cumsum needs a floating-point or integer input");
  c.axis(c.get_int("axis"), c.dims(0).rank());
  c.set_output(0, t, c.dims(0));
}

void infer_topk(InferContext& c) {
  DataType t = c.dtype(0);
  if (!is_floating(t) && !is_integer(t)) c.fail("topk needs a floating-point or integer input");
  require_flag(c, "largest");
  require_flag(c, "sorted");
  const Dims& x = c.dims(0);
  if (x.rank() == 0) c.fail("topk needs x of rank >= 1");
  int axis = c.axis(c.get_int("axis"), x.rank());
  int64_t k = c.get_int("k");
  if (k < 0 || k > x[axis])
    c.fail("k must be in [0, " + std::to_string(x[axis]) + "] (the extent of axis " + std::to_string(axis) +
           "), got " + std::to_string(k));
  Dims out = x;
  out[axis] = k;
  c.set_output(0, t, out);
  c.set_output(1, DataType::kInt64, out);
}

int two_outputs(const Attributes&) { return 2; }

}  // namespace

void add_reduce_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kReduce,
                  {"x"},
                  1,
                  false,
                  {{"op", AttrType::kString, true, {}},
                   {"axes", AttrType::kInts, false, std::vector<int64_t>{}},
                   {"keepdim", AttrType::kInt, false, int64_t{0}},
                   {"prologue", AttrType::kString, false, std::string()}},
                  nullptr,
                  infer_reduce});
  defs.push_back({LayerKind::kArgReduce,
                  {"x"},
                  1,
                  false,
                  {{"op", AttrType::kString, true, {}},
                   {"axis", AttrType::kInt, true, {}},
                   {"keepdim", AttrType::kInt, false, int64_t{0}}},
                  nullptr,
                  infer_arg_reduce});
  defs.push_back(
      {LayerKind::kCumSum, {"x"}, 1, false, {{"axis", AttrType::kInt, true, {}}}, nullptr, infer_cumsum});
  defs.push_back({LayerKind::kTopK,
                  {"x"},
                  1,
                  false,
                  {{"k", AttrType::kInt, true, {}},
                   {"axis", AttrType::kInt, false, int64_t{-1}},
                   {"largest", AttrType::kInt, false, int64_t{1}},
                   {"sorted", AttrType::kInt, false, int64_t{1}}},
                  two_outputs,
                  infer_topk});
}

}  // namespace tensorforge::ir
