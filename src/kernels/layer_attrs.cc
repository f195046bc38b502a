// Attribute readings shared by the CPU and CUDA kernels.
#include "kernels/layer_attrs.h"

#include <limits>

namespace tensorforge {

double rms_eps(const KernelSpec& s) {
  double eps = ir::attr_float(s.layer, "eps");
  if (eps != -1) return eps;
  switch (s.inputs[0]->dtype) {
    case DataType::kFloat16: return 0.0009765625;  // 2^-10
    case DataType::kBFloat16: return 0.0078125;    // 2^-7
    default: return std::numeric_limits<float>::epsilon();
  }
}

ConvActivation conv_activation(const KernelSpec& s) {
  auto it = s.layer.attrs.find("activation");
  const std::string* v = it == s.layer.attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
  ConvActivation a = ConvActivation::kNone;
  if (v) parse_conv_activation(*v, a);  // inference accepted the name
  return a;
}

std::vector<bool> reduced_dims(const KernelSpec& s) {
  const Dims& d = s.inputs[0]->dims;
  std::vector<bool> reduced(d.rank(), ir::attr_ints(s.layer, "axes").empty());
  for (int64_t a : ir::attr_ints(s.layer, "axes"))
    if (d.rank() > 0) reduced[a < 0 ? a + d.rank() : a] = true;
  return reduced;
}

}  // namespace tensorforge
