// Little-endian byte writer and a bounds-checked reader for the engine file format. The reader
// treats its input as untrusted: every read is checked against the end, and a failure throws
// Error(kCorruptFile) saying what was being read and at which offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/utf8.h"
#include "tensorforge/types.h"

namespace tensorforge::serialize {

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i32(int32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void raw(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;  // the host is little-endian (x86-64, aarch64); checked in engine_file.cc
};

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, size_t base = 0) : p_(data), n_(size), base_(base) {}
  uint8_t u8(const char* what) { return get<uint8_t>(what); }
  uint32_t u32(const char* what) { return get<uint32_t>(what); }
  int32_t i32(const char* what) { return get<int32_t>(what); }
  uint64_t u64(const char* what) { return get<uint64_t>(what); }
  int64_t i64(const char* what) { return get<int64_t>(what); }
  double f64(const char* what) { return get<double>(what); }
  /// A length-prefixed string; names in engine files are UTF-8 (they come from Python strings), so
  /// anything else is corruption, reported with the bytes escaped.
  std::string str(const char* what) {
    uint32_t len = u32(what);
    const uint8_t* b = take(len, what);
    std::string s(reinterpret_cast<const char*>(b), len);
    if (!is_valid_utf8(s)) fail(std::string(what) + " is not valid UTF-8: '" + escape_bytes(s) + "'");
    return s;
  }
  /// A count of items each at least `min_item_bytes` long; rejects counts the remaining bytes cannot hold.
  uint32_t count(const char* what, size_t min_item_bytes) {
    uint32_t c = u32(what);
    if (min_item_bytes && static_cast<uint64_t>(c) * min_item_bytes > remaining())
      fail(std::string(what) + " count " + std::to_string(c) + " exceeds the remaining " +
           std::to_string(remaining()) + " bytes");
    return c;
  }
  const uint8_t* take(size_t n, const char* what) {
    if (n > remaining())
      fail(std::string("truncated while reading ") + what + " (needs " + std::to_string(n) + " bytes, " +
           std::to_string(remaining()) + " left)");
    const uint8_t* b = p_ + pos_;
    pos_ += n;
    return b;
  }
  size_t remaining() const { return n_ - pos_; }
  size_t offset() const { return base_ + pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorCode::kCorruptFile, "engine file is corrupt at byte " + std::to_string(offset()) + ": " + why);
  }

 private:
  template <class T>
  T get(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  size_t base_;
};

/// The file checksum of `n` bytes for format `version`: FNV-1a 64-bit byte by byte (version 1), or
/// (version 2 on) four 64-bit lanes, each multiplying (lane ^ word) by an odd constant per 8-byte
/// word (a bijection, so a changed word always changes its lane), folded with the tail bytes and n.
uint64_t checksum(const uint8_t* data, size_t n, uint32_t version);

}  // namespace tensorforge::serialize
