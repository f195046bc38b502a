"""Keeps quantized weights quantized through lowering (docs/quantization.md): a transpose or
permute of a dequantized constant (the weight transpose that linear's decomposition writes) moves
before the dequantize, onto the int8 constant, where constant folding folds it; the dequantize then
reads the transposed int8 weight with its channel axis moved along. Constant folding leaves
dequantize ops alone (constant_folding.KEPT), so the engine's optimizer sees int8 weights and
their scales: it fuses them into quantized layers where a kernel exists and folds them into float
constants elsewhere."""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

from tensorforge.dynamo.lowering.passes.graph_edit import finish

aten = torch.ops.aten
_DEQUANTIZE_PER_CHANNEL = torch.ops.quantized_decomposed.dequantize_per_channel.default
_LAYOUT = {aten.permute.default, aten.t.default, aten.transpose.int}


def _perm(node: Node, rank: int) -> list[int] | None:
    if node.target is aten.t.default:
        return [1, 0] if rank == 2 else None
    if node.target is aten.transpose.int:
        a, b = node.args[1] % rank, node.args[2] % rank
        p = list(range(rank))
        p[a], p[b] = p[b], p[a]
        return p
    return [d % rank for d in node.args[1]]


def move_transposes_onto_quantized_weights(gm: GraphModule, settings) -> GraphModule:
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in _LAYOUT:
            continue
        dq = node.args[0]
        if not (isinstance(dq, Node) and dq.op == "call_function" and dq.target is _DEQUANTIZE_PER_CHANNEL and
                isinstance(dq.args[0], Node) and dq.args[0].op == "get_attr" and len(dq.users) == 1):
            continue
        q = dq.args[0]
        rank = q.meta["val"].dim() if isinstance(q.meta.get("val"), torch.Tensor) else getattr(gm, q.target).dim()
        perm = _perm(node, rank)
        if perm is None:
            continue
        axis = dq.args[3] % rank
        with gm.graph.inserting_before(node):
            moved = gm.graph.call_function(aten.permute.default, (q, perm))
            moved.meta["val"] = getattr(gm, q.target).permute(perm)
            new_dq = gm.graph.call_function(_DEQUANTIZE_PER_CHANNEL, (moved, dq.args[1], dq.args[2], perm.index(axis),
                                                                      *dq.args[4:]), dict(dq.kwargs))
        new_dq.meta.update(node.meta)
        node.replace_all_uses_with(new_dq)
        gm.graph.erase_node(node)
        gm.graph.erase_node(dq)
        changed = True
    return finish(gm) if changed else gm
