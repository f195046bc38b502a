// Library handles and status checks for the CUDA kernels (see libraries.h).
#include "kernels/cuda/libraries.h"

#include <cuda_runtime_api.h>
#include <nvrtc.h>

#include <map>
#include <memory>

#include "kernels/cuda/check.h"
#include "kernels/cuda/device_info.h"
#include "runtime/device.h"

namespace tensorforge::cuda {

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(ErrorCode::kRuntime, std::string("cuBLASLt error while ") + what + ": status " + std::to_string(s));
}

void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS)
    throw Error(ErrorCode::kRuntime, std::string("cuDNN error while ") + what + ": " + cudnnGetErrorString(s));
}

namespace {

// A thread's first use of a library can come while it captures a CUDA graph (an execution context
// first used by this thread may capture at once); creating a handle allocates device memory, which
// capture forbids, so handles are created in relaxed capture mode.
class RelaxedCapture {
 public:
  RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  ~RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  RelaxedCapture(const RelaxedCapture&) = delete;
  RelaxedCapture& operator=(const RelaxedCapture&) = delete;

 private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

int current_device() {
  int d = 0;
  check(cudaGetDevice(&d), "reading the current device");
  return d;
}

struct LtHandles {
  std::map<int, cublasLtHandle_t> by_device;
  ~LtHandles() {
    for (auto& [d, h] : by_device) cublasLtDestroy(h);
  }
};

struct DnnHandles {
  std::map<int, cudnnHandle_t> by_device;
  ~DnnHandles() {
    for (auto& [d, h] : by_device) cudnnDestroy(h);
  }
};

}  // namespace

cublasLtHandle_t cublaslt_handle() {
  thread_local LtHandles handles;
  int d = current_device();
  auto it = handles.by_device.find(d);
  if (it != handles.by_device.end()) return it->second;
  cublasLtHandle_t h = nullptr;
  RelaxedCapture relaxed;
  check_cublas(cublasLtCreate(&h), "creating a cuBLASLt handle");
  handles.by_device[d] = h;
  return h;
}

cudnnHandle_t cudnn_handle() {
  thread_local DnnHandles handles;
  int d = current_device();
  cudnnHandle_t h = nullptr;
  auto it = handles.by_device.find(d);
  if (it != handles.by_device.end()) {
    h = it->second;
  } else {
    RelaxedCapture relaxed;
    check_cudnn(cudnnCreate(&h), "creating a cuDNN handle");
    handles.by_device[d] = h;
  }
  check_cudnn(cudnnSetStream(h, static_cast<cudaStream_t>(device::current_stream())), "setting the cuDNN stream");
  return h;
}

std::vector<std::pair<std::string, std::string>> library_versions() {
  int major = 0, minor = 0, runtime = 0, driver = 0;
  nvrtcVersion(&major, &minor);
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  return {{"cuBLASLt", std::to_string(cublasLtGetVersion())},
          {"cuDNN", std::to_string(cudnnGetVersion())},
          {"NVRTC", std::to_string(major) + "." + std::to_string(minor)},
          {"CUDA runtime", std::to_string(runtime)},
          {"CUDA driver", std::to_string(driver)}};
}

}  // namespace tensorforge::cuda
