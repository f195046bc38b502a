// The one list of CUDA kernels. Layer kinds without an entry yet are reported by the builder as
// "no kernel supports this layer on this device".
#include "kernels/kernel.h"

namespace tensorforge::cuda {

std::unique_ptr<Kernel> create_elementwise(const KernelSpec& s);
std::unique_ptr<Kernel> create_unary(const KernelSpec& s);
std::unique_ptr<Kernel> create_activation(const KernelSpec& s);
std::unique_ptr<Kernel> create_cast(const KernelSpec& s);
std::unique_ptr<Kernel> create_softmax(const KernelSpec& s);
std::unique_ptr<Kernel> create_batch_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_layer_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_rms_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_group_norm(const KernelSpec& s);
std::unique_ptr<Kernel> create_reduce(const KernelSpec& s);
std::unique_ptr<Kernel> create_arg_reduce(const KernelSpec& s);

const std::vector<KernelEntry>& kernels() {
  static const std::vector<KernelEntry> list = {
      {LayerKind::kElementwise, "cuda.elementwise", create_elementwise},
      {LayerKind::kUnary, "cuda.unary", create_unary},
      {LayerKind::kActivation, "cuda.activation", create_activation},
      {LayerKind::kCast, "cuda.cast", create_cast},
      {LayerKind::kSoftmax, "cuda.softmax", create_softmax},
      {LayerKind::kBatchNorm, "cuda.batch_norm", create_batch_norm},
      {LayerKind::kLayerNorm, "cuda.layer_norm", create_layer_norm},
      {LayerKind::kRMSNorm, "cuda.rms_norm", create_rms_norm},
      {LayerKind::kGroupNorm, "cuda.group_norm", create_group_norm},
      {LayerKind::kReduce, "cuda.reduce", create_reduce},
      {LayerKind::kArgReduce, "cuda.arg_reduce", create_arg_reduce},
  };
  return list;
}

}  // namespace tensorforge::cuda
