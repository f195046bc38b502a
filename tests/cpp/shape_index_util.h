// Helpers shared by the shape and index layer tests: the list of every dtype (these layers take all)
// and the row-major flat index of a multi-index, for the naive references.
#pragma once

#include "test_util.h"

namespace tft {

inline const std::vector<DataType> kAllTypes = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                                DataType::kInt8,    DataType::kInt32,   DataType::kInt64,
                                                DataType::kBool,    DataType::kUInt8};

/// Flat index of a multi-index in a contiguous tensor of shape d.
inline int64_t ravel(const std::vector<int64_t>& idx, const Dims& d) {
  int64_t flat = 0;
  for (int k = 0; k < d.rank(); ++k) flat = flat * d[k] + idx[k];
  return flat;
}

}  // namespace tft
