// Basic value types of the public API: data types, dimensions, errors, device kinds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace tensorforge {

/// Element type of a tensor.
enum class DataType : uint8_t {
  kFloat32 = 0,   ///< IEEE 754 binary32.
  kFloat16 = 1,   ///< IEEE 754 binary16 (computed in float32 on the CPU).
  kBFloat16 = 2,  ///< bfloat16 (computed in float32 on the CPU).
  kInt8 = 3,      ///< Signed 8-bit integer.
  kInt32 = 4,     ///< Signed 32-bit integer.
  kInt64 = 5,     ///< Signed 64-bit integer.
  kBool = 6,      ///< Boolean, one byte per element (0 or 1).
  kUInt8 = 7,     ///< Unsigned 8-bit integer.
  /// FP8 E4M3 (PyTorch's float8_e4m3fn: largest 448, no infinities). A storage type: casts,
  /// quantize and dequantize take it; arithmetic layers do not (docs/quantization.md).
  kFloat8E4M3 = 8,
};

/// Number of DataType values; valid values are 0 .. kNumDataTypes-1.
constexpr int kNumDataTypes = 9;

/// Size in bytes of one element of `t`.
size_t element_size(DataType t);

/// Lower-case name of `t`, as PyTorch spells it ("float32", "bfloat16", "bool", ...).
const char* to_string(DataType t);

/// Parses a name produced by to_string(); throws Error for an unknown name.
DataType parse_data_type(const std::string& name);

/// True for float32, float16 and bfloat16.
bool is_floating(DataType t);

/// True for int8, int32, int64 and uint8 (not bool).
bool is_integer(DataType t);

/// True for the 8-bit float storage types (float8_e4m3fn).
bool is_float8(DataType t);

/// Largest rank a tensor may have.
constexpr int kMaxDims = 8;

/// The shape of a tensor: up to kMaxDims extents, outermost first.
class Dims {
 public:
  /// A rank-0 (scalar) shape.
  Dims() = default;
  /// A shape from a list of extents, e.g. Dims{1, 3, 224, 224}.
  Dims(std::initializer_list<int64_t> d);
  /// A shape from a vector of extents; throws Error if longer than kMaxDims.
  explicit Dims(const std::vector<int64_t>& d);
  /// Rank (number of dimensions).
  int rank() const { return nb_; }
  /// Extent of dimension i (0 <= i < rank()).
  int64_t operator[](int i) const { return d_[i]; }
  /// Mutable extent of dimension i.
  int64_t& operator[](int i) { return d_[i]; }
  /// Product of the extents (1 for a scalar; INT64_MAX if it would overflow, which no shape a
  /// network accepts does).
  int64_t volume() const;
  /// The extents as a vector.
  std::vector<int64_t> vec() const { return std::vector<int64_t>(d_, d_ + nb_); }
  /// Text form "[1,3,224,224]".
  std::string str() const;
  /// Equality of rank and every extent.
  bool operator==(const Dims& o) const;
  /// Inequality.
  bool operator!=(const Dims& o) const { return !(*this == o); }

 private:
  int64_t d_[kMaxDims] = {};
  int nb_ = 0;
};

/// What kind of failure an Error reports.
enum class ErrorCode : uint8_t {
  kInvalidArgument = 0,  ///< A caller passed a bad value (wrong shape, dtype, name, attribute).
  kInvalidNetwork = 1,   ///< The network is malformed (shape inference failed, dangling tensor, ...).
  kUnsupported = 2,      ///< A valid request this build cannot carry out.
  kCorruptFile = 3,      ///< An engine file or buffer failed validation.
  kRuntime = 4,          ///< A failure while running an engine (bad index value, out of memory, ...).
  kInternal = 5,         ///< A bug in TensorForge.
};

/// The exception every TensorForge API throws; its message says what went wrong and where.
class Error : public std::runtime_error {
 public:
  /// An error of kind `code` with message `what`.
  Error(ErrorCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  /// The kind of failure.
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

/// Where an engine runs.
enum class DeviceKind : uint8_t {
  kCPU = 0,   ///< The host CPU (reference kernels, BLAS).
  kCUDA = 1,  ///< An NVIDIA GPU (not yet available in this build).
};

/// "cpu" or "cuda".
const char* to_string(DeviceKind k);

/// The TensorForge version string ("major.minor.patch").
const char* version();

}  // namespace tensorforge
