// Normalization layers: softmax / log-softmax along an axis, and the inference forms of batch, layer,
// group and RMS norm. Every parameter tensor must have x's dtype and exactly the shape the kernel indexes,
// so a kernel never reads past a parameter whatever an engine file says.
#include <string>

#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

void require_float(InferContext& c) {
  if (!is_floating(c.dtype(0))) c.fail("needs a floating-point input x");
}

void require_flag(InferContext& c, const char* name) {
  int64_t v = c.get_int(name);
  if (v != 0 && v != 1) c.fail(std::string(name) + " must be 0 or 1, got " + std::to_string(v));
}

void require_eps(InferContext& c, bool allow_minus_one) {
  double eps = c.get_float("eps");
  if (!(eps >= 0) && !(allow_minus_one && eps == -1))
    c.fail(std::string("eps must be >= 0") + (allow_minus_one ? " (or -1 for the dtype's machine epsilon)" : "") +
           ", got " + std::to_string(eps));
}

/// Input `i`, when present, must have x's dtype and shape `want`.
void require_param(InferContext& c, int i, const Dims& want) {
  if (!c.has_input(i)) return;
  const std::string name = op_def(c.layer().kind).input_names[i];
  if (c.dtype(i) != c.dtype(0)) c.fail(name + " must have x's dtype " + to_string(c.dtype(0)));
  if (c.dims(i) != want) c.fail(name + " must have shape " + want.str() + ", got " + c.dims(i).str());
}

/// The last `normalized_rank` dims of x, after checking 1 <= normalized_rank <= rank.
Dims normalized_dims(InferContext& c) {
  int64_t r = c.get_int("normalized_rank");
  int rank = c.dims(0).rank();
  if (r < 1 || r > rank)
    c.fail("normalized_rank must be in [1, " + std::to_string(rank) + "] (x's rank), got " + std::to_string(r));
  std::vector<int64_t> d = c.dims(0).vec();
  return Dims(std::vector<int64_t>(d.end() - r, d.end()));
}

void infer_softmax(InferContext& c) {
  require_float(c);
  c.axis(c.get_int("axis"), c.dims(0).rank());
  require_flag(c, "log");
  c.set_output(0, c.dtype(0), c.dims(0));
}

void infer_batch_norm(InferContext& c) {
  require_float(c);
  require_eps(c, false);
  const Dims& x = c.dims(0);
  if (x.rank() < 2) c.fail("x must have rank >= 2 ([N, C, ...]), got rank " + std::to_string(x.rank()));
  for (int i = 1; i < 5; ++i) require_param(c, i, Dims{x[1]});
  c.set_output(0, c.dtype(0), x);
}

void infer_layer_norm(InferContext& c) {
  require_float(c);
  require_eps(c, false);
  Dims nd = normalized_dims(c);
  require_param(c, 1, nd);
  require_param(c, 2, nd);
  c.set_output(0, c.dtype(0), c.dims(0));
}

void infer_group_norm(InferContext& c) {
  require_float(c);
  require_eps(c, false);
  const Dims& x = c.dims(0);
  if (x.rank() < 2) c.fail("x must have rank >= 2 ([N, C, ...]), got rank " + std::to_string(x.rank()));
  int64_t g = c.get_int("num_groups");
  if (g < 1) c.fail("num_groups must be >= 1, got " + std::to_string(g));
  if (x[1] % g != 0)
    c.fail("num_groups " + std::to_string(g) + " does not divide the channel count " + std::to_string(x[1]));
  require_param(c, 1, Dims{x[1]});
  require_param(c, 2, Dims{x[1]});
  c.set_output(0, c.dtype(0), x);
}

void infer_rms_norm(InferContext& c) {
  require_float(c);
  require_eps(c, true);
  require_param(c, 1, normalized_dims(c));
  c.set_output(0, c.dtype(0), c.dims(0));
}

AttrSpec eps_attr(double v) { return {"eps", AttrType::kFloat, false, v}; }

}  // namespace

void add_norm_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kSoftmax,
                  {"x"},
                  1,
                  false,
                  {{"axis", AttrType::kInt, false, int64_t{-1}}, {"log", AttrType::kInt, false, int64_t{0}}},
                  nullptr,
                  infer_softmax});
  defs.push_back({LayerKind::kBatchNorm, {"x", "mean", "var", "weight", "bias"}, 3, false, {eps_attr(1e-5)}, nullptr,
                  infer_batch_norm});
  defs.push_back({LayerKind::kLayerNorm,
                  {"x", "weight", "bias"},
                  1,
                  false,
                  {{"normalized_rank", AttrType::kInt, true, {}}, eps_attr(1e-5)},
                  nullptr,
                  infer_layer_norm});
  defs.push_back({LayerKind::kGroupNorm,
                  {"x", "weight", "bias"},
                  1,
                  false,
                  {{"num_groups", AttrType::kInt, true, {}}, eps_attr(1e-5)},
                  nullptr,
                  infer_group_norm});
  defs.push_back({LayerKind::kRMSNorm,
                  {"x", "weight"},
                  1,
                  false,
                  {{"normalized_rank", AttrType::kInt, true, {}}, eps_attr(-1.0)},
                  nullptr,
                  infer_rms_norm});
}

}  // namespace tensorforge::ir
