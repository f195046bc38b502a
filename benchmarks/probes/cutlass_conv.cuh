// What the CUTLASS 3 convolution probes (int8_conv_cutlass_sm90.cu, stem_conv_cutlass_sm90.cu) share:
// a square-window forward problem from a probe's layer shape (fields n, h, w, c, k, r, pad, stride),
// and the packed NHWC stride of a problem's output, in the form of the kernel's C or D stride.
#pragma once

#include "cute/tensor.hpp"
#include "cutlass/conv/convnd_problem_shape.hpp"

template <class Problem, class Shape>
Problem square_problem(const Shape& s) {
  return Problem(cutlass::conv::Mode::kCrossCorrelation, {s.n, s.h, s.w, s.c}, {s.k, s.r, s.r, s.c}, {s.pad, s.pad},
                 {s.pad, s.pad}, {s.stride, s.stride}, {1, 1}, 1);
}

template <class Stride, class Problem>
Stride output_stride(const Problem& problem) {
  Stride s;
  cute::for_each(cute::make_seq<cute::rank<0>(Stride{})>{},
                 [&](auto i) { cute::get<0, i>(s) = problem.stride_C[Problem::RankT - 2 - i]; });
  return s;
}
