// Shape layers: reshape, transpose, expand, concat, split, slice. They only move elements, so they
// take every dtype; inference checks every attribute the kernels rely on (lists, ranges, volumes),
// since engine files are untrusted and the kernels index memory with what inference accepted.
#include <set>
#include <string>

#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// a * b, failing on int64 overflow (fuzzed attributes may hold huge extents).
int64_t checked_mul(InferContext& c, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) c.fail("the element count overflows int64");
  return r;
}

void require_rank(InferContext& c, size_t rank, const char* what) {
  if (rank > static_cast<size_t>(kMaxDims))
    c.fail(std::string(what) + " has " + std::to_string(rank) + " dims, more than " + std::to_string(kMaxDims));
}

void infer_reshape(InferContext& c) {
  const auto& shape = c.get_ints("shape");
  const Dims& in = c.dims(0);
  require_rank(c, shape.size(), "shape");
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer_at >= 0) c.fail("shape " + list_str(shape) + " has more than one -1");
      infer_at = static_cast<int>(i);
    } else if (shape[i] < 0) {
      c.fail("shape " + list_str(shape) + " has a negative extent " + std::to_string(shape[i]));
    } else {
      known = checked_mul(c, known, shape[i]);
    }
  }
  std::vector<int64_t> out = shape;
  int64_t volume = in.volume();
  if (infer_at >= 0) {
    if (known == 0 || volume % known != 0)
      c.fail("cannot reshape " + in.str() + " (" + std::to_string(volume) + " elements) into " + list_str(shape) +
             ": the -1 extent is not determined");
    out[infer_at] = volume / known;
  } else if (known != volume) {
    c.fail("cannot reshape " + in.str() + " (" + std::to_string(volume) + " elements) into " + list_str(shape) +
           " (" + std::to_string(known) + " elements)");
  }
  c.set_output(0, c.dtype(0), Dims(out));
}

void infer_transpose(InferContext& c) {
  const auto& perm = c.get_ints("perm");
  const Dims& in = c.dims(0);
  if (perm.size() != static_cast<size_t>(in.rank()))
    c.fail("perm " + list_str(perm) + " has " + std::to_string(perm.size()) + " entries, the input has rank " +
           std::to_string(in.rank()));
  std::vector<int64_t> out(in.rank());
  std::vector<bool> seen(in.rank(), false);
  for (int i = 0; i < in.rank(); ++i) {
    int a = c.axis(perm[i], in.rank(), "perm entry");
    if (seen[a]) c.fail("perm " + list_str(perm) + " is not a permutation (dim " + std::to_string(a) + " repeats)");
    seen[a] = true;
    out[i] = in[a];
  }
  c.set_output(0, c.dtype(0), Dims(out));
}

void infer_expand(InferContext& c) {
  const auto& shape = c.get_ints("shape");
  const Dims& in = c.dims(0);
  require_rank(c, shape.size(), "shape");
  if (shape.size() < static_cast<size_t>(in.rank()))
    c.fail("shape " + list_str(shape) + " has fewer dims than the input " + in.str());
  int lead = static_cast<int>(shape.size()) - in.rank();
  std::vector<int64_t> out(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    int k = static_cast<int>(i) - lead;
    int64_t s = shape[i];
    if (k < 0) {
      if (s < 0) c.fail("shape " + list_str(shape) + ": new leading dim " + std::to_string(i) + " cannot be " +
                        std::to_string(s));
      out[i] = s;
    } else if (s == -1 || s == in[k]) {
      out[i] = in[k];
    } else if (s < 0) {
      c.fail("shape " + list_str(shape) + " has a negative extent " + std::to_string(s));
    } else if (in[k] != 1) {
      c.fail("cannot expand " + in.str() + " to " + list_str(shape) + ": dim " + std::to_string(k) + " has extent " +
             std::to_string(in[k]) + ", only extents of 1 can grow");
    } else {
      out[i] = s;
    }
  }
  c.set_output(0, c.dtype(0), Dims(out));
}

void infer_concat(InferContext& c) {
  for (int i = 0; i < c.nb_inputs(); ++i)
    if (!c.has_input(i)) c.fail("input " + std::to_string(i) + " is absent");
  const Dims& d0 = c.dims(0);
  if (d0.rank() == 0) c.fail("cannot concatenate scalars (rank 0)");
  int axis = c.axis(c.get_int("axis"), d0.rank());
  Dims out = d0;
  for (int i = 1; i < c.nb_inputs(); ++i) {
    const Dims& d = c.dims(i);
    if (c.dtype(i) != c.dtype(0))
      c.fail("input " + std::to_string(i) + " has dtype " + to_string(c.dtype(i)) + ", input 0 has " +
             to_string(c.dtype(0)));
    if (d.rank() != d0.rank())
      c.fail("input " + std::to_string(i) + " has rank " + std::to_string(d.rank()) + ", input 0 has rank " +
             std::to_string(d0.rank()));
    for (int k = 0; k < d0.rank(); ++k)
      if (k != axis && d[k] != d0[k])
        c.fail("input " + std::to_string(i) + " " + d.str() + " differs from input 0 " + d0.str() + " in dim " +
               std::to_string(k) + " (off the concat axis " + std::to_string(axis) + ")");
    if (__builtin_add_overflow(out[axis], d[axis], &out[axis])) c.fail("the concatenated extent overflows int64");
  }
  c.set_output(0, c.dtype(0), out);
}

int split_outputs(const Attributes& a) {
  auto it = a.find("sizes");
  if (it == a.end()) return 1;
  const auto* v = std::get_if<std::vector<int64_t>>(&it->second);
  return v ? static_cast<int>(v->size()) : 1;
}

void infer_split(InferContext& c) {
  const auto& sizes = c.get_ints("sizes");
  const Dims& in = c.dims(0);
  if (in.rank() == 0) c.fail("cannot split a scalar (rank 0)");
  int axis = c.axis(c.get_int("axis"), in.rank());
  if (sizes.empty()) c.fail("sizes is empty");
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) c.fail("sizes " + list_str(sizes) + " has a negative size " + std::to_string(s));
    if (__builtin_add_overflow(sum, s, &sum)) c.fail("sizes " + list_str(sizes) + " overflow int64");
  }
  if (sum != in[axis])
    c.fail("sizes " + list_str(sizes) + " sum to " + std::to_string(sum) + ", the extent of axis " +
           std::to_string(axis) + " is " + std::to_string(in[axis]));
  for (size_t i = 0; i < sizes.size(); ++i) {
    Dims out = in;
    out[axis] = sizes[i];
    c.set_output(static_cast<int>(i), c.dtype(0), out);
  }
}

void infer_slice(InferContext& c) {
  const auto& axes = c.get_ints("axes");
  const auto& starts = c.get_ints("starts");
  const auto& ends = c.get_ints("ends");
  const auto& steps = c.get_ints("steps");
  const Dims& in = c.dims(0);
  if (starts.size() != axes.size() || ends.size() != axes.size() || (!steps.empty() && steps.size() != axes.size()))
    c.fail("axes, starts, ends (and steps unless empty) must have the same length; got " +
           std::to_string(axes.size()) + ", " + std::to_string(starts.size()) + ", " + std::to_string(ends.size()) +
           ", " + std::to_string(steps.size()));
  if (!axes.empty() && in.rank() == 0) c.fail("cannot slice a scalar (rank 0)");
  Dims out = in;
  std::set<int> seen;
  for (size_t i = 0; i < axes.size(); ++i) {
    int a = c.axis(axes[i], in.rank());
    if (!seen.insert(a).second) c.fail("axis " + std::to_string(a) + " is listed twice");
    int64_t step = steps.empty() ? 1 : steps[i];
    if (step < 1) c.fail("steps must be >= 1, got " + std::to_string(step) + " for axis " + std::to_string(a));
    int64_t n = in[a];
    int64_t s = starts[i] < 0 ? starts[i] + n : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + n : ends[i];
    s = s < 0 ? 0 : s > n ? n : s;
    e = e < 0 ? 0 : e > n ? n : e;
    out[a] = e > s ? (e - s - 1) / step + 1 : 0;
  }
  c.set_output(0, c.dtype(0), out);
}

// out[i] = x[offset + sum_k i_k * strides[k]] over x's contiguous elements (PyTorch's as_strided,
// copied): every element named must lie inside x.
void infer_as_strided(InferContext& c) {
  const auto& shape = c.get_ints("shape");
  const auto& strides = c.get_ints("strides");
  const int64_t offset = c.get_int("offset");
  if (shape.size() != strides.size() || shape.size() > static_cast<size_t>(kMaxDims))
    c.fail("shape and strides must have the same length, at most " + std::to_string(kMaxDims) + "; got " +
           std::to_string(shape.size()) + " and " + std::to_string(strides.size()));
  if (offset < 0) c.fail("offset must be >= 0, got " + std::to_string(offset));
  CheckedInt last(offset);
  bool empty = false;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] < 0 || strides[k] < 0)
      c.fail("extents and strides must be >= 0, got " + std::to_string(shape[k]) + " and " + std::to_string(strides[k]) +
             " at dim " + std::to_string(k));
    empty = empty || shape[k] == 0;
    last = last + CheckedInt(shape[k] > 0 ? shape[k] - 1 : 0) * CheckedInt(strides[k]);
  }
  const int64_t end = c.value(last, "the last element's offset");
  if (!empty && end >= c.dims(0).volume())
    c.fail("the view reads element " + std::to_string(end) + " of an input of " + std::to_string(c.dims(0).volume()) +
           " elements");
  c.set_output(0, c.dtype(0), Dims(shape));
}

}  // namespace

void add_shape_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kAsStrided,
                  {"x"},
                  1,
                  false,
                  {{"shape", AttrType::kInts, true, {}},
                   {"strides", AttrType::kInts, true, {}},
                   {"offset", AttrType::kInt, false, int64_t(0)}},
                  nullptr,
                  infer_as_strided});
  defs.push_back(
      {LayerKind::kReshape, {"x"}, 1, false, {{"shape", AttrType::kInts, true, {}}}, nullptr, infer_reshape});
  defs.push_back(
      {LayerKind::kTranspose, {"x"}, 1, false, {{"perm", AttrType::kInts, true, {}}}, nullptr, infer_transpose});
  defs.push_back({LayerKind::kExpand, {"x"}, 1, false, {{"shape", AttrType::kInts, true, {}}}, nullptr, infer_expand});
  defs.push_back({LayerKind::kConcat, {"x0"}, 1, true, {{"axis", AttrType::kInt, true, {}}}, nullptr, infer_concat});
  defs.push_back({LayerKind::kSplit,
                  {"x"},
                  1,
                  false,
                  {{"axis", AttrType::kInt, true, {}}, {"sizes", AttrType::kInts, true, {}}},
                  split_outputs,
                  infer_split});
  defs.push_back({LayerKind::kSlice,
                  {"x"},
                  1,
                  false,
                  {{"axes", AttrType::kInts, true, {}},
                   {"starts", AttrType::kInts, true, {}},
                   {"ends", AttrType::kInts, true, {}},
                   {"steps", AttrType::kInts, false, std::vector<int64_t>{}}},
                  nullptr,
                  infer_slice});
}

}  // namespace tensorforge::ir
