// The int8 convolution probes' reference (int8_conv_cutlass*.cu): every 97th output of an NHWC int8
// convolution with KRSC int8 weights, from exact int32 sums, either scaled by alpha or through the
// engine's epilogue relu(fma(rscale[k], residual, fma(scale[k], sum, bias[k]))), rounded to nearest
// even and saturated. bad[0] counts outputs off by more than one, bad[1] those off by one (the float
// order of another epilogue may differ).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

struct ConvShape {
  int n, h, w, c, k, r, pad, stride;  // square r x r window
};

__global__ void int8_conv_reference(const int8_t* x, const int8_t* wt, const int8_t* y, ConvShape s, int p_, int q_,
                                    float alpha, int64_t total, int* bad, const float* scale = nullptr,
                                    const float* bias = nullptr, const float* rscale = nullptr,
                                    const int8_t* res = nullptr) {
  for (int64_t o = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) * 97; o < total;
       o += int64_t(gridDim.x) * blockDim.x * 97) {
    const int k = o % s.k;
    const int64_t t = o / s.k;
    const int q = t % q_, p = (t / q_) % p_, b = t / (int64_t(q_) * p_);
    int acc = 0;
    for (int r = 0; r < s.r; ++r)
      for (int u = 0; u < s.r; ++u) {
        const int ih = p * s.stride - s.pad + r, iw = q * s.stride - s.pad + u;
        if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
        for (int c = 0; c < s.c; ++c)
          acc += int(x[((int64_t(b) * s.h + ih) * s.w + iw) * s.c + c]) *
                 int(wt[((int64_t(k) * s.r + r) * s.r + u) * s.c + c]);
      }
    float v = alpha * float(acc);
    if (scale) v = fmaxf(fmaf(rscale[k], float(res[o]), fmaf(scale[k], float(acc), bias[k])), 0.0f);
    const int want = int(fminf(fmaxf(rintf(v), -128.f), 127.f));
    const int got = y[o];
    if (got != want) atomicAdd(bad + (abs(got - want) == 1 ? 1 : 0), 1);
  }
}

// ResNet-50's convolutions at batch 256 (each stage's distinct shapes).
constexpr ConvShape kResNet50Layers[] = {
    {256, 56, 56, 64, 64, 1, 0, 1},   {256, 56, 56, 64, 64, 3, 1, 1},    {256, 56, 56, 64, 256, 1, 0, 1},
    {256, 56, 56, 256, 64, 1, 0, 1},  {256, 28, 28, 128, 128, 3, 1, 1},  {256, 28, 28, 512, 128, 1, 0, 1},
    {256, 14, 14, 256, 256, 3, 1, 1}, {256, 14, 14, 256, 1024, 1, 0, 1}, {256, 7, 7, 512, 512, 3, 1, 1},
    {256, 7, 7, 2048, 512, 1, 0, 1},
};

// Device buffers for every layer above: input and output of the largest activation, the largest
// weights, random int8 values in [-127, 127]; bad holds the reference's two counts.
struct Int8ConvData {
  static constexpr size_t kMost = size_t(256) * 56 * 56 * 256, kWeights = size_t(2048) * 512 * 9;
  int8_t *x = nullptr, *w = nullptr, *y = nullptr;
  int* bad = nullptr;
  Int8ConvData() {
    cudaMalloc(&x, kMost);
    cudaMalloc(&y, kMost);
    cudaMalloc(&w, kWeights);
    cudaMalloc(&bad, 2 * sizeof(int));
    std::vector<int8_t> h(kMost);
    std::mt19937 g(1);
    for (auto& v : h) v = int8_t(int(g() % 255) - 127);
    cudaMemcpy(x, h.data(), kMost, cudaMemcpyHostToDevice);
    cudaMemcpy(w, h.data(), kWeights, cudaMemcpyHostToDevice);
  }
};

// A layer's output extents and the scale its reference uses; prints the row's start: the layer and
// its bytes' time at `rate` GB/s.
struct LayerRow {
  int p, q;
  float alpha;
};

inline LayerRow start_row(const ConvShape& s, double rate) {
  const int p = (s.h + 2 * s.pad - s.r) / s.stride + 1, q = (s.w + 2 * s.pad - s.r) / s.stride + 1;
  const double bytes = double(s.n) * s.h * s.w * s.c + double(s.n) * p * q * s.k + double(s.k) * s.r * s.r * s.c;
  printf("%dx%d %d->%d %dx%d: floor %.1f us;", s.r, s.r, s.c, s.k, s.h, s.w, bytes / rate / 1e3);
  return {p, q, 1.0f / (s.r * s.r * s.c * 40.0f)};
}
