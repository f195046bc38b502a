// Host side of device memory: aligned host buffers, and CUDA through device_cuda.cc when built in.
#include "runtime/device.h"

#include <cstring>
#include <functional>
#include <new>
#include <string>

#include "kernels/cuda/device_info.h"

namespace tensorforge::device {

#ifdef TENSORFORGE_WITH_CUDA
// Implemented in src/kernels/cuda/memory.cc.
void* cuda_alloc(size_t n);
void cuda_free(void* p);
void cuda_upload(void* dst, const void* src, size_t n);
void cuda_download(void* dst, const void* src, size_t n);
void cuda_copy_async(void* dst, const void* src, size_t n, void* stream);
void cuda_synchronize(void* stream);
void* cuda_graph_capture(void*& capture_stream, const std::function<void()>& enqueue);
void cuda_graph_launch(void* exec, void* stream);
float cuda_graph_time_ms(void* exec, void* stream, int launches);
void cuda_graph_destroy(void* exec, void* capture_stream);
void* cuda_event_create();
void cuda_event_record(void* event, void* stream);
void cuda_event_wait(void* event, void* stream);
void cuda_event_destroy(void* event);
#endif

namespace {
thread_local void* g_stream = nullptr;

[[noreturn]] void no_cuda() {
  throw Error(ErrorCode::kUnsupported,
              "device 'cuda' is not available: this build has no CUDA backend (TENSORFORGE_CUDA=OFF or no toolkit)");
}
}  // namespace

void require_cuda() {
  if (!cuda::built_with_cuda()) no_cuda();
  if (cuda::device_count() == 0)
    throw Error(ErrorCode::kUnsupported, "device 'cuda': no CUDA device is visible to this process");
}

Buffer::Buffer(DeviceKind kind, size_t size) : kind_(kind), size_(size) {
  size_t n = size ? size : 64;
  if (kind == DeviceKind::kCPU) {
    try {
      data_ = static_cast<uint8_t*>(::operator new(n, std::align_val_t(64)));
    } catch (const std::bad_alloc&) {
      throw Error(ErrorCode::kRuntime, "cannot allocate " + std::to_string(size) + " bytes of host memory");
    }
    return;
  }
#ifdef TENSORFORGE_WITH_CUDA
  data_ = static_cast<uint8_t*>(cuda_alloc(n));
#else
  no_cuda();
#endif
}

Buffer::~Buffer() {
  if (!data_) return;
  if (kind_ == DeviceKind::kCPU) {
    ::operator delete(data_, std::align_val_t(64));
    return;
  }
#ifdef TENSORFORGE_WITH_CUDA
  cuda_free(data_);
#endif
}

Buffer::Buffer(Buffer&& o) noexcept : kind_(o.kind_), data_(o.data_), size_(o.size_) { o.data_ = nullptr; }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    Buffer tmp(std::move(*this));
    kind_ = o.kind_;
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
  }
  return *this;
}

namespace {
// A synchronous copy between host memory and `kind` memory, either way.
void copy_sync(DeviceKind kind, void* dst, const void* src, size_t n, bool to_device) {
  if (!n) return;
  if (kind == DeviceKind::kCPU) {
    std::memcpy(dst, src, n);
    return;
  }
#ifdef TENSORFORGE_WITH_CUDA
  if (to_device)
    cuda_upload(dst, src, n);
  else
    cuda_download(dst, src, n);
#else
  (void)to_device;
  no_cuda();
#endif
}
}  // namespace

void upload(DeviceKind kind, void* dst, const void* src, size_t n) { copy_sync(kind, dst, src, n, true); }

void download(DeviceKind kind, void* dst, const void* src, size_t n) { copy_sync(kind, dst, src, n, false); }

void copy_async(DeviceKind kind, void* dst, const void* src, size_t n) {
  if (!n) return;
  if (kind == DeviceKind::kCPU) {
    std::memmove(dst, src, n);
    return;
  }
#ifdef TENSORFORGE_WITH_CUDA
  cuda_copy_async(dst, src, n, g_stream);
#else
  no_cuda();
#endif
}

void synchronize(DeviceKind kind) {
#ifdef TENSORFORGE_WITH_CUDA
  if (kind == DeviceKind::kCUDA) cuda_synchronize(g_stream);
#endif
}

Graph::~Graph() {
#ifdef TENSORFORGE_WITH_CUDA
  if (exec_ || stream_) cuda_graph_destroy(exec_, stream_);
#endif
}

Graph::Graph(Graph&& o) noexcept : exec_(o.exec_), stream_(o.stream_) { o.exec_ = o.stream_ = nullptr; }

Graph& Graph::operator=(Graph&& o) noexcept {
  if (this != &o) {
    Graph tmp(std::move(*this));
    exec_ = o.exec_;
    stream_ = o.stream_;
    o.exec_ = o.stream_ = nullptr;
  }
  return *this;
}

void Graph::capture(const std::function<void()>& enqueue) {
#ifdef TENSORFORGE_WITH_CUDA
  if (exec_) cuda_graph_destroy(exec_, nullptr);
  exec_ = nullptr;
  void* prev = g_stream;
  struct Restore {
    void* s;
    ~Restore() { g_stream = s; }
  } restore{prev};
  exec_ = cuda_graph_capture(stream_, [&] {
    g_stream = stream_;
    enqueue();
  });
#else
  no_cuda();
#endif
}

void Graph::launch(void* stream) const {
#ifdef TENSORFORGE_WITH_CUDA
  cuda_graph_launch(exec_, stream);
#else
  no_cuda();
#endif
}

float Graph::time_ms(int launches) const {
#ifdef TENSORFORGE_WITH_CUDA
  return cuda_graph_time_ms(exec_, g_stream, launches < 1 ? 1 : launches);
#else
  (void)launches;
  no_cuda();
  return 0;
#endif
}

Event::~Event() {
#ifdef TENSORFORGE_WITH_CUDA
  if (event_) cuda_event_destroy(event_);
#endif
}

Event::Event(Event&& o) noexcept : event_(o.event_) { o.event_ = nullptr; }

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    Event tmp(std::move(*this));
    event_ = o.event_;
    o.event_ = nullptr;
  }
  return *this;
}

void Event::record(void* stream) {
#ifdef TENSORFORGE_WITH_CUDA
  if (!event_) event_ = cuda_event_create();
  cuda_event_record(event_, stream);
#else
  (void)stream;
  no_cuda();
#endif
}

void Event::wait(void* stream) const {
#ifdef TENSORFORGE_WITH_CUDA
  if (event_) cuda_event_wait(event_, stream);
#else
  (void)stream;
#endif
}

void* current_stream() { return g_stream; }
void set_current_stream(void* stream) { g_stream = stream; }

}  // namespace tensorforge::device
