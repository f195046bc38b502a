// CUDA fused pointwise layer: a kernel written for this layer's program and shapes
// (codegen/pointwise_source), compiled by NVRTC through the kernel cache (codegen/nvrtc_cache),
// loaded once per process and launched on the current stream with the layer's pointers: the vector
// entry point when the layer has one and every pointer is 16-byte aligned.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
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

// The entry points of one generated source: per element, and per vector (null when it has none).
struct LoadedKernels {
  cudaKernel_t scalar = nullptr;
  cudaKernel_t vector = nullptr;
};

// Loaded kernels by source, kept for the life of the process (a library is small and several
// engines built from one model share them).
LoadedKernels load_kernels(const std::string& source, int cc, bool has_vector) {
  static std::mutex mutex;
  static std::map<std::string, LoadedKernels> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = loaded.find(source);
  if (it != loaded.end()) return it->second;
  std::vector<char> cubin = codegen::compile_cubin(source, cc);
  cudaLibrary_t library = nullptr;
  check(cudaLibraryLoadData(&library, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0),
        "loading a generated pointwise kernel");
  LoadedKernels k;
  check(cudaLibraryGetKernel(&k.scalar, library, codegen::kPointwiseKernelName), "finding the generated kernel");
  if (has_vector)
    check(cudaLibraryGetKernel(&k.vector, library, codegen::kPointwiseVectorKernelName),
          "finding the generated vector kernel");
  loaded.emplace(source, k);
  return k;
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

class GeneratedPointwise : public Kernel {
 public:
  explicit GeneratedPointwise(const KernelSpec& s) {
    const Generated gen = generate(s);
    const ir::PwProgram& p = gen.program;
    for (size_t k = 0; k < p.input_dtypes.size(); ++k)  // a view's offset moves its pointer
      offset_bytes_.push_back(p.view_offsets[k] * static_cast<int64_t>(element_size(p.input_dtypes[k])));
    elements_ = gen.layout.elements;
    nin_ = p.input_dtypes.size();
    nout_ = p.outputs.size();
    width_ = gen.width;
    kernels_ = load_kernels(gen.source, compute_capability(), width_ > 1);
  }

  // The layer's program, its layout and vector width, and the kernel source generated from them.
  struct Generated {
    ir::PwProgram program;
    codegen::PointwiseLayout layout;
    int width = 1;
    std::string source;
  };
  static Generated generate(const KernelSpec& s) {
    Generated g;
    g.program = ir::compile_pointwise_body(ir::attr_string(s.layer, "body"));
    ir::apply_input_views(g.program, ir::attr_ints(s.layer, "input_views"));
    g.layout = codegen::pointwise_layout(g.program);
    g.width = codegen::pointwise_vector_width(g.program, g.layout);
    g.source = codegen::pointwise_source(g.program, g.layout);
    return g;
  }

  void run(const TensorView* in, const TensorView* out, void*) const override {
    if (elements_ == 0) return;
    // The kernel's one parameter: { const void* in[nin]; void* out[nout]; }, as an array of pointers.
    void* pointers[kMaxPointers];
    bool aligned = true;
    for (size_t k = 0; k < nin_; ++k)
      aligned = aligned16(pointers[k] = static_cast<char*>(in[k].data) + offset_bytes_[k]) && aligned;
    for (size_t k = 0; k < nout_; ++k) aligned = aligned16(pointers[nin_ + k] = out[k].data) && aligned;
    // Vectors when every pointer allows 16-byte accesses (those reading broadcast inputs element
    // by element would not need it; checking all keeps the rule simple).
    const bool vector = kernels_.vector && aligned;
    const int64_t threads_needed = vector ? elements_ / width_ : elements_;
    void* args[] = {pointers};
    const int threads = 256;
    const int64_t blocks = std::min<int64_t>((threads_needed + threads - 1) / threads, 132 * 16);
    check(cudaLaunchKernel(reinterpret_cast<const void*>(vector ? kernels_.vector : kernels_.scalar),
                           dim3(static_cast<unsigned>(blocks)), dim3(threads), args, 0,
                           static_cast<cudaStream_t>(device::current_stream())),
          "launching a generated pointwise kernel");
  }

 private:
  static constexpr size_t kMaxPointers = 256;
  LoadedKernels kernels_;
  int64_t elements_ = 0;
  int width_ = 1;
  size_t nin_ = 0, nout_ = 0;
  std::vector<int64_t> offset_bytes_;
};

}  // namespace

std::unique_ptr<Kernel> create_pointwise_generated(const KernelSpec& s) {
  if (s.inputs.size() + s.outputs.size() > 256) return nullptr;
  return std::make_unique<GeneratedPointwise>(s);
}

// Compiles the layer's kernel into the compile cache (memory and disk), where create() finds it.
void prepare_pointwise_generated(const KernelSpec& s) {
  if (s.inputs.size() + s.outputs.size() > 256) return;
  try {
    codegen::compile_cubin(GeneratedPointwise::generate(s).source, compute_capability());
  } catch (...) {  // create() compiles again and reports
  }
}

}  // namespace tensorforge::cuda
