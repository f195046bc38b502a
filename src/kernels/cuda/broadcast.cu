// Host-side construction of the Broadcast index helper.
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

Broadcast make_broadcast(const Dims& out, const Dims* operands, int n) {
  Broadcast b;
  b.rank = out.rank();
  for (int d = 0; d < out.rank(); ++d) b.dims[d] = out[d];
  for (int k = 0; k < n; ++k) {
    const Dims& in = operands[k];
    b.contiguous[k] = in == out;
    int64_t acc = 1;
    for (int i = in.rank() - 1; i >= 0; --i) {
      int o = out.rank() - in.rank() + i;
      b.strides[k][o] = in[i] == 1 ? 0 : acc;
      acc *= in[i];
    }
  }
  return b;
}

}  // namespace tensorforge::cuda
