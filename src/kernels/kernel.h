// The kernel interface every backend implements, and the per-backend kernel lists.
//
// A kernel is created once per layer at build time (it parses the layer's attributes and shapes
// then) and run many times. run() must not change the kernel: several execution contexts may run
// the same engine at once; per-call scratch space comes from the workspace the kernel asked for.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/tactic_hints.h"
#include "tensorforge/builder.h"

namespace tensorforge {

/// A contiguous tensor in memory: data pointer, dtype, shape. data is nullptr for an absent input.
struct TensorView {
  void* data = nullptr;
  DataType dtype = DataType::kFloat32;
  Dims dims;
  template <class T>
  T* as() const {
    return static_cast<T*>(data);
  }
  int64_t numel() const { return dims.volume(); }
};

/// What a kernel factory sees: the layer, and its input/output descriptions (nullptr = absent input).
struct KernelSpec {
  const ir::Layer& layer;
  std::vector<const ir::TensorDesc*> inputs;
  std::vector<const ir::TensorDesc*> outputs;
  const BuilderConfig& config;  ///< The build's options (precision flags such as allow_tf32).
  /// A dynamic engine's plans: record what timing chose (opt's plan) or follow it (the others).
  HintUse hints{};
  /// Per input, its value where it is a constant of the graph (nullptr for the others, and for every
  /// input when the builder leaves this empty): for kernels that repack weights once at creation.
  /// Valid only while the kernel is created.
  std::vector<const Weights*> constants{};
};

/// Whether the build follows hints and holds one of `kind` for the spec's layer (then `text` is it).
bool followed_hint(const KernelSpec& s, const std::string& kind, std::string& text);
/// Records `text` as the spec's layer's choice of `kind` when the build records hints.
void record_hint(const KernelSpec& s, const std::string& kind, const std::string& text);

/// A compiled layer.
class Kernel {
 public:
  virtual ~Kernel() = default;
  /// Computes the outputs from the inputs. `workspace` holds workspace_size() bytes (64-byte aligned).
  virtual void run(const TensorView* inputs, const TensorView* outputs, void* workspace) const = 0;
  /// Scratch bytes run() needs; fixed at creation.
  virtual size_t workspace_size() const { return 0; }
  /// What the kernel chose at creation among candidates of its own, with their measured times when
  /// it timed them, for the inspector ("" when it had nothing to choose).
  virtual std::string choice() const { return ""; }
};

/// A kernel choice for one layer kind; create() returns nullptr when it does not handle the spec.
struct KernelEntry {
  LayerKind kind;
  const char* tactic;  ///< Unique name, recorded in engine files ("cpu.conv.im2col_gemm").
  std::unique_ptr<Kernel> (*create)(const KernelSpec& spec);
  /// Optional: the part of create()'s work that needs no device time and may run on any thread,
  /// several layers at once (library plans, generated kernels' compiles), left in a process-wide
  /// cache for create() to take. The builder calls it for every layer before creating the kernels
  /// (src/builder/prepare.cc), on its helper threads; it must be thread-safe, must not throw, and
  /// create() must give the same kernel whether or not it ran.
  void (*prepare)(const KernelSpec& spec) = nullptr;
};

/// Throws Error(kRuntime) naming the layer; for failures only visible at run time (bad index values).
[[noreturn]] void runtime_fail(const ir::Layer& layer, const std::string& why);

/// Whether `name` is the tactic of a CPU kernel or (in builds with CUDA) a CUDA kernel; what
/// BuilderConfig.disabled_tactics may name. Aliasing reshapes and constants are not kernels.
bool is_known_tactic(const std::string& name);

namespace cpu {

/// Every CPU kernel, in preference order per kind (see registry.cc).
const std::vector<KernelEntry>& kernels();

/// Each family adds its entries (one call per family in registry.cc).
void add_spatial_kernels(std::vector<KernelEntry>& k);
void add_pointwise_kernels(std::vector<KernelEntry>& k);
void add_matmul_kernels(std::vector<KernelEntry>& k);
void add_norm_kernels(std::vector<KernelEntry>& k);
void add_reduce_kernels(std::vector<KernelEntry>& k);
void add_shape_kernels(std::vector<KernelEntry>& k);
void add_index_kernels(std::vector<KernelEntry>& k);
void add_generator_kernels(std::vector<KernelEntry>& k);

}  // namespace cpu

namespace cuda {

/// Every CUDA kernel (src/kernels/cuda/registry.cc; built only with the CUDA backend). Kernels
/// enqueue on device::current_stream() and never synchronize the host.
const std::vector<KernelEntry>& kernels();

}  // namespace cuda
}  // namespace tensorforge
