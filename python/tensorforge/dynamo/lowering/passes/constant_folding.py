"""Constant folding: a node whose inputs are all constants (frozen weights, literals) is evaluated
once at compile time and replaced by a constant, e.g. a transposed or reshaped weight, a cast of a
frozen buffer, or arithmetic on constants. Random and size-changing creation ops are left alone
(creation ops without tensor inputs, like full or arange, are cheap in the engine)."""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

from tensorforge.dynamo.lowering.passes.graph_edit import finish

_MAX_FOLDED_BYTES = 1 << 30


def _foldable(node: Node) -> bool:
    if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
        return False
    if torch.Tag.nondeterministic_seeded in node.target.tags:
        return False
    tensor_inputs = [n for n in node.all_input_nodes]
    return bool(tensor_inputs) and all(n.op == "get_attr" for n in tensor_inputs)


def fold_constants(gm: GraphModule, settings) -> GraphModule:
    changed = False
    count = 0
    for node in list(gm.graph.nodes):
        if not _foldable(node):
            continue
        args = torch.fx.node.map_arg(node.args, lambda n: getattr(gm, n.target))
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: getattr(gm, n.target))
        with torch.no_grad():
            value = node.target(*args, **kwargs)
        if not isinstance(value, torch.Tensor) or value.numel() * value.element_size() > _MAX_FOLDED_BYTES:
            continue
        name = f"_folded_{count}"
        count += 1
        gm.register_buffer(name, value.detach().contiguous())
        with gm.graph.inserting_before(node):
            const = gm.graph.get_attr(name)
        const.meta.update(node.meta)
        node.replace_all_uses_with(const)
        gm.graph.erase_node(node)
        changed = True
    return finish(gm) if changed else gm
