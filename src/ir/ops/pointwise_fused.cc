// The fused pointwise layer: what the optimizer makes of a connected chain of elementwise, unary,
// activation, cast and select layers. Its `body` attribute is that chain as network text; inputs
// are the body's inputs, outputs its outputs (see ir/pointwise_program.h).
#include <algorithm>

#include "ir/op_registry.h"
#include "ir/pointwise_program.h"

namespace tensorforge::ir {

namespace {

int pointwise_outputs(const Attributes& a) {
  auto it = a.find("body");
  const auto* body = it == a.end() ? nullptr : std::get_if<std::string>(&it->second);
  int n = body ? pointwise_body_outputs(*body) : 1;
  return n > 0 ? n : 1;  // inference reports a body without outputs
}

void infer_pointwise(InferContext& c) {
  PwProgram p;
  try {
    p = compile_pointwise_body(c.get_string("body"));
    apply_input_views(p, c.get_ints("input_views"));
  } catch (const Error& e) {
    c.fail(e.what());
  }
  if (static_cast<int>(p.input_dtypes.size()) != c.nb_inputs())
    c.fail("the body takes " + std::to_string(p.input_dtypes.size()) + " inputs, the layer has " +
           std::to_string(c.nb_inputs()));
  for (int i = 0; i < c.nb_inputs(); ++i) {
    if (!c.has_input(i)) c.fail("input " + std::to_string(i) + " is absent");
    const bool view = p.view_dims[i].rank() > 0;
    if (c.dtype(i) != p.input_dtypes[i] || (!view && c.dims(i) != p.input_dims[i]))
      c.fail("input " + std::to_string(i) + " is " + to_string(c.dtype(i)) + c.dims(i).str() + ", the body's is " +
             to_string(p.input_dtypes[i]) + p.input_dims[i].str());
    if (view && p.input_dims[i].volume() > 0) {  // the view's furthest element lies inside the tensor
      int64_t last = p.view_offsets[i];
      for (int d = 0; d < p.view_dims[i].rank(); ++d)
        last += std::max<int64_t>(0, (p.view_dims[i][d] - 1) * p.view_strides[i][d]);
      if (last >= c.dims(i).volume())
        c.fail("input " + std::to_string(i) + "'s view reaches element " + std::to_string(last) + " of a " +
               c.dims(i).str() + " tensor");
    }
  }
  if (p.outputs.size() != c.outputs.size())
    c.fail("the body has " + std::to_string(p.outputs.size()) + " outputs");
  for (size_t o = 0; o < p.outputs.size(); ++o) c.set_output(static_cast<int>(o), p.code[p.outputs[o]].dtype, p.shape);
}

}  // namespace

void add_fused_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kPointwise, {"x0"}, 1, true,
                  {{"body", AttrType::kString, true, {}}, {"input_views", AttrType::kInts, false, std::vector<int64_t>{}}},
                  pointwise_outputs, infer_pointwise});
}

}  // namespace tensorforge::ir
