// Library handles and status checks for the CUDA kernels (see libraries.h).
#include "kernels/cuda/libraries.h"

#include <cuda_runtime_api.h>
#include <nvrtc.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/build_clock.h"
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

int device_now() {
  int d = 0;
  check(cudaGetDevice(&d), "reading the current device");
  return d;
}

// Handles of one library, per device, kept until the process ends. A thread leases one per device
// on first use and gives it back when it ends, for the next new thread: cuDNN's operation graphs and
// execution plans refer to the handle they were finalized with, and a plan may outlive the thread
// that made it (the builder's helper threads, a thread that built an engine others run), so no
// handle is ever destroyed while the process runs.
template <class H>
class HandlePool {
 public:
  H take(int device, H (*create)()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<H>& free = free_[device];
      if (!free.empty()) {
        H h = free.back();
        free.pop_back();
        return h;
      }
    }
    return create();
  }
  void give_back(int device, H h) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[device].push_back(h);
  }

 private:
  std::mutex mutex_;
  std::map<int, std::vector<H>> free_;
};

// One thread's leased handles by device; they go back to the pool when the thread ends.
template <class H>
struct Leases {
  HandlePool<H>& pool;
  std::map<int, H> by_device;
  ~Leases() {
    for (auto& [d, h] : by_device) pool.give_back(d, h);
  }
  H get(H (*create)()) {
    const int d = device_now();
    auto it = by_device.find(d);
    if (it != by_device.end()) return it->second;
    return by_device[d] = pool.take(d, create);
  }
};

template <class H>
HandlePool<H>& pool() {
  static auto* p = new HandlePool<H>();  // never destroyed: threads may end after static destruction
  return *p;
}

cublasLtHandle_t new_lt_handle() {
  RelaxedCapture relaxed;
  cublasLtHandle_t h = nullptr;
  check_cublas(cublasLtCreate(&h), "creating a cuBLASLt handle");
  return h;
}

cudnnHandle_t new_dnn_handle() {
  // One at a time, and timed apart: handles made on several threads at once have been seen to
  // wait on each other for seconds (in XLA's compiler), and each preparation helper makes one on
  // its first layer.
  static std::mutex one_at_a_time;
  TimedPart part("cuDNN handle creation");
  std::lock_guard<std::mutex> lock(one_at_a_time);
  RelaxedCapture relaxed;
  cudnnHandle_t h = nullptr;
  check_cudnn(cudnnCreate(&h), "creating a cuDNN handle");
  return h;
}

}  // namespace

cublasLtHandle_t cublaslt_handle() {
  thread_local Leases<cublasLtHandle_t> leases{pool<cublasLtHandle_t>(), {}};
  return leases.get(new_lt_handle);
}

cudnnHandle_t cudnn_handle() {
  thread_local Leases<cudnnHandle_t> leases{pool<cudnnHandle_t>(), {}};
  cudnnHandle_t h = leases.get(new_dnn_handle);
  check_cudnn(cudnnSetStream(h, static_cast<cudaStream_t>(device::current_stream())), "setting the cuDNN stream");
  return h;
}

void warm_up_libraries(int ordinal) {
  set_current_device(ordinal);
  (void)cublaslt_handle();
  (void)cudnn_handle();
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
