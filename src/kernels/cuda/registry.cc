// The one list of CUDA kernels. Layer kinds without an entry yet are reported by the builder as
// "no kernel supports this layer on this device".
#include "kernels/kernel.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_elementwise(const KernelSpec& s);
std::unique_ptr<Kernel> create_unary(const KernelSpec& s);
std::unique_ptr<Kernel> create_activation(const KernelSpec& s);
std::unique_ptr<Kernel> create_cast(const KernelSpec& s);

const std::vector<KernelEntry>& kernels() {
  static const std::vector<KernelEntry> list = {
      {LayerKind::kElementwise, "cuda.elementwise", create_elementwise},
      {LayerKind::kUnary, "cuda.unary", create_unary},
      {LayerKind::kActivation, "cuda.activation", create_activation},
      {LayerKind::kCast, "cuda.cast", create_cast},
  };
  return list;
}

}  // namespace tensorforge::cuda
