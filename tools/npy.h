// Reading and writing NumPy's .npy format (version 1.0/2.0/3.0 read, 1.0 written) for
// tensorforge-exec's --load-inputs and --save-outputs. Files are untrusted: a header that is not a
// C-order array of the expected dtype and shape, or a payload of the wrong size, is an Error
// naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensorforge/types.h"

namespace tfexec {

/// NumPy's descr for `t` ("<f4", "<f2", "|b1", ...); bfloat16 has none ("" ).
std::string npy_descr(tensorforge::DataType t);

/// Writes `bytes` as an array of `t` and `dims` to `path`.
void write_npy(const std::string& path, tensorforge::DataType t, const tensorforge::Dims& dims,
               const std::vector<uint8_t>& bytes);

/// Reads `path`, which must hold a C-order array of `t` and `dims`; returns its bytes.
std::vector<uint8_t> read_npy(const std::string& path, tensorforge::DataType t, const tensorforge::Dims& dims);

}  // namespace tfexec
