// .npy reading and writing (see npy.h).
#include "npy.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace tfexec {

using tensorforge::DataType;
using tensorforge::Dims;
using tensorforge::Error;
using tensorforge::ErrorCode;

std::string npy_descr(DataType t) {
  switch (t) {
    case DataType::kFloat32: return "<f4";
    case DataType::kFloat16: return "<f2";
    case DataType::kInt8: return "|i1";
    case DataType::kInt32: return "<i4";
    case DataType::kInt64: return "<i8";
    case DataType::kBool: return "|b1";
    case DataType::kUInt8: return "|u1";
    case DataType::kBFloat16: return "";
  }
  return "";
}

namespace {

std::string shape_text(const Dims& dims) {
  std::string s = "(";
  for (int i = 0; i < dims.rank(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.rank() == 1 ? ",)" : ")");
}

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\'' || s.front() == '"')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\'' || s.back() == '"')) s.pop_back();
  return s;
}

// The extents of a shape tuple "(2, 3)", "(5,)", "()"; false when it is not one.
bool parse_shape(const std::string& text, std::vector<int64_t>& out) {
  const std::string t = trim(text);
  if (t.size() < 2 || t.front() != '(' || t.back() != ')') return false;
  std::stringstream items(t.substr(1, t.size() - 2));
  std::string item;
  while (std::getline(items, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    if (item.size() > 18 || item.find_first_not_of("0123456789") != std::string::npos) return false;
    out.push_back(std::stoll(item));
  }
  return true;
}

[[noreturn]] void bad(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, path + ": " + why);
}

// The value after 'key': in a header dict, up to the next top-level comma or closing brace.
std::string value_of(const std::string& header, const std::string& key, const std::string& path) {
  const std::string quoted = "'" + key + "':";
  size_t at = header.find(quoted);
  if (at == std::string::npos) bad(path, "the .npy header has no '" + key + "'");
  at += quoted.size();
  while (at < header.size() && header[at] == ' ') ++at;
  int depth = 0;
  size_t end = at;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) break;
  }
  if (depth != 0 && header[end] != ')') bad(path, "the .npy header's '" + key + "' is malformed");
  return header.substr(at, end - at + (header[end] == ')' ? 1 : 0));
}

}  // namespace

void write_npy(const std::string& path, DataType t, const Dims& dims, const std::vector<uint8_t>& bytes) {
  const std::string descr = npy_descr(t);
  if (descr.empty()) throw Error(ErrorCode::kUnsupported, path + ": NumPy has no bfloat16; use raw bytes");
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text(dims) + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kRuntime, "cannot write " + path);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(static_cast<char>(len & 0xff));
  f.put(static_cast<char>(len >> 8));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error(ErrorCode::kRuntime, "cannot write " + path);
}

std::vector<uint8_t> read_npy(const std::string& path, DataType t, const Dims& dims) {
  std::ifstream f(path, std::ios::binary);
  if (!f) bad(path, "cannot open it");
  std::vector<char> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (data.size() < 10 || std::memcmp(data.data(), "\x93NUMPY", 6) != 0) bad(path, "not a .npy file");
  const int major = static_cast<unsigned char>(data[6]);
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(data[8]) | static_cast<size_t>(static_cast<unsigned char>(data[9])) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12) bad(path, "truncated .npy header");
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(data[8 + i]);
    start = 12;
  } else {
    bad(path, ".npy version " + std::to_string(major) + " is not supported");
  }
  if (header_len > data.size() - start) bad(path, "truncated .npy header");
  const std::string header(data.data() + start, header_len);
  const std::string descr = npy_descr(t);
  if (descr.empty()) bad(path, "NumPy has no bfloat16 arrays to load");
  const std::string got_descr = trim(value_of(header, "descr", path));
  if (got_descr != descr)
    bad(path, "holds '" + got_descr + "' data; the engine's input is " + tensorforge::to_string(t) + " ('" + descr + "')");
  if (trim(value_of(header, "fortran_order", path)) != "False") bad(path, "Fortran-order arrays are not supported");
  const std::string shape = trim(value_of(header, "shape", path));
  std::vector<int64_t> extents;
  if (!parse_shape(shape, extents)) bad(path, "the .npy header's shape " + shape + " is malformed");
  if (extents != dims.vec())
    bad(path, "has shape " + shape + "; the engine's input is " + shape_text(dims));
  const size_t want = static_cast<size_t>(dims.volume()) * tensorforge::element_size(t);
  const size_t payload = data.size() - start - header_len;
  if (payload != want)
    bad(path, "holds " + std::to_string(payload) + " bytes of data; " + shape_text(dims) + " " + descr + " takes " +
                  std::to_string(want));
  return std::vector<uint8_t>(data.begin() + static_cast<std::ptrdiff_t>(start + header_len), data.end());
}

}  // namespace tfexec
