// What the CPU kernels built on oneDNN share (conv_onednn.cc, matmul_onednn.cc); included only in
// builds with TENSORFORGE_WITH_ONEDNN.
#pragma once

#include <cstring>

#include "kernels/cpu/parallel.h"
#include "kernels/kernel.h"
#include <oneapi/dnnl/dnnl.hpp>

namespace tensorforge::cpu {

/// The process's oneDNN CPU engine.
dnnl::engine& onednn_engine();

/// A constant's values reordered once into `packed` (a layout oneDNN chose), from `user`'s layout.
dnnl::memory packed_constant(const Weights& w, const dnnl::memory::desc& user, const dnnl::memory::desc& packed);

/// oneDNN's primitives split their work over OpenMP threads fixed at creation, which a forked child
/// lacks (libgomp would wait for them forever): there, `fallback` (a kernel of the same layer that
/// needs no OpenMP, created beside the oneDNN one) runs instead. True when it ran.
inline bool ran_fallback_in_forked_child(const Kernel& fallback, const TensorView* in, const TensorView* out,
                                         void* workspace) {
  if (!forked_child()) return false;
  fallback.run(in, out, workspace);
  return true;
}

/// Before a primitive with a sum post-op writes `out` (in the caller's layout): the output starts as
/// the residual `residual` (copied unless it is the output's own buffer).
inline void start_from_residual(const TensorView& residual, const TensorView& out, size_t bytes) {
  if (residual.data != out.data) std::memcpy(out.data, residual.data, bytes);
}

}  // namespace tensorforge::cpu
