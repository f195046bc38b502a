// The NVIDIA libraries the CUDA kernels call: cuBLASLt (matrix multiply), cuDNN (convolution) and
// NVRTC (run-time compiled kernels). A thread takes a handle per device on first use (never one per
// call) and returns it to a process-wide pool when it ends; handles are never destroyed, so plans
// made with one stay valid; cuDNN handles are made one at a time (threads that made them at once
// have been seen to wait seconds on each other); every status is checked and becomes
// Error(kRuntime) naming the call.
#pragma once

#include <cublasLt.h>
#include <cudnn.h>


namespace tensorforge::cuda {

/// Throws Error(kRuntime) "cuBLASLt error while <what>: <status>" unless s is success.
void check_cublas(cublasStatus_t s, const char* what);
/// Throws Error(kRuntime) "cuDNN error while <what>: <status>" unless s is success.
void check_cudnn(cudnnStatus_t s, const char* what);

/// This thread's cuBLASLt handle for the current device.
cublasLtHandle_t cublaslt_handle();
/// This thread's cuDNN handle for the current device, bound to device::current_stream().
cudnnHandle_t cudnn_handle();

}  // namespace tensorforge::cuda
