"""Recognizes GELU written out with tanh, as GPT-2 and other transformers models spell it,
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x ** 3)))
and replaces the eight pointwise nodes by aten.gelu(x, approximate="tanh"): one engine layer (and an
epilogue of the matrix multiply before it) instead of eight passes over the tensor. The result is
the same function, computed in float32 inside the layer instead of rounding after every step."""

from __future__ import annotations

import math

import torch
from torch.fx import GraphModule, Node

from tensorforge.dynamo.lowering.passes.graph_edit import finish

aten = torch.ops.aten
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _with_scalar(node, target, value) -> Node | None:
    """`node` is target(other, value) or target(value, other) with `value` a number: returns other."""
    if not isinstance(node, Node) or node.op != "call_function" or node.target != target or len(node.args) != 2 \
            or node.kwargs:
        return None
    a, b = node.args
    for other, scalar in ((a, b), (b, a)):
        if isinstance(scalar, (int, float)) and not isinstance(scalar, bool) and \
                math.isclose(scalar, value, rel_tol=1e-6) and isinstance(other, Node):
            return other
    return None


def _only_user(node: Node) -> Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _cube_of(node) -> Node | None:
    if isinstance(node, Node) and node.op == "call_function" and node.target == aten.pow.Tensor_Scalar and \
            node.args[1] in (3, 3.0) and isinstance(node.args[0], Node):
        return node.args[0]
    return None


def _match(tanh: Node):
    """(x, the final multiply, the nodes to remove) of a written-out tanh GELU around `tanh`, or None."""
    inner = _with_scalar(tanh.args[0], aten.mul.Tensor, _SQRT_2_OVER_PI)
    if inner is None or inner.target != aten.add.Tensor or len(inner.args) != 2 or inner.kwargs:
        return None
    for x, cubic in (inner.args, inner.args[::-1]):
        if isinstance(x, Node) and _cube_of(_with_scalar(cubic, aten.mul.Tensor, 0.044715)) is x:
            break
    else:
        return None
    plus_one = _only_user(tanh)
    if plus_one is None or _with_scalar(plus_one, aten.add.Tensor, 1.0) is not tanh:
        return None
    final = _only_user(plus_one)
    if final is None or final.target != aten.mul.Tensor or len(final.args) != 2 or final.kwargs:
        return None
    half = final.args[0] if final.args[1] is plus_one else final.args[1]
    if _with_scalar(half, aten.mul.Tensor, 0.5) is not x:
        return None
    pow_node = cubic.args[0] if isinstance(cubic.args[0], Node) and cubic.args[0].target == aten.pow.Tensor_Scalar \
        else cubic.args[1]
    chain = [half, pow_node, cubic, inner, tanh.args[0], tanh, plus_one]
    if any(len(n.users) != 1 for n in chain):  # an intermediate read elsewhere must stay
        return None
    return x, final


def recognize_gelu(gm: GraphModule, settings=None) -> GraphModule:
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target != aten.tanh.default or node.graph is None:
            continue
        found = _match(node)
        if found is None:
            continue
        x, final = found
        with gm.graph.inserting_before(final):
            gelu = gm.graph.call_function(aten.gelu.default, (x,), {"approximate": "tanh"})
        gelu.meta = dict(final.meta)
        final.replace_all_uses_with(gelu)
        changed = True
    return finish(gm) if changed else gm
