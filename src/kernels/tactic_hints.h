// What the kernels of a dynamic engine's opt plan chose by timing, for the engine's other plans
// (tensorforge/dynamic_engine.h): a plan for other sizes takes, for each layer, the choice the opt
// plan timed (where it still applies at its sizes) instead of timing again, as an engine tuned at
// the range's opt. A new size then costs its kernels' creation, not their timing (a ResNet-50
// plan's convolutions time their cuDNN plans for about a second on the H200). A kernel records a
// short text of its own (which cuDNN engine, which cuBLASLt algorithm) under the layer's name and
// a kind naming the kernel family; a hint is untrusted advice: the kernel checks it against what
// the library offers at the new sizes and chooses as usual when it does not apply.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace tensorforge {

/// Choices by (layer name, kind), filled by one plan's build and read by later builds; thread-safe
/// (kernels are prepared on helper threads).
class TacticHints {
 public:
  /// Keeps `text` for `layer`'s kernel family `kind` (a later record replaces it).
  void record(const std::string& layer, const std::string& kind, const std::string& text);
  /// The text recorded for `layer` and `kind`; false when there is none.
  bool find(const std::string& layer, const std::string& kind, std::string& text) const;
  /// Number of (layer, kind) entries.
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::string> hints_;
};

/// How one build uses hints: none (null), recording its kernels' choices, or following them.
struct HintUse {
  TacticHints* hints = nullptr;
  bool follow = false;
};

}  // namespace tensorforge
