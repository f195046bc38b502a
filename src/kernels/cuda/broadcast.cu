// Host-side construction of the Broadcast index helper.
#include "kernels/cuda/common.cuh"

namespace tensorforge::cuda {

Broadcast make_broadcast(const Dims& out, const Dims* operands, int n) {
  Broadcast full;  // one dim per output dim
  for (int k = 0; k < n; ++k) {
    const Dims& in = operands[k];
    full.contiguous[k] = in == out;
    int64_t acc = 1;
    for (int i = in.rank() - 1; i >= 0; --i) {
      int o = out.rank() - in.rank() + i;
      full.strides[k][o] = in[i] == 1 ? 0 : acc;
      acc *= in[i];
    }
  }
  Broadcast b;  // size-1 dims dropped, dims every operand walks alike merged into their outer neighbour
  for (int k = 0; k < 3; ++k) b.contiguous[k] = full.contiguous[k];
  int64_t total = 1;
  for (int d = 0; d < out.rank(); ++d) {
    total *= out[d];
    if (out[d] == 1) continue;
    bool merge = b.rank > 0;
    for (int k = 0; k < n && merge; ++k) merge = b.strides[k][b.rank - 1] == full.strides[k][d] * out[d];
    if (!merge) ++b.rank;
    const int r = b.rank - 1;
    b.dims[r] = merge ? b.dims[r] * out[d] : out[d];
    for (int k = 0; k < n; ++k) b.strides[k][r] = full.strides[k][d];
  }
  b.small = total < (int64_t(1) << 32);
  return b;
}

}  // namespace tensorforge::cuda
