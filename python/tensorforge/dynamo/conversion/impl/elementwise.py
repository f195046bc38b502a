"""Elementwise binary ops: promotion to the node's computed dtype, scalar operands, the alpha of
add/sub, true and floor division, comparisons and logical ops (which compare in the promoted dtype
of their operands and give bool)."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext


def _operand_dtype(ctx: ConversionContext, node, a, b) -> torch.dtype:
    """The dtype torch would compute a op b in (before the op's own result rules)."""
    def as_arg(x, n):
        v = ctx.val(n) if isinstance(n, torch.fx.Node) else None
        return v if v is not None else x
    args = [as_arg(x, n) for x, n in zip((a, b), node.args[:2])]
    args = [torch.empty((), dtype=ctx.torch_dtype(x)) if isinstance(x, tf.Tensor) else x for x in args]
    return ctx.dtype_of(torch.result_type(*args))


def binary(ctx: ConversionContext, node, op: str, a, b, alpha=None) -> tf.Tensor:
    """a op b (alpha scales b for add/sub), computed in the promoted dtype."""
    dtype = _operand_dtype(ctx, node, a, b)
    if op in ("div",) and not dtype.is_floating_point:
        dtype = ctx.out_dtype()  # true division of integers gives floats
    if alpha is not None and alpha != 1:
        b = ctx.net.add_elementwise(*ctx.promote(b, alpha, dtype=dtype), "mul", name=ctx.name("_alpha"))
    x, y = ctx.promote(a, b, dtype=dtype)
    out = ctx.net.add_elementwise(x, y, op, name=ctx.name())
    return out


def compare(ctx: ConversionContext, node, op: str, a, b) -> tf.Tensor:
    dtype = _operand_dtype(ctx, node, a, b)
    x, y = ctx.promote(a, b, dtype=dtype)
    return ctx.net.add_elementwise(x, y, op, name=ctx.name())
