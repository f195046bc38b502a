// CUDA fused pointwise layer: a kernel written for this layer's program and shapes
// (codegen/pointwise_source), compiled by NVRTC through the kernel cache (codegen/nvrtc_cache),
// loaded once per process and launched on the current stream with the layer's pointers.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "codegen/nvrtc_cache.h"
#include "codegen/pointwise_source.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/kernel.h"
#include "runtime/device.h"

namespace tensorforge::cuda {

namespace {

// Loaded kernels by source, kept for the life of the process (a library is small and several
// engines built from one model share them).
cudaKernel_t load_kernel(const std::string& source, int cc) {
  static std::mutex mutex;
  static std::map<std::string, cudaKernel_t> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = loaded.find(source);
  if (it != loaded.end()) return it->second;
  std::vector<char> cubin = codegen::compile_cubin(source, cc);
  cudaLibrary_t library = nullptr;
  check(cudaLibraryLoadData(&library, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
        "loading a generated pointwise kernel");
  cudaKernel_t kernel = nullptr;
  check(cudaLibraryGetKernel(&kernel, library, codegen::kPointwiseKernelName), "finding the generated kernel");
  loaded.emplace(source, kernel);
  return kernel;
}

class GeneratedPointwise : public Kernel {
 public:
  explicit GeneratedPointwise(const KernelSpec& s) {
    ir::PwProgram p = ir::compile_pointwise_body(ir::attr_string(s.layer, "body"));
    codegen::PointwiseLayout layout = codegen::pointwise_layout(p);
    elements_ = layout.elements;
    nin_ = p.input_dtypes.size();
    nout_ = p.outputs.size();
    kernel_ = load_kernel(codegen::pointwise_source(p, layout), compute_capability());
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (elements_ == 0) return;
    // The kernel's one parameter: { const void* in[nin]; void* out[nout]; }, as an array of pointers.
    void* pointers[kMaxPointers];
    for (size_t k = 0; k < nin_; ++k) pointers[k] = in[k].data;
    for (size_t k = 0; k < nout_; ++k) pointers[nin_ + k] = out[k].data;
    void* args[] = {pointers};
    const int threads = 256;
    const int64_t blocks = std::min<int64_t>((elements_ + threads - 1) / threads, 132 * 16);
    check(cudaLaunchKernel(reinterpret_cast<const void*>(kernel_), dim3(static_cast<unsigned>(blocks)), dim3(threads),
                           args, 0, static_cast<cudaStream_t>(device::current_stream())),
          "launching a generated pointwise kernel");
  }

 private:
  static constexpr size_t kMaxPointers = 256;
  cudaKernel_t kernel_ = nullptr;
  int64_t elements_ = 0;
  size_t nin_ = 0, nout_ = 0;
};

}  // namespace

std::unique_ptr<Kernel> create_pointwise_generated(const KernelSpec& s) {
  if (s.inputs.size() + s.outputs.size() > 256) return nullptr;
  return std::make_unique<GeneratedPointwise>(s);
}

}  // namespace tensorforge::cuda
