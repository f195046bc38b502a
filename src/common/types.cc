// DataType, Dims and DeviceKind helpers of the public API.
#include <sstream>

#include "tensorforge/types.h"

namespace tensorforge {

namespace {
struct DataTypeInfo {
  const char* name;
  size_t size;
};
constexpr DataTypeInfo kInfo[kNumDataTypes] = {
    {"float32", 4}, {"float16", 2}, {"bfloat16", 2}, {"int8", 1}, {"int32", 4}, {"int64", 8}, {"bool", 1}, {"uint8", 1},
    {"float8_e4m3fn", 1},
};
}  // namespace

size_t element_size(DataType t) { return kInfo[static_cast<int>(t)].size; }
const char* to_string(DataType t) {
  int i = static_cast<int>(t);
  return (i >= 0 && i < kNumDataTypes) ? kInfo[i].name : "invalid";
}

DataType parse_data_type(const std::string& name) {
  for (int i = 0; i < kNumDataTypes; ++i)
    if (name == kInfo[i].name) return static_cast<DataType>(i);
  throw Error(ErrorCode::kInvalidArgument, "unknown data type '" + name +
                                               "' (expected float32, float16, bfloat16, int8, int32, int64, bool, "
                                               "uint8 or float8_e4m3fn)");
}

bool is_floating(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}
bool is_integer(DataType t) {
  return t == DataType::kInt8 || t == DataType::kInt32 || t == DataType::kInt64 || t == DataType::kUInt8;
}
bool is_float8(DataType t) { return t == DataType::kFloat8E4M3; }

Dims::Dims(std::initializer_list<int64_t> d) : Dims(std::vector<int64_t>(d)) {}

Dims::Dims(const std::vector<int64_t>& d) {
  if (d.size() > static_cast<size_t>(kMaxDims))
    throw Error(ErrorCode::kInvalidArgument,
                "rank " + std::to_string(d.size()) + " exceeds the maximum of " + std::to_string(kMaxDims));
  nb_ = static_cast<int>(d.size());
  for (int i = 0; i < nb_; ++i) d_[i] = d[i];
}

int64_t Dims::volume() const {
  for (int i = 0; i < nb_; ++i)
    if (d_[i] == 0) return 0;
  int64_t v = 1;
  for (int i = 0; i < nb_; ++i)
    if (__builtin_mul_overflow(v, d_[i], &v)) return INT64_MAX;  // no valid tensor gets here
  return v;
}

std::string Dims::str() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < nb_; ++i) os << (i ? "," : "") << d_[i];
  os << ']';
  return os.str();
}

bool Dims::operator==(const Dims& o) const {
  if (nb_ != o.nb_) return false;
  for (int i = 0; i < nb_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

const char* to_string(DeviceKind k) { return k == DeviceKind::kCPU ? "cpu" : "cuda"; }

const char* version() { return TENSORFORGE_VERSION; }

}  // namespace tensorforge
