// Engine and ExecutionContext: a compiled network, and the state needed to run it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensorforge/types.h"

namespace tensorforge {

struct EngineImpl;
class ExecutionContext;

/// Description of one engine input or output.
struct IOTensorInfo {
  std::string name;  ///< Name given in the network.
  DataType dtype;    ///< Element type.
  Dims dims;         ///< Shape.
  bool is_input;     ///< True for an input, false for an output.
};

/// A compiled network: immutable, cheap to copy (shared), safe to use from several contexts.
class Engine {
 public:
  /// The inputs, then the outputs, in network order.
  const std::vector<IOTensorInfo>& io_tensors() const;
  /// Number of inputs.
  int nb_inputs() const;
  /// Number of outputs.
  int nb_outputs() const;
  /// Where this engine runs.
  DeviceKind device() const;
  /// The optimization level it was built with.
  int optimization_level() const;
  /// Bytes of the activation arena one execution context allocates.
  size_t arena_size() const;
  /// Bytes of constant data (weights) the engine holds.
  size_t weights_size() const;
  /// CUDA engines: the compute capability built for, major * 10 + minor (90 = H100); 0 for CPU engines.
  /// Loading an engine file on a GPU of another compute capability throws Error(kUnsupported).
  int compute_capability() const;
  /// CUDA engines: (library, version) of the libraries it was built with (cuBLASLt, cuDNN, ...).
  const std::vector<std::pair<std::string, std::string>>& library_versions() const;
  /// Number of layers.
  int nb_layers() const;
  /// Where building (or loading) this engine spent its time, in milliseconds, in order: "optimize"
  /// (the passes; built engines only), "kernels <tactic>" (creating that tactic's kernels: plan
  /// choice, timing, code generation), "of which <part>" (parts of those the kernels time: cuDNN
  /// plans, convolution timing, NVRTC compiles) and "memory" (arena plan, constants' upload). Not
  /// saved.
  const std::vector<std::pair<std::string, double>>& build_times() const;
  /// Per layer: name, kind, chosen kernel (tactic), output shapes, layout, for quantized layers how
  /// they compute and how their scales apply (scales=...), and the network layers it computes
  /// (after fusion, several; none for a conversion the optimizer inserted), and what its kernel
  /// chose among candidates of its own with their times (choice=..., when it timed any).
  std::string inspect() const;
  /// The same as one JSON object: engine facts, "layers_run_per_call" (layers that launch work on a
  /// call; constants and aliasing reshapes do not) and "layers", each with name, kind, tactic,
  /// outputs (dtype, dims), precision (the output's dtype; a quantized_matmul's arithmetic: "int8",
  /// or "int8 weights" for float rows), scales (quantize, dequantize, quantized_matmul: per tensor
  /// or per channel; else null), layout, origins, runs (bool) and choice (the kernel's choice among
  /// its own candidates with their times, or null).
  std::string inspect_json() const;
  /// The network the engine runs, as text (see docs/printer.md).
  std::string network_text() const;
  /// A new context holding its own activation memory.
  ExecutionContext create_execution_context() const;

  /// The engine as bytes in the TensorForge engine file format (docs/file-format.md).
  std::vector<uint8_t> serialize() const;
  /// An engine from bytes; throws Error(kCorruptFile) on anything malformed, never crashes.
  static Engine deserialize(const void* data, size_t size);
  /// Writes serialize() to `path`.
  void save(const std::string& path) const;
  /// Reads an engine file written by save().
  static Engine load(const std::string& path);

  /// Internal state (for the runtime; not part of the stable API).
  const EngineImpl& impl() const { return *impl_; }
  /// Wraps internal state (used by the builder and the reader).
  explicit Engine(std::shared_ptr<const EngineImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<const EngineImpl> impl_;
};

/// Runs an engine on caller-provided buffers. A context serves one call at a time (a concurrent
/// execute() is refused with an Error); use one context per concurrent caller.
class ExecutionContext {
 public:
  /// Binds `data` (contiguous, of the engine's dtype and shape; host memory for CPU engines, device
  /// memory for CUDA engines) to the I/O tensor `name`.
  void set_tensor_address(const std::string& name, void* data);
  /// Runs the engine on the bound addresses; throws Error if one is unbound, or Error(kInvalidArgument)
  /// if another thread is running this context at the same time. A CUDA engine's call on another
  /// stream than the previous call's waits (on the device) for the previous call's work first.
  void execute();
  /// Runs with one pointer per io_tensors() entry, in that order.
  void execute(const std::vector<void*>& bindings);
  /// The engine this context runs.
  const Engine& engine() const { return engine_; }
  /// The CUDA stream (a cudaStream_t) CUDA engines run on; nullptr (default) is the default stream.
  /// Execution only enqueues work on it and never waits for the device.
  void set_stream(void* stream);
  /// Turns per-layer timing on or off (off by default; on adds a clock read around each layer and,
  /// for CUDA engines, waits for each layer's work, so profiled runs are slower).
  void set_profiling(bool enabled);
  /// Per layer of the engine (network order), milliseconds summed over profiled executions since
  /// the last reset; constants read 0.
  std::vector<double> layer_times_ms() const;
  /// Number of profiled executions summed in layer_times_ms().
  int profiled_runs() const;
  /// Clears the profile.
  void reset_profile();
  /// CUDA engines: capture the engine as a CUDA graph on first use and replay it after (on by
  /// default). Calls with the captured addresses replay it directly; others go through a device copy
  /// into and out of context-owned buffers, until the same addresses come a second time: then they
  /// get a direct graph of their own (up to 4 address sets, the least recently used replaced).
  /// Profiled runs never use graphs.
  void set_cuda_graphs(bool enabled);
  /// Number of executions that replayed a CUDA graph.
  int cuda_graph_replays() const;
  /// Number of address sets that currently replay without copies (direct graphs held).
  int direct_graphs() const;
  ~ExecutionContext();
  /// Contexts are moved, not copied.
  ExecutionContext(ExecutionContext&&) noexcept;
  /// Move assignment.
  ExecutionContext& operator=(ExecutionContext&&) noexcept;

 private:
  friend class Engine;
  explicit ExecutionContext(Engine engine);
  void run();
  void run_steps(const std::vector<void*>& bindings);
  void copy_outputs(const std::vector<void*>& bindings);
  void run_profiled();
  void run_graph();
  struct State;
  Engine engine_;
  std::unique_ptr<State> state_;
};

}  // namespace tensorforge
