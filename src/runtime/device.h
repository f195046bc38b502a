// Device memory and streams behind one small interface, so the runtime is the same for CPU and
// CUDA engines: allocation, copies, and the stream the current execution runs on.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "tensorforge/types.h"

namespace tensorforge::device {

/// Owns `size` bytes on `kind` (64-byte aligned host memory, or cudaMalloc'd device memory).
class Buffer {
 public:
  Buffer() = default;
  Buffer(DeviceKind kind, size_t size);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  DeviceKind kind_ = DeviceKind::kCPU;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

/// Copies host bytes to `kind` memory (synchronously; used at build and load time only).
void upload(DeviceKind kind, void* dst, const void* src, size_t n);

/// Copies `kind` memory to host bytes (synchronously; used at build time only).
void download(DeviceKind kind, void* dst, const void* src, size_t n);

/// Copies n bytes within `kind` memory, on the current stream for CUDA.
void copy_async(DeviceKind kind, void* dst, const void* src, size_t n);

/// Waits until the current stream's work is done (CUDA); nothing on the CPU. Used only by profiling.
void synchronize(DeviceKind kind);

/// The CUDA stream (a cudaStream_t) kernels of the current execution enqueue on; 0 = the default stream.
void* current_stream();

/// Sets current_stream() for this thread (the execution context does, around each execute()).
void set_current_stream(void* stream);

/// A CUDA graph: the device work some host code enqueues, captured once and replayed by one launch.
class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(Graph&& o) noexcept;
  Graph& operator=(Graph&& o) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  /// Captures what `enqueue` puts on current_stream() (a private capturing stream while it runs;
  /// nothing executes). Throws Error(kRuntime) if the work cannot be captured; the graph stays empty.
  void capture(const std::function<void()>& enqueue);
  /// Enqueues the captured work on `stream`.
  void launch(void* stream) const;
  /// Device milliseconds per launch over `launches` launches on current_stream(), measured by
  /// timing events around them (not the host's launch time); waits for them. Build-time timing.
  float time_ms(int launches) const;
  /// True once capture() succeeded.
  bool ready() const { return exec_ != nullptr; }

 private:
  void* exec_ = nullptr;    // cudaGraphExec_t
  void* stream_ = nullptr;  // the capturing stream, kept for later captures
};

/// A CUDA event that marks where a stream's work ends, so that work on another stream can wait for
/// it (an execution context used on one stream, then another). Does nothing on the CPU.
class Event {
 public:
  Event() = default;
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  /// Marks the end of the work enqueued on `stream` so far (creates the event on first use).
  void record(void* stream);
  /// Makes later work on `stream` wait until the recorded point; nothing if never recorded.
  void wait(void* stream) const;

 private:
  void* event_ = nullptr;  // cudaEvent_t
};

/// Throws Error(kUnsupported) unless this build has CUDA and a device is visible.
void require_cuda();

}  // namespace tensorforge::device
