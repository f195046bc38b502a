// Dead-layer elimination (see eliminate_dead_layers.h): a backward sweep marks the layers the
// outputs need; the others are not copied.
#include "opt/eliminate_dead_layers.h"

#include "opt/rebuild.h"

namespace tensorforge {

ir::Graph eliminate_dead_layers(const ir::Graph& g) {
  std::vector<char> needed_tensor(g.tensors.size(), 0), live(g.layers.size(), 0);
  for (int id : g.outputs) needed_tensor[id] = 1;
  bool dead = false;
  for (size_t k = g.layers.size(); k-- > 0;) {
    const ir::Layer& l = g.layers[k];
    for (int id : l.outputs) live[k] = live[k] || needed_tensor[id];
    if (!live[k]) {
      dead = true;
      continue;
    }
    for (int id : l.inputs)
      if (id >= 0) needed_tensor[id] = 1;
  }
  if (!dead) return g;
  GraphRebuilder rb(g);
  for (size_t k = 0; k < g.layers.size(); ++k)
    if (live[k]) rb.copy(static_cast<int>(k));
  return rb.finish();
}

}  // namespace tensorforge
