"""Removes nodes that compute nothing: clones, detaches, aliases, dropouts in eval, copies to the
same dtype and device, and views/expands/reshapes to the shape they already have."""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten

_IDENTITY = {aten.clone.default, aten.detach.default, aten.alias.default, aten.lift_fresh_copy.default,
             aten.contiguous.default}
_SAME_SHAPE = {aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.expand.default}


def _val(n):
    return n.meta.get("val") if isinstance(n, Node) else None


def _is_noop(node: Node) -> bool:
    if node.op != "call_function":
        return False
    src = node.args[0] if node.args else None
    out, inp = _val(node), _val(src)
    if not isinstance(out, torch.Tensor) or not isinstance(inp, torch.Tensor):
        return False
    if node.target in _IDENTITY:
        # a copy that owns a storage an as_strided reads (as_strided_base) must stay
        return not any(u.target in (aten.as_strided.default, aten.as_strided_copy.default) for u in node.users)
    if node.target in _SAME_SHAPE:
        return tuple(out.shape) == tuple(inp.shape)
    if node.target == aten._to_copy.default:
        return out.dtype == inp.dtype and out.device == inp.device
    if node.target == aten.dropout.default:
        return len(node.args) > 2 and node.args[2] is False
    return False


def remove_noops(gm: GraphModule, settings) -> GraphModule:
    changed = False
    outputs = next(n for n in gm.graph.nodes if n.op == "output")
    for node in list(gm.graph.nodes):
        if _is_noop(node):
            src = node.args[0]
            if src.op in ("placeholder", "get_attr") and node in outputs.all_input_nodes:
                continue  # keep a copy: returning an input or a constant itself would alias it
            node.replace_all_uses_with(src)
            gm.graph.erase_node(node)
            changed = True
    if changed:
        gm.graph.lint()
    return gm
