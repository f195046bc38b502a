// Compiling a fused pointwise layer's body (see pointwise_program.h).
#include "ir/pointwise_program.h"

#include <algorithm>
#include <sstream>

#include "common/broadcast.h"
#include "ir/parser.h"
#include "kernels/common/pointwise_formulas.h"

namespace tensorforge::ir {

namespace {

#define TF_NAME(NAME, EXPR) NAME,
#define TF_SOURCE(NAME, EXPR) #EXPR,

struct Table {
  std::vector<std::string> names, sources;
};

const Table& table(PwOp kind) {
  static const Table unary{{TF_FLOAT_UNARY_OPS(TF_NAME)}, {TF_FLOAT_UNARY_OPS(TF_SOURCE)}};
  static const Table predicate{{TF_FLOAT_PREDICATE_OPS(TF_NAME)}, {TF_FLOAT_PREDICATE_OPS(TF_SOURCE)}};
  static const Table activation{{TF_FLOAT_ACTIVATIONS(TF_NAME)}, {TF_FLOAT_ACTIVATIONS(TF_SOURCE)}};
  static const Table binary{{TF_FLOAT_BINARY_OPS(TF_NAME)}, {TF_FLOAT_BINARY_OPS(TF_SOURCE)}};
  static const Table compare{{TF_FLOAT_COMPARISON_OPS(TF_NAME)}, {TF_FLOAT_COMPARISON_OPS(TF_SOURCE)}};
  static const Table none;
  switch (kind) {
    case PwOp::kUnary: return unary;
    case PwOp::kPredicate: return predicate;
    case PwOp::kActivation: return activation;
    case PwOp::kBinary: return binary;
    case PwOp::kCompare: return compare;
    default: return none;
  }
}

#undef TF_NAME
#undef TF_SOURCE

int find(PwOp kind, const std::string& name) {
  const auto& names = table(kind).names;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<int>(i);
  return -1;
}

bool holds_values(DataType t) { return is_floating(t) || t == DataType::kBool; }

}  // namespace

bool broadcasts_to(const Dims& d, const Dims& shape) {
  if (d.rank() > shape.rank()) return false;
  for (int i = 1; i <= d.rank(); ++i)
    if (d[d.rank() - i] != 1 && d[d.rank() - i] != shape[shape.rank() - i]) return false;
  return true;
}

const std::vector<std::string>& pw_formula_names(PwOp kind) { return table(kind).names; }
const std::vector<std::string>& pw_formula_sources(PwOp kind) { return table(kind).sources; }

int pointwise_body_outputs(const std::string& body) {
  std::istringstream lines(body);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) n += line.compare(0, 7, "output ") == 0;
  return n;
}

PwProgram compile_pointwise_body(const std::string& body) {
  Graph g = parse_text(body);
  auto fail = [](const std::string& why) { throw Error(ErrorCode::kInvalidNetwork, "pointwise body: " + why); };
  PwProgram p;
  std::vector<int> reg(g.tensors.size(), -1);
  std::vector<Dims> concat_dims;  // per concat: its output's dims (they must be the outputs' shape)
  for (int id : g.inputs) {
    const TensorDesc& t = g.tensors[id];
    if (!holds_values(t.dtype)) fail("input '" + t.name + "' is " + to_string(t.dtype) + "; bodies take floats and bools");
    PwInstr in;
    in.op = PwOp::kInput;
    in.a = static_cast<int>(p.input_dtypes.size());
    in.dtype = t.dtype;
    reg[id] = static_cast<int>(p.code.size());
    p.code.push_back(in);
    p.input_dtypes.push_back(t.dtype);
    p.input_dims.push_back(t.dims);
    p.piece_of.push_back(-1);
    p.view_dims.emplace_back();
    p.view_strides.emplace_back();
    p.view_offsets.push_back(0);
  }
  for (const Layer& l : g.layers) {
    const TensorDesc& out = g.tensors[l.outputs[0]];
    if (l.kind == LayerKind::kConstant) fail("layer '" + l.name + "': constants are inputs of a pointwise layer");
    if (!holds_values(out.dtype)) fail("layer '" + l.name + "' gives " + to_string(out.dtype));
    PwInstr ins;
    ins.dtype = out.dtype;
    auto operand = [&](size_t i) {
      int id = l.inputs.at(i);
      if (id < 0 || reg[id] < 0) fail("layer '" + l.name + "' reads a value the body does not define");
      if (!holds_values(g.tensors[id].dtype)) fail("layer '" + l.name + "' reads a " + to_string(g.tensors[id].dtype));
      return reg[id];
    };
    auto formula = [&](PwOp kind, const std::string& name) {
      int fn = find(kind, name);
      if (fn < 0) fail("layer '" + l.name + "': no float formula for '" + name + "'");
      ins.op = kind;
      ins.fn = fn;
    };
    switch (l.kind) {
      case LayerKind::kElementwise: {
        const std::string& op = attr_string(l, "op");
        formula(out.dtype == DataType::kBool && find(PwOp::kCompare, op) >= 0 ? PwOp::kCompare : PwOp::kBinary, op);
        ins.a = operand(0);
        ins.b = operand(1);
        break;
      }
      case LayerKind::kUnary: {
        const std::string& op = attr_string(l, "op");
        formula(out.dtype == DataType::kBool ? PwOp::kPredicate : PwOp::kUnary, op);
        ins.a = operand(0);
        break;
      }
      case LayerKind::kActivation:
        formula(PwOp::kActivation, attr_string(l, "op"));
        ins.a = operand(0);
        ins.alpha = static_cast<float>(attr_float(l, "alpha"));
        ins.beta = static_cast<float>(attr_float(l, "beta"));
        break;
      case LayerKind::kCast:
        ins.op = PwOp::kCast;
        ins.a = operand(0);
        break;
      case LayerKind::kSelect:
        ins.op = PwOp::kSelect;
        ins.a = operand(0);
        ins.b = operand(1);
        ins.c = operand(2);
        break;
      case LayerKind::kConcat: {
        PwConcat c;
        const int rank = out.dims.rank();
        c.axis = static_cast<int>(attr_int(l, "axis") < 0 ? attr_int(l, "axis") + rank : attr_int(l, "axis"));
        int64_t at = 0;
        for (size_t i = 0; i < l.inputs.size(); ++i) {
          const int id = l.inputs[i];
          const int r = operand(i);
          if (p.code[r].op != PwOp::kInput || p.piece_of[p.code[r].a] >= 0)
            fail("layer '" + l.name + "': a concat reads body inputs, each once");
          if (g.tensors[id].dtype != out.dtype) fail("layer '" + l.name + "': pieces of another dtype");
          p.piece_of[p.code[r].a] = static_cast<int>(p.concats.size());
          c.pieces.push_back(p.code[r].a);
          c.offsets.push_back(at);
          at += g.tensors[id].dims[c.axis];
        }
        ins.op = PwOp::kConcat;
        ins.a = static_cast<int>(p.concats.size());
        p.concats.push_back(c);
        concat_dims.push_back(out.dims);
        break;
      }
      default:
        fail("layer '" + l.name + "' is a " + to_string(l.kind) + "; bodies hold elementwise, unary, activation, "
             "cast and select layers");
    }
    reg[l.outputs[0]] = static_cast<int>(p.code.size());
    p.code.push_back(ins);
  }
  if (g.outputs.empty()) fail("it has no outputs");
  p.shape = g.tensors[g.outputs[0]].dims;
  for (int id : g.outputs) {
    if (g.tensors[id].dims != p.shape)
      fail("outputs have different shapes (" + p.shape.str() + ", " + g.tensors[id].dims.str() + ")");
    if (reg[id] < 0) fail("output '" + g.tensors[id].name + "' is not computed by the body");
    p.outputs.push_back(reg[id]);
  }
  for (const Dims& d : concat_dims)
    if (d != p.shape) fail("a concat gives " + d.str() + ", not the outputs' shape " + p.shape.str());
  for (const PwConcat& c : p.concats)
    for (int k : c.pieces) {  // only the concat reads a piece, which has the shape but along the axis
      bool fits = p.input_dims[k].rank() == p.shape.rank();
      for (int d = 0; fits && d < p.shape.rank(); ++d) fits = d == c.axis || p.input_dims[k][d] == p.shape[d];
      if (!fits) fail("a concat's piece " + p.input_dims[k].str() + " does not fit the outputs' " + p.shape.str());
    }
  for (const PwInstr& ins : p.code)
    for (int r : {ins.a, ins.b, ins.c})
      if (ins.op != PwOp::kInput && ins.op != PwOp::kConcat && r >= 0 && p.code[r].op == PwOp::kInput &&
          p.piece_of[p.code[r].a] >= 0)
        fail("a concat's piece is read by another layer too");
  for (size_t id = 0; id < g.tensors.size(); ++id)
    if (reg[id] >= 0 && !(p.code[reg[id]].op == PwOp::kInput && p.piece_of[p.code[reg[id]].a] >= 0) &&
        !broadcasts_to(g.tensors[id].dims, p.shape))
      fail("'" + g.tensors[id].name + "' " + g.tensors[id].dims.str() + " does not broadcast to the outputs' " +
           p.shape.str());
  return p;
}

namespace {

// The dims of `d` without its size-1 ones, innermost first, as suffix products (the element counts
// at which a coordinate of each dim advances).
std::vector<int64_t> breakpoints(const Dims& d) {
  std::vector<int64_t> b;
  int64_t step = 1;
  for (int i = d.rank() - 1; i >= 0; --i)
    if (d[i] != 1) b.push_back(step *= d[i]);
  return b;
}

// The common refinement of shapes of one volume (each dim of either a product of consecutive
// refined dims); empty dims when there is none ([2, 3] and [3, 2]).
std::vector<int64_t> refinement(const std::vector<Dims>& shapes) {
  std::vector<int64_t> all;
  for (const Dims& d : shapes) {
    std::vector<int64_t> b = breakpoints(d);
    all.insert(all.end(), b.begin(), b.end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::vector<int64_t> dims;  // outermost first
  int64_t prev = 1;
  for (int64_t b : all) {
    if (b % prev != 0) return {};
    dims.insert(dims.begin(), b / prev);
    prev = b;
  }
  if (dims.empty()) dims.push_back(1);
  return dims;
}

// Strides over `fine` (a refinement of `coarse`) of a walk with `strides` over `coarse`.
std::vector<int64_t> refine_strides(const Dims& coarse, const std::vector<int64_t>& strides,
                                    const std::vector<int64_t>& fine) {
  std::vector<int64_t> out(fine.size(), 0);
  int f = static_cast<int>(fine.size()) - 1;
  for (int c = coarse.rank() - 1; c >= 0; --c) {
    if (coarse[c] == 1) continue;
    int64_t left = coarse[c], step = strides[c];
    while (left > 1 && f >= 0) {  // the fine dims making up coarse dim c, innermost first
      out[f] = step;
      step *= fine[f];
      left /= fine[f];
      --f;
    }
  }
  return out;
}

}  // namespace

void apply_input_views(PwProgram& p, const std::vector<int64_t>& views) {
  auto fail = [](const std::string& why) { throw Error(ErrorCode::kInvalidNetwork, "pointwise input_views: " + why); };
  if (!views.empty() && !p.concats.empty()) fail("a program with a concat reads no input through a view");
  for (size_t i = 0; i < views.size();) {
    const int64_t k = views[i];
    if (k < 0 || k >= static_cast<int64_t>(p.input_dims.size())) fail("input " + std::to_string(k) + " does not exist");
    if (p.view_dims[k].rank() > 0) fail("input " + std::to_string(k) + " has two views");
    if (p.input_dims[k] != p.shape) fail("input " + std::to_string(k) + " does not have the outputs' shape");
    if (i + 1 >= views.size() || views[i + 1] < 1 || views[i + 1] > kMaxDims) fail("a record's rank is out of range");
    const size_t r = static_cast<size_t>(views[i + 1]);
    if (i + 3 + 2 * r > views.size()) fail("the record of input " + std::to_string(k) + " is cut short");
    const Dims d(std::vector<int64_t>(views.begin() + static_cast<std::ptrdiff_t>(i + 2),
                                      views.begin() + static_cast<std::ptrdiff_t>(i + 2 + r)));
    std::vector<int64_t> strides(views.begin() + static_cast<std::ptrdiff_t>(i + 2 + r),
                                 views.begin() + static_cast<std::ptrdiff_t>(i + 2 + 2 * r));
    const int64_t offset = views[i + 2 + 2 * r];
    if (d.volume() != p.shape.volume()) fail("input " + std::to_string(k) + "'s view has another volume");
    // Strides may be negative (a rotation reads its halves swapped); no element before the first.
    int64_t lowest = offset;
    for (size_t j = 0; j < r; ++j) lowest += std::min<int64_t>(0, (d[static_cast<int>(j)] - 1) * strides[j]);
    if (lowest < 0) fail("input " + std::to_string(k) + "'s view reaches before the tensor's first element");
    if (refinement({p.shape, d}).empty())
      fail("input " + std::to_string(k) + "'s view " + d.str() + " does not refine with " + p.shape.str());
    p.view_dims[k] = d;
    p.view_strides[k] = strides;
    p.view_offsets[k] = offset;
    i += 3 + 2 * r;
  }
}

PwIteration pointwise_iteration(const PwProgram& p) {
  PwIteration it;
  std::vector<Dims> shapes = {p.shape};
  for (const Dims& d : p.view_dims)
    if (d.rank() > 0) shapes.push_back(d);
  // Without views the iteration is the outputs' shape itself (concat axes index it).
  const std::vector<int64_t> fine = shapes.size() == 1 ? p.shape.vec() : refinement(shapes);
  it.shape = Dims(fine);
  for (size_t k = 0; k < p.input_dims.size(); ++k) {
    if (p.view_dims[k].rank() > 0) {
      it.strides.push_back(refine_strides(p.view_dims[k], p.view_strides[k], fine));
      continue;
    }
    // contiguous, right-aligned, 0 where it broadcasts
    const std::vector<int64_t> s = broadcast_strides(p.input_dims[k], p.shape);
    it.strides.push_back(shapes.size() == 1 ? s : refine_strides(p.shape, s, fine));
  }
  return it;
}

}  // namespace tensorforge::ir
