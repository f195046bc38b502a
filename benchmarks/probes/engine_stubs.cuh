// For probes that include an engine kernel's source (kernels/cuda/*.cu): the few functions of the
// engine's other files those sources call, defined for the probe alone (the default stream, names
// and sizes of the probe's types). Included once, after the kernel's source.
#pragma once

namespace tensorforge {
const char* to_string(DataType) { return "?"; }
size_t element_size(DataType t) { return t == DataType::kFloat32 ? 4 : 2; }
namespace device {
void* current_stream() { return nullptr; }
}  // namespace device
}  // namespace tensorforge
