// Indexing layers: gather ("take" = index_select/embedding/x[idx] along one axis, "elements" =
// torch.gather) and scatter (torch.scatter / scatter_reduce with include_self). Index values are only
// known at run time, so their range is checked by the kernels; everything else is checked here.
#include <string>

#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

void require_index_dtype(InferContext& c) {
  DataType t = c.dtype(1);
  if (t != DataType::kInt32 && t != DataType::kInt64)
    c.fail(std::string("index must be int32 or int64, got ") + to_string(t));
}

void infer_gather(InferContext& c) {
  const std::string& mode = c.get_string("mode");
  if (mode != "take" && mode != "elements") c.fail("unknown gather mode '" + mode + "'; valid modes: take, elements");
  require_index_dtype(c);
  const Dims& x = c.dims(0);
  const Dims& index = c.dims(1);
  if (x.rank() == 0) c.fail("cannot gather from a scalar (rank 0)");
  int axis = c.axis(c.get_int("axis"), x.rank());
  if (mode == "take") {
    int rank = x.rank() - 1 + index.rank();
    if (rank > kMaxDims) c.fail("the output would have rank " + std::to_string(rank) + ", more than 8");
    std::vector<int64_t> out;
    for (int k = 0; k < axis; ++k) out.push_back(x[k]);
    for (int k = 0; k < index.rank(); ++k) out.push_back(index[k]);
    for (int k = axis + 1; k < x.rank(); ++k) out.push_back(x[k]);
    c.set_output(0, c.dtype(0), Dims(out));
    return;
  }
  if (index.rank() != x.rank())
    c.fail("mode 'elements' needs index of x's rank " + std::to_string(x.rank()) + ", got rank " +
           std::to_string(index.rank()));
  for (int k = 0; k < x.rank(); ++k)
    if (k != axis && index[k] > x[k])
      c.fail("index extent " + std::to_string(index[k]) + " exceeds x's extent " + std::to_string(x[k]) + " in dim " +
             std::to_string(k));
  c.set_output(0, c.dtype(0), index);
}

void infer_scatter(InferContext& c) {
  const std::string& reduce = c.get_string("reduce");
  if (reduce != "none" && reduce != "add" && reduce != "mul" && reduce != "max" && reduce != "min")
    c.fail("unknown scatter reduce '" + reduce + "'; valid ones: none, add, mul, max, min");
  require_index_dtype(c);
  DataType t = c.dtype(0);
  if (c.dtype(2) != t)
    c.fail(std::string("src has dtype ") + to_string(c.dtype(2)) + ", x has " + to_string(t));
  if (reduce != "none" && t == DataType::kBool) c.fail("scatter reduce '" + reduce + "' does not take bool");
  const Dims& x = c.dims(0);
  const Dims& index = c.dims(1);
  const Dims& src = c.dims(2);
  if (x.rank() == 0) c.fail("cannot scatter into a scalar (rank 0)");
  int axis = c.axis(c.get_int("axis"), x.rank());
  if (index.rank() != x.rank() || src.rank() != x.rank())
    c.fail("index and src must have x's rank " + std::to_string(x.rank()));
  for (int k = 0; k < x.rank(); ++k) {
    if (index[k] > src[k])
      c.fail("index extent " + std::to_string(index[k]) + " exceeds src's extent " + std::to_string(src[k]) +
             " in dim " + std::to_string(k));
    if (k != axis && index[k] > x[k])
      c.fail("index extent " + std::to_string(index[k]) + " exceeds x's extent " + std::to_string(x[k]) + " in dim " +
             std::to_string(k));
  }
  c.set_output(0, t, x);
}

}  // namespace

void add_index_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kGather,
                  {"x", "index"},
                  2,
                  false,
                  {{"axis", AttrType::kInt, false, int64_t{0}},
                   {"mode", AttrType::kString, false, std::string("take")}},
                  nullptr,
                  infer_gather});
  defs.push_back({LayerKind::kScatter,
                  {"x", "index", "src"},
                  3,
                  false,
                  {{"axis", AttrType::kInt, false, int64_t{0}},
                   {"reduce", AttrType::kString, false, std::string("none")}},
                  nullptr,
                  infer_scatter});
}

}  // namespace tensorforge::ir
