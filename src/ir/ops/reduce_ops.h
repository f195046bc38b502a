// The reduce layer's op names, shared by inference (validation) and the CPU reduce kernel.
#pragma once

#include <string>
#include <vector>

namespace tensorforge::ir {

inline const std::vector<std::string> kReduceOps = {"sum", "mean", "max", "min", "prod", "any", "all"};

}  // namespace tensorforge::ir
