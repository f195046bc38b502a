// Compiling a fused pointwise layer's body (see pointwise_program.h).
#include "ir/pointwise_program.h"

#include <sstream>

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

}  // namespace tensorforge::ir
