// Text form of a graph: one line per input, layer and output. docs/printer.md has the grammar.
#pragma once

#include <string>

#include "ir/graph.h"

namespace tensorforge::ir {

/// The whole graph as text.
std::string to_text(const Graph& g);

/// One attribute value as text (lists as [a, b], weights as dtype[shape] plus values when small).
std::string attr_to_text(const AttrValue& v);

}  // namespace tensorforge::ir
