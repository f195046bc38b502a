// An engine for a network with named sizes (docs/dynamic_shapes.md): one plan, an ordinary Engine,
// per binding of the sizes, made on its first use and kept while it is among the most recently used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensorforge/engine.h"
#include "tensorforge/types.h"

namespace tensorforge {

namespace ir {
struct Graph;
using SymBindings = std::map<std::string, int64_t>;
}  // namespace ir
struct BuilderConfig;
class WeightPool;

/// A named size of a dynamic network and its range.
struct SizeInfo {
  std::string name;  ///< As declared by Network::add_size.
  int64_t min = 0;   ///< Smallest value.
  int64_t opt = 0;   ///< The value the first plan is built (and tuned) for.
  int64_t max = 0;   ///< Largest value.
};

/// Plans of a network with named sizes, made by Builder::build_dynamic. Copies share the plans;
/// safe to use from several threads at once.
class DynamicEngine {
 public:
  /// The engine for inputs of shapes `input_dims` (the network's inputs, in order): the sizes are
  /// read from them (Error(kInvalidArgument) naming the input, the dim and the range when one is
  /// outside its range, or when two dims of one size disagree), and the plan for those values is
  /// built on first use (the network specialized and built as a static one) and reused after;
  /// threads that need a plan another thread is building wait for that build.
  Engine plan(const std::vector<Dims>& input_dims) const;
  /// The sizes, by name.
  std::vector<SizeInfo> sizes() const;
  /// The network inputs, in order, with their shapes at the sizes' opt.
  std::vector<IOTensorInfo> inputs() const;
  /// Plans built so far, the opt plan included (a plan dropped and needed again counts again).
  int plans_built() const;
  /// Plans kept now (at most max_plans()).
  int plans_kept() const;
  /// The most plans kept at once (the max_plans given to build_dynamic).
  int max_plans() const;
  /// Bytes of the distinct constants of the plans built so far: the plans share one copy of each
  /// constant (host and device), so this grows only where a plan's optimizer made new weights.
  size_t weights_size() const;

  /// The engine as bytes (docs/file-format.md, "Dynamic engine files"): the network with its sizes,
  /// its weights, the build configuration and, while it is kept, the opt plan (loading then
  /// builds nothing; without it, loading builds the opt plan again).
  std::vector<uint8_t> serialize() const;
  /// Writes serialize() to `path`.
  void save(const std::string& path) const;
  /// An engine from serialize()'s bytes, every section checked as for static engine files
  /// (Error(kCorruptFile) saying what and where); builds the opt plan where the file has none.
  static DynamicEngine deserialize(const void* data, size_t size);
  /// deserialize() of the file at `path`.
  static DynamicEngine load(const std::string& path);

  struct State;

 private:
  explicit DynamicEngine(std::shared_ptr<State> s) : state_(std::move(s)) {}
  std::shared_ptr<State> state_;
  friend DynamicEngine make_dynamic_engine(ir::Graph graph, const BuilderConfig& config, int max_plans,
                                           std::vector<std::pair<ir::SymBindings, Engine>> plans,
                                           std::shared_ptr<WeightPool> pool);
};

}  // namespace tensorforge
