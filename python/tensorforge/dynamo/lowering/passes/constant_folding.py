"""Constant folding: a node whose inputs are all constants (frozen weights, literals) is evaluated
once at compile time and replaced by a constant, e.g. a transposed or reshaped weight, a cast of a
frozen buffer, or arithmetic on constants. Creation ops without tensor inputs (full, zeros, arange)
count as constants for the nodes that read them, so a mask built from shapes alone (Swin's shifted
window mask: zeros, slice assignments, differences; a causal mask from arange) folds into one
constant, up to _MAX_CREATED_BYTES; alone they stay (they are cheap in the engine). Random ops,
uninitialized memory (empty) and dequantize ops (KEPT) never fold."""

from __future__ import annotations

import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401 - torch.ops.quantized_decomposed
from torch.fx import GraphModule, Node

import tensorforge.float8_ops  # noqa: F401 - torch.ops.tensorforge.dequantize_float8
from tensorforge.dynamo.lowering.passes.graph_edit import finish

_MAX_FOLDED_BYTES = 1 << 30
_MAX_CREATED_BYTES = 16 << 20  # a fold that reads a creation op: what would otherwise cost nothing to store
_UNINITIALIZED = {"empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided"}
# Dequantized weights stay int8 (or float8) with their scales for the engine's optimizer (quantized_weights.cc).
KEPT = {torch.ops.quantized_decomposed.dequantize_per_channel.default,
        torch.ops.quantized_decomposed.dequantize_per_tensor.default,
        torch.ops.quantized_decomposed.dequantize_per_tensor.tensor,
        torch.ops.tensorforge.dequantize_float8.default}


def _op(node: Node) -> bool:
    return node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload) and \
        torch.Tag.nondeterministic_seeded not in node.target.tags


def _created(node: Node) -> bool:
    """A deterministic creation op without tensor inputs (full, zeros, ones, arange, scalar_tensor)."""
    return _op(node) and not node.all_input_nodes and node.target._opname not in _UNINITIALIZED and \
        isinstance(node.meta.get("val"), torch.Tensor)


def _foldable(node: Node) -> bool:
    if not _op(node) or node.target._opname in _UNINITIALIZED or node.target in KEPT:
        return False
    tensor_inputs = node.all_input_nodes
    return bool(tensor_inputs) and all(n.op == "get_attr" or _created(n) for n in tensor_inputs)


def _value(gm: GraphModule, n: Node):
    return getattr(gm, n.target) if n.op == "get_attr" else n.target(*n.args, **n.kwargs)


def fold_constants(gm: GraphModule, settings) -> GraphModule:
    changed = False
    count = 0
    for node in list(gm.graph.nodes):
        if not _foldable(node):
            continue
        with torch.no_grad():
            args = torch.fx.node.map_arg(node.args, lambda n: _value(gm, n))
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: _value(gm, n))
            value = node.target(*args, **kwargs)
        limit = _MAX_CREATED_BYTES if any(_created(n) for n in node.all_input_nodes) else _MAX_FOLDED_BYTES
        if not isinstance(value, torch.Tensor) or value.numel() * value.element_size() > limit:
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
    if changed:
        _copy_folded_outputs(gm)
    return finish(gm) if changed else gm


def _copy_folded_outputs(gm: GraphModule) -> None:
    """A folded constant the graph returns is copied on every call: returning the buffer itself
    would hand every caller the same tensor, so one caller's in-place change would reach the
    next call's result (eager returns a fresh tensor). remove_noops keeps these copies."""
    output = next(n for n in gm.graph.nodes if n.op == "output")
    for const in [n for n in output.all_input_nodes
                  if n.op == "get_attr" and n.target.startswith("_folded_")]:
        with gm.graph.inserting_before(output):
            copy = gm.graph.call_function(torch.ops.aten.clone.default, (const,))
        copy.meta.update(const.meta)
        output.replace_input_with(const, copy)
