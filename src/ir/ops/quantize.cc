// Quantize, dequantize and quantized_matmul (docs/layers.md, docs/quantization.md): float <-> int8/uint8 with a scale
// and an optional zero point, each broadcast to the data (per tensor: one element; per channel: the
// channel's extent at its axis, 1 elsewhere). The arithmetic is kernels/common/quantize_formulas.h.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "common/broadcast.h"
#include "ir/op_registry.h"

namespace tensorforge::ir {

namespace {

DataType attr_dtype(InferContext& c) {
  try {
    return parse_data_type(c.get_string("dtype"));
  } catch (const Error& e) {
    c.fail(e.what());
  }
}

// scale (float32) and zero_point (int32, optional) must broadcast to the data's shape `dims`.
void check_params(InferContext& c, const Dims& dims) {
  c.require(c.dtype(1) == DataType::kFloat32, "the scale must be float32");
  for (int i = 1; i < 3; ++i) {
    if (!c.has_input(i)) continue;
    Dims out;
    c.require(broadcast_shape(dims, c.dims(i), out) && out == dims,
              std::string(i == 1 ? "the scale " : "the zero point ") + c.dims(i).str() +
                  " must broadcast to the data's shape " + dims.str());
  }
  if (c.has_input(2)) c.require(c.dtype(2) == DataType::kInt32, "the zero point must be int32");
}

// The "activation" attribute: quantize's prologue, quantized_matmul's epilogue (the matmul's names).
void check_activation(InferContext& c) {
  const std::string& act = c.get_string("activation");
  c.require(act == "none" || act == "relu" || act == "gelu" || act == "gelu_tanh",
            "activation must be \"none\", \"relu\", \"gelu\" or \"gelu_tanh\", not \"" + act + "\"");
}

void infer_quantize(InferContext& c) {
  c.require(is_floating(c.dtype(0)), "quantize needs a floating-point input");
  check_activation(c);
  const DataType to = attr_dtype(c);
  c.require(to == DataType::kInt8 || to == DataType::kUInt8 || is_float8(to),
            "quantize produces int8, uint8 or float8_e4m3fn");
  if (is_float8(to)) {  // saturates to the format's range; no zero point (docs/layers.md)
    c.require(!c.has_input(2), "a float8_e4m3fn quantize takes no zero point");
    check_params(c, c.dims(0));
    c.set_output(0, to, c.dims(0));
    return;
  }
  const int64_t lo = to == DataType::kInt8 ? -128 : 0, hi = to == DataType::kInt8 ? 127 : 255;
  const int64_t qmin = c.get_int("qmin"), qmax = c.get_int("qmax");
  c.require(qmin == std::numeric_limits<int64_t>::min() || (qmin >= lo && qmin <= hi),
            "qmin " + std::to_string(qmin) + " is outside " + to_string(to) + "'s range");
  c.require(qmax == std::numeric_limits<int64_t>::max() || (qmax >= lo && qmax <= hi),
            "qmax " + std::to_string(qmax) + " is outside " + to_string(to) + "'s range");
  c.require(std::max(qmin, lo) <= std::min(qmax, hi), "qmin must not exceed qmax");
  check_params(c, c.dims(0));
  c.set_output(0, to, c.dims(0));
}

void infer_dequantize(InferContext& c) {
  check_scale_source(c);
  c.require(c.dtype(0) == DataType::kInt8 || c.dtype(0) == DataType::kUInt8 || is_float8(c.dtype(0)),
            "dequantize takes int8, uint8 or float8_e4m3fn");
  c.require(!is_float8(c.dtype(0)) || !c.has_input(2), "a float8_e4m3fn dequantize takes no zero point");
  const DataType to = attr_dtype(c);
  c.require(is_floating(to), "dequantize produces a floating-point dtype");
  check_params(c, c.dims(0));
  c.set_output(0, to, c.dims(0));
}

void infer_quantized_matmul(InferContext& c) {
  const Dims &a = c.dims(0), &b = c.dims(1);
  const bool int_a = c.dtype(0) == DataType::kInt8 || c.dtype(0) == DataType::kUInt8;
  const bool float8 = is_float8(c.dtype(0)) && is_float8(c.dtype(1));
  c.require(((int_a || is_floating(c.dtype(0))) && c.dtype(1) == DataType::kInt8) || float8,
            "a must be int8, uint8 or a float dtype (weight only) and b int8, or both float8_e4m3fn");
  c.require(a.rank() >= 2 && b.rank() == 2, "a needs rank >= 2 and b rank 2");
  const int64_t tb = c.get_int("transpose_b");
  c.require(tb == 0 || tb == 1, "transpose_b must be 0 or 1");
  const int64_t k = a[a.rank() - 1], kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  c.require(k == kb, "inner dimensions differ: K of a is " + std::to_string(k) + ", K of b is " + std::to_string(kb));
  for (int i = 2; i < 4; ++i) {
    if (!c.has_input(i)) continue;
    c.require(c.dtype(i) == DataType::kFloat32 && c.dims(i) == Dims{n},
              std::string(i == 2 ? "scale" : "bias") + " must be float32 [N] = [" + std::to_string(n) + "]");
  }
  check_scale_source(c);
  check_activation(c);
  const DataType to = attr_dtype(c);
  c.require(is_floating(to), "the output dtype must be a float dtype");
  std::vector<int64_t> out = a.vec();
  out.back() = n;
  if (c.has_input(4))
    c.require(c.dtype(4) == to && c.dims(4) == Dims(out),
              std::string("the residual must have the output's dtype and shape ") + to_string(to) + Dims(out).str());
  c.set_output(0, to, Dims(out));
}

}  // namespace

void check_scale_source(InferContext& c) {
  const std::string& s = c.get_string("scale_source");
  c.require(s.empty() || s == "given" || s == "calibrated" || s == "weight-only",
            "scale_source must be \"\", \"given\", \"calibrated\" or \"weight-only\", not \"" + s + "\"");
}

void add_quantize_ops(std::vector<OpDef>& defs) {
  defs.push_back({LayerKind::kQuantize,
                  {"x", "scale", "zero_point"},
                  2,
                  false,
                  {{"dtype", AttrType::kString, true, {}},
                   {"qmin", AttrType::kInt, false, std::numeric_limits<int64_t>::min()},
                   {"qmax", AttrType::kInt, false, std::numeric_limits<int64_t>::max()},
                   {"activation", AttrType::kString, false, std::string("none")}},
                  nullptr,
                  infer_quantize});
  defs.push_back({LayerKind::kDequantize, {"q", "scale", "zero_point"}, 2, false,
                  {{"dtype", AttrType::kString, false, std::string("float32")},
                   {"scale_source", AttrType::kString, false, std::string()}},
                  nullptr, infer_dequantize});
  defs.push_back({LayerKind::kQuantizedMatMul,
                  {"a", "b", "scale", "bias", "residual"},
                  3,
                  false,
                  {{"transpose_b", AttrType::kInt, false, int64_t(0)},
                   {"activation", AttrType::kString, false, std::string("none")},
                   {"dtype", AttrType::kString, false, std::string("float32")},
                   {"scale_source", AttrType::kString, false, std::string()}},
                  nullptr,
                  infer_quantized_matmul});
}

}  // namespace tensorforge::ir
