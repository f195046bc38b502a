// Helpers shared by the C++ tests: host tensors, random data per dtype, running a network through
// the builder (and through a serialize/deserialize round trip), closeness checks, error checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/float8.h"
#include "common/half.h"
#include "tensorforge/tensorforge.h"

namespace tft {

using namespace tensorforge;

/// A tensor in host memory; values read and written as double whatever the dtype.
struct HostTensor {
  DataType dtype = DataType::kFloat32;
  Dims dims;
  std::vector<uint8_t> bytes;

  HostTensor() = default;
  HostTensor(DataType t, Dims d) : dtype(t), dims(d), bytes(static_cast<size_t>(d.volume()) * element_size(t) + 1) {}
  int64_t numel() const { return dims.volume(); }
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }

  double get(int64_t i) const {
    const uint8_t* p = bytes.data();
    switch (dtype) {
      case DataType::kFloat32: return reinterpret_cast<const float*>(p)[i];
      case DataType::kFloat16: return to_float(reinterpret_cast<const half_t*>(p)[i]);
      case DataType::kBFloat16: return to_float(reinterpret_cast<const bfloat16_t*>(p)[i]);
      case DataType::kInt8: return reinterpret_cast<const int8_t*>(p)[i];
      case DataType::kInt32: return reinterpret_cast<const int32_t*>(p)[i];
      case DataType::kInt64: return static_cast<double>(reinterpret_cast<const int64_t*>(p)[i]);
      case DataType::kBool: return p[i] ? 1.0 : 0.0;
      case DataType::kUInt8: return p[i];
      case DataType::kFloat8E4M3: return to_float(float8_e4m3_t{p[i]});
    }
    return 0;
  }
  void set(int64_t i, double v) {
    uint8_t* p = bytes.data();
    switch (dtype) {
      case DataType::kFloat32: reinterpret_cast<float*>(p)[i] = static_cast<float>(v); break;
      case DataType::kFloat16: reinterpret_cast<half_t*>(p)[i] = to_half(static_cast<float>(v)); break;
      case DataType::kBFloat16: reinterpret_cast<bfloat16_t*>(p)[i] = to_bfloat16(static_cast<float>(v)); break;
      case DataType::kInt8: reinterpret_cast<int8_t*>(p)[i] = static_cast<int8_t>(static_cast<int64_t>(v)); break;
      case DataType::kInt32: reinterpret_cast<int32_t*>(p)[i] = static_cast<int32_t>(static_cast<int64_t>(v)); break;
      case DataType::kInt64: reinterpret_cast<int64_t*>(p)[i] = static_cast<int64_t>(v); break;
      case DataType::kBool: p[i] = v != 0; break;
      case DataType::kUInt8: p[i] = static_cast<uint8_t>(static_cast<int64_t>(v)); break;
      case DataType::kFloat8E4M3: p[i] = to_float8_e4m3(static_cast<float>(v)).bits; break;
    }
  }
  std::vector<double> values() const {
    std::vector<double> v(numel());
    for (int64_t i = 0; i < numel(); ++i) v[i] = get(i);
    return v;
  }
};

/// A host tensor of dtype `t` and dims `d` holding `v` (element i is v[i]).
inline HostTensor host_values(DataType t, Dims d, const std::vector<double>& v) {
  HostTensor h(t, d);
  for (size_t i = 0; i < v.size(); ++i) h.set(static_cast<int64_t>(i), v[i]);
  return h;
}

/// Random values: floats uniform in [lo, hi], integers uniform in [lo, hi] rounded, bools 50/50.
inline HostTensor random_tensor(DataType t, Dims d, unsigned seed, double lo = -2.0, double hi = 2.0) {
  HostTensor h(t, d);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  for (int64_t i = 0; i < h.numel(); ++i) {
    double v = u(rng);
    if (t == DataType::kBool) v = v > (lo + hi) / 2;
    if (t == DataType::kUInt8) v = std::fabs(v);
    if (is_integer(t)) v = std::round(v);
    h.set(i, v);
  }
  return h;
}

/// Weights from a host tensor.
inline Weights to_weights(const HostTensor& h) { return Weights(h.dtype, h.dims, h.data()); }

/// Runs a CPU engine on `inputs` (in input order); returns the outputs.
inline std::vector<HostTensor> run_engine(const Engine& engine, const std::vector<HostTensor>& inputs) {
  ExecutionContext ctx = engine.create_execution_context();
  std::vector<HostTensor> outs;
  std::vector<void*> bindings;
  std::vector<HostTensor> ins = inputs;
  for (auto& h : ins) bindings.push_back(h.data());
  for (const IOTensorInfo& t : engine.io_tensors())
    if (!t.is_input) outs.emplace_back(t.dtype, t.dims);
  for (auto& h : outs) bindings.push_back(h.data());
  ctx.execute(bindings);
  return outs;
}

/// Expects got's largest difference from want to be below `fraction` of want's largest magnitude.
inline void expect_within_fraction(const HostTensor& got, const HostTensor& want, double fraction) {
  double err = 0, size = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    err = std::max(err, std::fabs(got.get(i) - want.get(i)));
    size = std::max(size, std::fabs(want.get(i)));
  }
  EXPECT_LT(err, fraction * size) << "largest difference " << err << " of outputs up to " << size;
}

/// Builds `net` on the CPU, runs it on `inputs` (in network input order), returns the outputs.
/// Declare inputs in separate statements: in f(net.add_input("a"), net.add_input("b")) the order of
/// the two calls, and so the input order, is unspecified.
/// With `roundtrip`, the engine is serialized and deserialized first.
inline std::vector<HostTensor> run(const Network& net, const std::vector<HostTensor>& inputs, bool roundtrip = false) {
  Engine engine = Builder().build(net);
  if (roundtrip) {
    std::vector<uint8_t> bytes = engine.serialize();
    engine = Engine::deserialize(bytes.data(), bytes.size());
  }
  return run_engine(engine, inputs);
}

/// Default tolerance per dtype: float32 1e-5 relative, float16 1e-3, bfloat16 8e-3; integers exact.
inline double default_tol(DataType t) {
  switch (t) {
    case DataType::kFloat32: return 1e-5;
    case DataType::kFloat16: return 2e-3;
    case DataType::kBFloat16: return 1.6e-2;
    default: return 0.0;
  }
}

/// Checks shape and values: |a - e| <= tol * (1 + |e|); NaNs must match.
inline void expect_close(const HostTensor& actual, const Dims& dims, const std::vector<double>& expected, double tol,
                         const std::string& what = "") {
  ASSERT_EQ(actual.dims, dims) << what << ": got shape " << actual.dims.str() << ", expected " << dims.str();
  ASSERT_EQ(static_cast<size_t>(actual.numel()), expected.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    double a = actual.get(static_cast<int64_t>(i)), e = expected[i];
    bool ok = (std::isnan(e) && std::isnan(a)) || (std::isinf(e) && a == e) || std::fabs(a - e) <= tol * (1 + std::fabs(e));
    if (!ok && reported++ < 5) ADD_FAILURE() << what << ": element " << i << " is " << a << ", expected " << e;
  }
}

/// Rounds (floats) or wraps (integers) reference values the way storing them in `t` would.
inline std::vector<double> rounded(const std::vector<double>& v, DataType t) {
  HostTensor h(t, Dims{static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) h.set(static_cast<int64_t>(i), v[i]);
  return h.values();
}

/// Expects `f` to throw tensorforge::Error of `code` whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& f, ErrorCode code, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected an Error";
}

/// Row-major multi-index of flat index i in `d`.
/// The format version an engine file's header names (bytes 8-11; 1 when it is too short), for
/// tests that damage a file and recompute its checksum.
inline uint32_t file_version(const std::vector<uint8_t>& bytes) {
  uint32_t v = 1;
  if (bytes.size() >= 12) std::memcpy(&v, bytes.data() + 8, 4);
  return v;
}

inline std::vector<int64_t> unravel(int64_t i, const Dims& d) {
  std::vector<int64_t> idx(d.rank());
  for (int k = d.rank() - 1; k >= 0; --k) {
    idx[k] = d[k] ? i % d[k] : 0;
    i = d[k] ? i / d[k] : 0;
  }
  return idx;
}

/// Flat index of a multi-index, broadcasting (index 0 along extents of 1, right-aligned).
inline int64_t ravel_broadcast(const std::vector<int64_t>& idx, const Dims& d) {
  int64_t flat = 0;
  int off = static_cast<int>(idx.size()) - d.rank();
  for (int k = 0; k < d.rank(); ++k) flat = flat * d[k] + (d[k] == 1 ? 0 : idx[k + off]);
  return flat;
}

}  // namespace tft
