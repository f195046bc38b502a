// The network text form read back: the inverse of the printer (docs/printer.md), so that optimizer
// passes can be tested text to text ("golden" tests) and networks written by hand.
#pragma once

#include <string>

#include "ir/graph.h"

namespace tensorforge::ir {

/// A graph from its text form. Every layer goes through Graph::add_layer (attributes checked,
/// shapes and dtypes inferred); the types written in the text must match the inferred ones.
/// Weights written without values ("float32[64,3,7,7]", as the printer writes large ones) are
/// filled with a deterministic pattern. Throws Error(kInvalidNetwork) naming the line on any
/// syntax or consistency error.
Graph parse_text(const std::string& text);

}  // namespace tensorforge::ir
