"""Creation and casts: filled tensors of a known shape (a constant when small or when the value is
not exact as a double, else a fill layer), arange, and dtype casts, all in the engine dtype of the
node's output."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext
from tensorforge.engine_api import as_dtype

_EXACT_INT = 1 << 53
_SMALL_FILL = 256  # elements: a fill this small is a constant (no kernel a call; fusions read it)


def exact_as_double(value) -> bool:
    """True if `value` (a Python number) keeps its value as the engine's double attribute."""
    if isinstance(value, bool) or isinstance(value, float):
        return True
    return isinstance(value, int) and -_EXACT_INT <= value <= _EXACT_INT


def full(ctx: ConversionContext, shape, value) -> tf.Tensor:
    """A tensor of `shape` filled with `value`, in the node's dtype."""
    dtype = ctx.out_dtype()
    numel = 1
    for d in shape:
        numel *= int(d)
    if exact_as_double(value) and numel > _SMALL_FILL:
        return ctx.net.add_fill(list(shape), float(value), as_dtype(dtype), name=ctx.name())
    return ctx.const(torch.full(tuple(shape), value, dtype=dtype), dtype)


def arange(ctx: ConversionContext, start, step) -> tf.Tensor:
    """[start, start + step, ...] with the node's (known) length and dtype."""
    size = int(ctx.val(ctx.node).shape[0])
    return ctx.net.add_arange(size, float(start), float(step), as_dtype(ctx.out_dtype()), name=ctx.name())


def cast(ctx: ConversionContext, x: tf.Tensor) -> tf.Tensor:
    """x in the node's dtype."""
    return ctx.cast(x, ctx.out_dtype())
