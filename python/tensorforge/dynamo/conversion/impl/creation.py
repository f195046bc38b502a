"""Creation and casts: filled tensors of a known shape (a constant when small or when the value is
not exact as a double, else a fill layer), arange, and dtype casts, all in the engine dtype of the
node's output."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext
from tensorforge.dynamo.conversion.sym_sizes import symbolic
from tensorforge.engine_api import as_dtype
from tensorforge.errors import UnsupportedError

_EXACT_INT = 1 << 53
_SMALL_FILL = 256  # elements: a fill this small is a constant (no kernel a call; fusions read it)


def exact_as_double(value) -> bool:
    """True if `value` (a Python number) keeps its value as the engine's double attribute."""
    if isinstance(value, bool) or isinstance(value, float):
        return True
    return isinstance(value, int) and -_EXACT_INT <= value <= _EXACT_INT


def full(ctx: ConversionContext, shape, value) -> tf.Tensor:
    """A tensor of `shape` filled with `value`, in the node's dtype. A symbolic extent (dynamo's
    dynamic shapes) makes it a fill layer, whose shape follows the sizes."""
    dtype = ctx.out_dtype()
    dynamic = any(symbolic(d) for d in shape)
    if dynamic and not exact_as_double(value):
        raise UnsupportedError(f"a fill of symbolic shape with {value!r}, which a double does not hold exactly")
    numel = 1
    for d in shape:
        numel *= d.node.hint if isinstance(d, torch.SymInt) else int(d)
    if exact_as_double(value) and (numel > _SMALL_FILL or dynamic):
        return ctx.net.add_fill(list(shape), float(value), as_dtype(dtype), name=ctx.name())
    return ctx.const(torch.full(tuple(int(d) for d in shape), value, dtype=dtype), dtype)


def arange(ctx: ConversionContext, start, step) -> tf.Tensor:
    """[start, start + step, ...] with the node's length (a size expression where it is symbolic)
    and dtype."""
    size = ctx.val(ctx.node).shape[0]
    size = size if symbolic(size) else int(size)
    return ctx.net.add_arange(size, float(start), float(step), as_dtype(ctx.out_dtype()), name=ctx.name())


def cast(ctx: ConversionContext, x: tf.Tensor) -> tf.Tensor:
    """x in the node's dtype."""
    return ctx.cast(x, ctx.out_dtype())
