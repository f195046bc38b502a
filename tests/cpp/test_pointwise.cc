// Pointwise layers: inference (shapes, dtypes, errors) and CPU kernels against naive references
// over several shapes, broadcasts and dtypes; every case also runs through a file round trip.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/vector_math.h"
#include "ir/ops/op_names.h"
#include "test_util.h"

using namespace tft;

namespace {

double ref_binary(const std::string& op, double a, double b, bool is_int) {
  if (op == "add") return a + b;
  if (op == "sub") return a - b;
  if (op == "mul") return a * b;
  if (op == "div") return is_int ? std::trunc(a / b) : a / b;
  if (op == "floor_div") return std::floor(a / b);
  if (op == "mod") {
    double r = std::fmod(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
  }
  if (op == "pow") return std::pow(a, b);
  if (op == "min") return std::min(a, b);
  if (op == "max") return std::max(a, b);
  if (op == "eq") return a == b;
  if (op == "ne") return a != b;
  if (op == "lt") return a < b;
  if (op == "le") return a <= b;
  if (op == "gt") return a > b;
  if (op == "ge") return a >= b;
  if (op == "logical_and") return (a != 0) && (b != 0);
  if (op == "logical_or") return (a != 0) || (b != 0);
  if (op == "logical_xor") return (a != 0) != (b != 0);
  return NAN;
}

struct ShapePair {
  Dims a, b, out;
};
const std::vector<ShapePair> kShapes = {
    {{7}, {7}, {7}},                      // same shape, odd size
    {{2, 3, 5}, {5}, {2, 3, 5}},          // trailing broadcast
    {{4, 1, 3}, {1, 6, 1}, {4, 6, 3}},    // both sides broadcast
    {{3, 4}, {}, {3, 4}},                 // scalar
    {{1}, {2, 1, 3}, {2, 1, 3}},          // lower rank on the left
};

}  // namespace

TEST(Elementwise, AllOpsAllDtypesBroadcast) {
  const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
                                       DataType::kInt64,   DataType::kInt8,    DataType::kUInt8,    DataType::kBool};
  unsigned seed = 1;
  for (const std::string& op : ir::kBinaryOps) {
    ir::BinaryKind kind = ir::binary_kind(op);
    for (DataType t : types) {
      if (kind == ir::BinaryKind::kArithmetic && t == DataType::kBool) continue;
      bool is_int = is_integer(t);
      for (const ShapePair& sp : kShapes) {
        HostTensor a = random_tensor(t, sp.a, seed++, -4, 4), b = random_tensor(t, sp.b, seed++, -4, 4);
        if (op == "pow") {  // keep results representable and exponents non-negative for integers
          a = random_tensor(t, sp.a, seed++, is_int ? 0 : 0.5, 3);
          b = random_tensor(t, sp.b, seed++, 0, 3);
        }
        if (is_int && (op == "div" || op == "floor_div" || op == "mod"))
          for (int64_t i = 0; i < b.numel(); ++i)
            if (b.get(i) == 0) b.set(i, 3);
        Network net;
        Tensor ta = net.add_input("a", t, sp.a), tb = net.add_input("b", t, sp.b);
        Tensor y = net.add_elementwise(ta, tb, op);
        net.mark_output(y);
        DataType out_t = kind == ir::BinaryKind::kArithmetic ? t : DataType::kBool;
        ASSERT_EQ(y.dtype(), out_t);
        std::vector<double> ref(sp.out.volume());
        for (int64_t i = 0; i < sp.out.volume(); ++i) {
          auto idx = unravel(i, sp.out);
          ref[i] = ref_binary(op, a.get(ravel_broadcast(idx, sp.a)), b.get(ravel_broadcast(idx, sp.b)), is_int);
        }
        if (kind == ir::BinaryKind::kArithmetic) ref = rounded(ref, t);
        auto outs = run(net, {a, b}, seed % 3 == 0);
        std::string what = op + " " + to_string(t) + " " + sp.a.str() + "x" + sp.b.str();
        expect_close(outs[0], sp.out, ref, default_tol(t), what);
      }
    }
  }
}

TEST(Elementwise, InferenceErrors) {
  Network net;
  Tensor a = net.add_input("a", DataType::kFloat32, {2, 3});
  Tensor b = net.add_input("b", DataType::kFloat32, {4});
  Tensor c = net.add_input("c", DataType::kInt32, {2, 3});
  Tensor d = net.add_input("d", DataType::kBool, {2, 3});
  expect_error([&] { net.add_elementwise(a, b, "add", "bad_add"); }, ErrorCode::kInvalidNetwork,
               {"layer 'bad_add' (elementwise)", "do not broadcast", "a=float32[2,3]", "b=float32[4]"});
  expect_error([&] { net.add_elementwise(a, c, "mul"); }, ErrorCode::kInvalidNetwork, {"different dtypes", "int32"});
  expect_error([&] { net.add_elementwise(a, a, "plus"); }, ErrorCode::kInvalidNetwork, {"unknown elementwise op 'plus'"});
  expect_error([&] { net.add_elementwise(d, d, "sub"); }, ErrorCode::kInvalidNetwork, {"bool"});
  EXPECT_EQ(net.add_elementwise(d, d, "logical_xor").dtype(), DataType::kBool);
}

TEST(Elementwise, IntegerDivisionByZeroIsARuntimeError) {
  Network net;
  Tensor a = net.add_input("a", DataType::kInt32, {2});
  net.mark_output(net.add_elementwise(a, a, "div", "divide"));
  HostTensor x(DataType::kInt32, {2});
  x.set(0, 1);
  x.set(1, 0);
  expect_error([&] { run(net, {x}); }, ErrorCode::kRuntime, {"layer 'divide'", "division by zero"});
}

namespace {
double ref_unary(const std::string& op, double x) {
  if (op == "exp") return std::exp(x);
  if (op == "log") return std::log(x);
  if (op == "log2") return std::log2(x);
  if (op == "log10") return std::log10(x);
  if (op == "log1p") return std::log1p(x);
  if (op == "expm1") return std::expm1(x);
  if (op == "sqrt") return std::sqrt(x);
  if (op == "rsqrt") return 1 / std::sqrt(x);
  if (op == "reciprocal") return 1 / x;
  if (op == "sin") return std::sin(x);
  if (op == "cos") return std::cos(x);
  if (op == "tan") return std::tan(x);
  if (op == "asin") return std::asin(x);
  if (op == "acos") return std::acos(x);
  if (op == "atan") return std::atan(x);
  if (op == "sinh") return std::sinh(x);
  if (op == "cosh") return std::cosh(x);
  if (op == "tanh") return std::tanh(x);
  if (op == "asinh") return std::asinh(x);
  if (op == "acosh") return std::acosh(x);
  if (op == "atanh") return std::atanh(x);
  if (op == "erf") return std::erf(x);
  if (op == "abs") return std::fabs(x);
  if (op == "neg") return -x;
  if (op == "sign") return (x > 0) - (x < 0);
  if (op == "floor") return std::floor(x);
  if (op == "ceil") return std::ceil(x);
  if (op == "round") return std::nearbyint(x);
  if (op == "trunc") return std::trunc(x);
  if (op == "not") return x == 0;
  if (op == "isnan") return std::isnan(x);
  if (op == "isinf") return std::isinf(x);
  return NAN;
}
}  // namespace

TEST(Unary, AllOpsAllDtypes) {
  unsigned seed = 100;
  for (const std::string& op : ir::kUnaryOps) {
    ir::UnaryKind kind = ir::unary_kind(op);
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32, DataType::kInt64,
                       DataType::kInt8, DataType::kBool}) {
      if (kind == ir::UnaryKind::kFloatOnly && !is_floating(t)) continue;
      if (kind == ir::UnaryKind::kNumeric && t == DataType::kBool) continue;
      double lo = -3, hi = 3;
      if (op == "log" || op == "log2" || op == "log10" || op == "sqrt" || op == "rsqrt") lo = 0.1;
      if (op == "acosh") lo = 1.0;
      if (op == "asin" || op == "acos" || op == "atanh") lo = -0.9, hi = 0.9;
      Dims d{3, 5};
      HostTensor x = random_tensor(t, d, seed++, lo, hi);
      if (is_floating(t) && (op == "isnan" || op == "isinf")) {
        x.set(1, NAN);
        x.set(2, INFINITY);
      }
      if (op == "round") x.set(0, 2.5);  // half to even
      Network net;
      Tensor y = net.add_unary(net.add_input("x", t, d), op);
      net.mark_output(y);
      std::vector<double> ref;
      for (double v : x.values()) ref.push_back(ref_unary(op, v));
      DataType out_t = kind == ir::UnaryKind::kPredicate ? DataType::kBool : t;
      ASSERT_EQ(y.dtype(), out_t);
      if (is_floating(out_t)) ref = rounded(ref, out_t);
      auto outs = run(net, {x}, seed % 4 == 0);
      expect_close(outs[0], d, ref, default_tol(t) * 2, op + " " + to_string(t));
    }
  }
  Network net;
  Tensor i = net.add_input("i", DataType::kInt32, {2});
  expect_error([&] { net.add_unary(i, "exp", "e"); }, ErrorCode::kInvalidNetwork, {"layer 'e' (unary)", "floating-point"});
  expect_error([&] { net.add_unary(i, "exp2"); }, ErrorCode::kInvalidNetwork, {"unknown unary op 'exp2'"});
}

namespace {
double ref_act(const std::string& op, double x, double a, double b) {
  auto sp = [](double v) { return std::log1p(std::exp(v)); };
  if (op == "relu") return std::max(x, 0.0);
  if (op == "sigmoid") return 1 / (1 + std::exp(-x));
  if (op == "gelu_erf") return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  if (op == "gelu_tanh") return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  if (op == "silu") return x / (1 + std::exp(-x));
  if (op == "leaky_relu") return x > 0 ? x : a * x;
  if (op == "elu") return x > 0 ? x : a * (std::exp(x) - 1);
  if (op == "celu") return x > 0 ? x : a * (std::exp(x / a) - 1);
  if (op == "selu") return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (std::exp(x) - 1));
  if (op == "softplus") return x * a > b ? x : sp(a * x) / a;
  if (op == "clip") return std::min(std::max(x, a), b);
  if (op == "hardswish") return x * std::min(std::max(x + 3, 0.0), 6.0) / 6;
  if (op == "hardsigmoid") return std::min(std::max(x + 3, 0.0), 6.0) / 6;
  if (op == "mish") return x * std::tanh(sp(x));
  if (op == "softsign") return x / (1 + std::fabs(x));
  return NAN;
}
}  // namespace

TEST(Activation, AllOpsFloatDtypes) {
  unsigned seed = 300;
  for (const std::string& op : ir::kActivationOps) {
    double a = 0.1, b = 0.0;
    if (op == "elu" || op == "celu") a = 1.3;
    if (op == "softplus") a = 2.0, b = 3.0;
    if (op == "clip") a = -0.5, b = 1.5;
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
      for (Dims d : {Dims{17}, Dims{2, 3, 4}}) {
        HostTensor x = random_tensor(t, d, seed++, -5, 5);
        Network net;
        net.mark_output(net.add_activation(net.add_input("x", t, d), op, a, b));
        std::vector<double> ref;
        for (double v : x.values()) ref.push_back(ref_act(op, v, a, b));
        auto outs = run(net, {x}, seed % 5 == 0);
        expect_close(outs[0], d, rounded(ref, t), default_tol(t) * 2, op + " " + to_string(t));
      }
    }
  }
}

TEST(Activation, IntegerReluAndClip) {
  HostTensor x = random_tensor(DataType::kInt64, {9}, 5, -10, 10);
  for (std::string op : {"relu", "clip"}) {
    Network net;
    net.mark_output(net.add_activation(net.add_input("x", DataType::kInt64, {9}), op, -2.5, 4.5));
    std::vector<double> ref;
    for (double v : x.values()) ref.push_back(op == "relu" ? std::max(v, 0.0) : std::min(std::max(v, -2.0), 4.0));
    expect_close(run(net, {x})[0], {9}, ref, 0, op);
  }
  Network net;
  Tensor i = net.add_input("i", DataType::kInt32, {2});
  expect_error([&] { net.add_activation(i, "sigmoid"); }, ErrorCode::kInvalidNetwork, {"floating-point"});
  Tensor f = net.add_input("f", DataType::kFloat32, {2});
  expect_error([&] { net.add_activation(f, "clip", 2, 1); }, ErrorCode::kInvalidNetwork, {"alpha (min) <= beta (max)"});
  expect_error([&] { net.add_activation(f, "softplus", 0, 20); }, ErrorCode::kInvalidNetwork, {"non-zero alpha"});
}

TEST(PRelu, ChannelSlopeBroadcast) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    Dims d{2, 3, 4, 5}, sd{3, 1, 1};
    HostTensor x = random_tensor(t, d, 11), w = random_tensor(t, sd, 12, 0, 1);
    Network net;
    Tensor tw = net.add_constant(to_weights(w));
    net.mark_output(net.add_layer(LayerKind::kPRelu, {net.add_input("x", t, d), tw})[0]);
    std::vector<double> ref(d.volume());
    for (int64_t i = 0; i < d.volume(); ++i) {
      double v = x.get(i), s = w.get(ravel_broadcast(unravel(i, d), sd));
      ref[i] = v > 0 ? v : v * s;
    }
    expect_close(run(net, {x}, true)[0], d, rounded(ref, t), default_tol(t), to_string(t));
  }
  Network net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3});
  Tensor s = net.add_input("s", DataType::kFloat32, {4, 2, 3});
  expect_error([&] { net.add_layer(LayerKind::kPRelu, {x, s}); }, ErrorCode::kInvalidNetwork, {"broadcast to the input"});
}

TEST(Select, BroadcastAllOperandsAllDtypes) {
  unsigned seed = 500;
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt8, DataType::kBool}) {
    Dims dc{4, 1}, da{1, 5}, db{}, dout{4, 5};
    HostTensor c = random_tensor(DataType::kBool, dc, seed++), a = random_tensor(t, da, seed++),
               b = random_tensor(t, db, seed++);
    Network net;
    net.mark_output(net.add_layer(LayerKind::kSelect, {net.add_input("c", DataType::kBool, dc), net.add_input("a", t, da),
                                                        net.add_input("b", t, db)})[0]);
    std::vector<double> ref(dout.volume());
    for (int64_t i = 0; i < dout.volume(); ++i) {
      auto idx = unravel(i, dout);
      ref[i] = c.get(ravel_broadcast(idx, dc)) ? a.get(ravel_broadcast(idx, da)) : b.get(ravel_broadcast(idx, db));
    }
    expect_close(run(net, {c, a, b}, true)[0], dout, ref, 0, to_string(t));
  }
  Network net;
  Tensor f = net.add_input("f", DataType::kFloat32, {2});
  Tensor i = net.add_input("i", DataType::kInt32, {2});
  expect_error([&] { net.add_layer(LayerKind::kSelect, {f, f, f}); }, ErrorCode::kInvalidNetwork, {"condition must be bool"});
}

TEST(Cast, EveryPairOfDtypes) {
  const std::vector<DataType> all = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                                     DataType::kInt32,   DataType::kInt64,   DataType::kBool,     DataType::kUInt8};
  unsigned seed = 700;
  for (DataType from : all) {
    for (DataType to : all) {
      Dims d{2, 7};
      HostTensor x = random_tensor(from, d, seed++, -100, 100);
      Network net;
      Tensor y = net.add_cast(net.add_input("x", from, d), to);
      net.mark_output(y);
      EXPECT_EQ(y.dtype(), to);
      std::vector<double> ref;
      for (double v : x.values()) {
        double r = to == DataType::kBool ? (v != 0) : is_integer(to) ? std::trunc(v) : v;
        if (to == DataType::kUInt8) r = static_cast<double>(static_cast<uint8_t>(static_cast<int64_t>(r)));
        ref.push_back(r);
      }
      if (from == DataType::kInt64 || from == DataType::kInt32 || from == DataType::kInt8) {
        if (to == DataType::kUInt8) continue;  // negative ints wrap modulo 256, as in PyTorch; checked below
      }
      if (is_floating(to)) ref = rounded(ref, to);
      expect_close(run(net, {x}, seed % 7 == 0)[0], d, ref, default_tol(to),
                   std::string(to_string(from)) + "->" + to_string(to));
    }
  }
  HostTensor neg(DataType::kInt32, {1});
  neg.set(0, -3);
  Network net;
  net.mark_output(net.add_cast(net.add_input("x", DataType::kInt32, {1}), DataType::kUInt8));
  expect_close(run(net, {neg})[0], {1}, {253}, 0, "int32->uint8 wraps");
  Network bad;
  Tensor x = bad.add_input("x", DataType::kFloat32, {1});
  expect_error([&] { bad.add_layer(LayerKind::kCast, {x}, {{"dtype", std::string("float64")}}); },
               ErrorCode::kInvalidNetwork, {"float64"});
}

TEST(Generators, FillAndArange) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32, DataType::kInt64, DataType::kBool}) {
    Network net;
    net.mark_output(net.add_layer(LayerKind::kFill, {}, {{"shape", std::vector<int64_t>{2, 3}}, {"dtype", std::string(to_string(t))}, {"value", 1.0}})[0], "f");
    if (t != DataType::kBool)
      net.mark_output(net.add_layer(LayerKind::kArange, {}, {{"size", int64_t(5)}, {"start", -2.0}, {"step", 3.0}, {"dtype", std::string(to_string(t))}})[0], "a");
    auto outs = run(net, {}, true);
    expect_close(outs[0], {2, 3}, std::vector<double>(6, 1.0), 0, "fill");
    if (t != DataType::kBool) expect_close(outs[1], {5}, {-2, 1, 4, 7, 10}, 0, "arange");
  }
  Network net;
  expect_error([&] { net.add_layer(LayerKind::kArange, {}, {{"size", int64_t(-1)}}); }, ErrorCode::kInvalidNetwork, {"size must be >= 0"});
  expect_error([&] { net.add_layer(LayerKind::kFill, {}, {{"shape", std::vector<int64_t>{2, -3}}}); }, ErrorCode::kInvalidNetwork, {"negative"});
  expect_error([&] { net.add_layer(LayerKind::kArange, {}, {{"size", int64_t(2)}, {"dtype", std::string("bool")}}); },
               ErrorCode::kInvalidNetwork, {"bool"});
}

TEST(VectorMath, ErfAndTanhWithinFloatRoundingOfTheExactValues) {
  // kernels/cpu/vector_math.h's erf (the CPU kernels' GELU and erf) against the double-precision
  // one over [-12, 12] in steps finer than float spacing near 1, scaled by max(|erf|, 0.5).
  double worst = 0;
  for (double v = -12.0; v <= 12.0; v += 3e-5) {
    const float x = static_cast<float>(v);
    const double exact = std::erf(static_cast<double>(x));
    worst = std::max(worst, std::fabs(tensorforge::cpu::erff(x) - exact) / std::max(std::fabs(exact), 0.5));
  }
  EXPECT_LT(worst, 4e-7);
  EXPECT_EQ(tensorforge::cpu::erff(0.0f), 0.0f);
  EXPECT_EQ(tensorforge::cpu::erff(INFINITY), 1.0f);
  EXPECT_EQ(tensorforge::cpu::erff(-INFINITY), -1.0f);
  EXPECT_TRUE(std::isnan(tensorforge::cpu::erff(NAN)));
  EXPECT_LT(tensorforge::cpu::erff(-1e-3f), 0.0f);  // odd near zero, where the series serves
  for (float x = 1e-6f; x < 0.5f; x *= 1.01f)  // relative accuracy near zero too
    EXPECT_LT(std::fabs(tensorforge::cpu::erff(x) / std::erf(static_cast<double>(x)) - 1.0), 3e-7) << x;
  // tanh relative to the exact value, and its special values.
  double worst_tanh = 0;
  for (double v = -20.0; v <= 20.0; v += 1e-4) {
    const float y = static_cast<float>(v);
    if (y == 0.0f) continue;
    const double exact = std::tanh(static_cast<double>(y));
    worst_tanh = std::max(worst_tanh, std::fabs(tensorforge::cpu::tanhf(y) / exact - 1.0));
  }
  EXPECT_LT(worst_tanh, 2.5e-7);
  for (float y = 1e-6f; y < 0.7f; y *= 1.01f)
    EXPECT_LT(std::fabs(tensorforge::cpu::tanhf(y) / std::tanh(static_cast<double>(y)) - 1.0), 2.5e-7) << y;
  EXPECT_EQ(tensorforge::cpu::tanhf(0.0f), 0.0f);
  EXPECT_EQ(tensorforge::cpu::tanhf(INFINITY), 1.0f);
  EXPECT_EQ(tensorforge::cpu::tanhf(-INFINITY), -1.0f);
  EXPECT_TRUE(std::isnan(tensorforge::cpu::tanhf(NAN)));
  // e^x for x <= 0 within 2 ulp where it is normal.
  for (double v = -80.0; v <= 0.0; v += 1e-3) {
    const float x = static_cast<float>(v);
    const double exact = std::exp(static_cast<double>(x));
    EXPECT_LT(std::fabs(tensorforge::cpu::exp_nonpositive(x) - exact) / exact, 2.5e-7) << x;
  }
}
