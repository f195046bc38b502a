// What the CUTLASS 3 convolution probes (int8_conv_cutlass_sm90.cu, stem_conv_cutlass_sm90.cu) share:
// the packed NHWC stride of a problem's output, in the form of the kernel's C or D stride.
#pragma once

#include "cute/tensor.hpp"

template <class Stride, class Problem>
Stride output_stride(const Problem& problem) {
  Stride s;
  cute::for_each(cute::make_seq<cute::rank<0>(Stride{})>{},
                 [&](auto i) { cute::get<0, i>(s) = problem.stride_C[Problem::RankT - 2 - i]; });
  return s;
}
