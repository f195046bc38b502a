// CUDA memory for the runtime (device.cc): allocation, uploads and stream-ordered copies, with
// every CUDA error turned into a tensorforge::Error.
#include <cuda_runtime_api.h>

#include <string>

#include "kernels/cuda/check.h"

namespace tensorforge::device {

void* cuda_alloc(size_t n) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorCode::kRuntime, "cannot allocate " + std::to_string(n) + " bytes of CUDA memory: " +
                                         cudaGetErrorString(e));
  }
  return p;
}

void cuda_free(void* p) { cudaFree(p); }

void cuda_upload(void* dst, const void* src, size_t n) {
  cuda::check(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), "uploading to the device");
}

void cuda_copy_async(void* dst, const void* src, size_t n, void* stream) {
  cuda::check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
              "copying on the device");
}

void cuda_synchronize(void* stream) {
  cuda::check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "waiting for the stream");
}

}  // namespace tensorforge::device
