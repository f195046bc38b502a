"""Helpers shared by the NN converter families (conv/pool, norm, reduce): argument access that
works on FX nodes and converter arguments alike, list expansion, output-use checks of multi-output
nodes, and small dtype predicates on a node's example values."""

from __future__ import annotations

import operator

import torch
from torch.fx import Node


def arg(args, kwargs, i: int, name: str, default=None):
    """Positional argument `i`, else keyword `name`, else `default`."""
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def node_arg(node: Node, i: int, name: str, default=None):
    """`arg` on an FX node's own arguments (for capability validators)."""
    return arg(node.args, node.kwargs, i, name, default)


def expand(v, n: int) -> list[int]:
    """An int or list of ints as exactly `n` ints ([] stays [], a single value repeats)."""
    if v is None:
        return []
    if isinstance(v, int):
        return [v] * n
    v = list(v)
    return v * n if len(v) == 1 and n > 1 else v


def val(node):
    """The example value of an FX node (first one for multi-output nodes), or None."""
    v = node.meta.get("val") if isinstance(node, Node) else None
    return v[0] if isinstance(v, (tuple, list)) else v


def used_outputs(node: Node) -> set[int] | None:
    """Indices of a multi-output node's outputs that are read; None if a user is not a getitem."""
    used = set()
    for u in node.users:
        if u.op != "call_function" or u.target is not operator.getitem or not isinstance(u.args[1], int):
            return None
        if u.users:
            used.add(u.args[1])
    return used


def only_outputs_used(node: Node, allowed) -> bool:
    used = used_outputs(node)
    return used is not None and used <= set(allowed)


def is_float(node) -> bool:
    v = val(node)
    return v is not None and v.dtype.is_floating_point


def all_ints(v) -> bool:
    """True for an int or a list/tuple of plain ints (no SymInts or strings)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)


def accum_dtype(ctx, dtype: torch.dtype) -> torch.dtype:
    """The dtype to accumulate a reduced-precision float in (float32 as the engine computes it)."""
    return ctx.dtype_of(torch.float32) if dtype in (torch.float16, torch.bfloat16) else dtype
