// Engine accessors and the inspector.
#include <sstream>

#include "ir/printer.h"
#include "runtime/engine_impl.h"

namespace tensorforge {

const std::vector<IOTensorInfo>& Engine::io_tensors() const { return impl_->io; }
int Engine::nb_inputs() const { return static_cast<int>(impl_->graph.inputs.size()); }
int Engine::nb_outputs() const { return static_cast<int>(impl_->graph.outputs.size()); }
DeviceKind Engine::device() const { return impl_->config.device; }
int Engine::optimization_level() const { return impl_->config.optimization_level; }
size_t Engine::arena_size() const { return impl_->arena_size; }
size_t Engine::weights_size() const { return impl_->weights_size; }
int Engine::compute_capability() const { return impl_->compute_capability; }
const std::vector<std::pair<std::string, std::string>>& Engine::library_versions() const { return impl_->libraries; }
int Engine::nb_layers() const { return static_cast<int>(impl_->graph.layers.size()); }
std::string Engine::network_text() const { return ir::to_text(impl_->graph); }

std::string Engine::inspect() const {
  const ir::Graph& g = impl_->graph;
  std::ostringstream os;
  os << "engine: device=" << to_string(device()) << " optimization_level=" << optimization_level()
     << " layers=" << g.layers.size() << " arena=" << arena_size() << "B weights=" << weights_size() << "B";
  if (impl_->compute_capability)
    os << " compute_capability=" << impl_->compute_capability / 10 << '.' << impl_->compute_capability % 10;
  for (const auto& [name, version] : impl_->libraries) os << ' ' << name << '=' << version;
  os << '\n';
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    os << "  " << l.name << " [" << to_string(l.kind) << "] tactic=" << impl_->tactics[li] << " ->";
    for (int id : l.outputs) os << ' ' << to_string(g.tensors[id].dtype) << g.tensors[id].dims.str();
    os << '\n';
  }
  return os.str();
}

}  // namespace tensorforge
