// Layers without inputs: constant (weights), fill (one value), arange (start + i * step).
#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

DataType dtype_attr(InferContext& c) {
  try {
    return parse_data_type(c.get_string("dtype"));
  } catch (const Error& e) {
    c.fail(e.what());
  }
}

void infer_constant(InferContext& c) {
  const Weights& w = c.get_weights("value");
  c.set_output(0, w.dtype(), w.dims());
}

void infer_fill(InferContext& c) {
  const auto& shape = c.get_ints("shape");
  if (shape.size() > static_cast<size_t>(kMaxDims)) c.fail("shape has more than 8 dimensions");
  for (int64_t d : shape)
    if (d < 0) c.fail("shape has a negative extent");
  c.set_output(0, dtype_attr(c), Dims(shape));
}

void infer_arange(InferContext& c) {
  int64_t n = c.get_int("size");
  if (n < 0) c.fail("size must be >= 0, got " + std::to_string(n));
  DataType t = dtype_attr(c);
  if (t == DataType::kBool) c.fail("arange cannot produce bool");
  c.set_output(0, t, Dims{n});
}

}  // namespace

void add_generator_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kConstant, {}, 0, false, {{"value", AttrType::kWeights, true, {}}}, nullptr,
                  infer_constant});
  defs.push_back({LayerKind::kFill,
                  {},
                  0,
                  false,
                  {{"shape", AttrType::kInts, true, {}},
                   {"dtype", AttrType::kString, false, std::string("float32")},
                   {"value", AttrType::kFloat, false, 0.0}},
                  nullptr,
                  infer_fill});
  defs.push_back({LayerKind::kArange,
                  {},
                  0,
                  false,
                  {{"size", AttrType::kInt, true, {}},
                   {"start", AttrType::kFloat, false, 0.0},
                   {"step", AttrType::kFloat, false, 1.0},
                   {"dtype", AttrType::kString, false, std::string("float32")}},
                  nullptr,
                  infer_arange});
}

}  // namespace tensorforge::ir
