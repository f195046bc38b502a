// CUDA memory for the runtime (device.cc): allocation, uploads and stream-ordered copies, with
// every CUDA error turned into a tensorforge::Error.
#include <cuda_runtime_api.h>

#include <functional>
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

void cuda_download(void* dst, const void* src, size_t n) {
  cuda::check(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "downloading from the device");
}

void cuda_copy_async(void* dst, const void* src, size_t n, void* stream) {
  cuda::check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
              "copying on the device");
}

void cuda_synchronize(void* stream) {
  cuda::check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "waiting for the stream");
}

// Captures on a private non-blocking stream (the caller's may be the legacy default stream, which
// cannot capture), in thread-local mode so other threads' CUDA calls are not disturbed.
void* cuda_graph_capture(void*& capture_stream, const std::function<void()>& enqueue) {
  if (!capture_stream) {
    cudaStream_t s = nullptr;
    cuda::check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "creating the graph-capture stream");
    capture_stream = s;
  }
  cudaStream_t s = static_cast<cudaStream_t>(capture_stream);
  cuda::check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "starting a CUDA graph capture");
  cudaGraph_t graph = nullptr;
  try {
    enqueue();
  } catch (...) {
    cudaStreamEndCapture(s, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    throw;
  }
  cuda::check(cudaStreamEndCapture(s, &graph), "ending a CUDA graph capture");
  cudaGraphExec_t exec = nullptr;
  cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  cuda::check(e, "instantiating a CUDA graph");
  return exec;
}

void cuda_graph_launch(void* exec, void* stream) {
  cuda::check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), static_cast<cudaStream_t>(stream)),
              "launching a CUDA graph");
}

float cuda_graph_time_ms(void* exec, void* stream, int launches) {
  cudaEvent_t start = nullptr, stop = nullptr;
  cuda::check(cudaEventCreate(&start), "creating a timing event");
  cuda::check(cudaEventCreate(&stop), "creating a timing event");
  struct Events {
    cudaEvent_t a, b;
    ~Events() { cudaEventDestroy(a), cudaEventDestroy(b); }
  } events{start, stop};
  auto st = static_cast<cudaStream_t>(stream);
  cuda::check(cudaEventRecord(start, st), "recording a timing event");
  for (int i = 0; i < launches; ++i)
    cuda::check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), st), "launching a CUDA graph");
  cuda::check(cudaEventRecord(stop, st), "recording a timing event");
  cuda::check(cudaEventSynchronize(stop), "waiting for a timing event");
  float ms = 0;
  cuda::check(cudaEventElapsedTime(&ms, start, stop), "reading a timing event");
  return ms / launches;
}

void cuda_graph_destroy(void* exec, void* capture_stream) {
  if (exec) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec));
  if (capture_stream) cudaStreamDestroy(static_cast<cudaStream_t>(capture_stream));
}

void* cuda_event_create() {
  cudaEvent_t e = nullptr;
  cuda::check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "creating an event");
  return e;
}

void cuda_event_record(void* event, void* stream) {
  cuda::check(cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream)),
              "recording an event");
}

void cuda_event_wait(void* event, void* stream) {
  cuda::check(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), static_cast<cudaEvent_t>(event), 0),
              "waiting for an event");
}

void cuda_event_destroy(void* event) { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

}  // namespace tensorforge::device
