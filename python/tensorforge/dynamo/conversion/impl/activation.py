"""Activations and clamps: one activation layer per op where the engine has it (its alpha/beta
carry the op's parameters), clamp with scalar bounds (a clip layer for floats, max/min layers for
integers or NaN bounds) and with tensor bounds (elementwise max then min, NaN-propagating)."""

from __future__ import annotations

import math

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext

# torch.selu's constants, as aten.elu receives them after decomposition.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation(ctx: ConversionContext, op: str, x: tf.Tensor, alpha=None, beta=None) -> tf.Tensor:
    return ctx.net.add_activation(x, op, alpha, beta, name=ctx.name())


def clamp_scalar(ctx: ConversionContext, x: tf.Tensor, lo, hi) -> tf.Tensor:
    """clamp(x, lo, hi) with Python-number bounds (None = unbounded), in the node's dtype: a clip layer
    for floats, max/min layers for integers, NaN bounds and lo > hi (which torch clamps to hi)."""
    dtype = ctx.out_dtype()
    x = ctx.cast(x, dtype)
    bounds = [v for v in (lo, hi) if v is not None]
    if dtype.is_floating_point and not any(math.isnan(v) for v in bounds) and (lo is None or hi is None or lo <= hi):
        return ctx.net.add_activation(x, "clip", -math.inf if lo is None else lo, math.inf if hi is None else hi,
                                      name=ctx.name())
    return clamp_tensor(ctx, x, lo, hi)


def clamp_tensor(ctx: ConversionContext, x, lo, hi) -> tf.Tensor:
    """min(max(x, lo), hi) with tensor or scalar bounds (None = unbounded), in the node's dtype."""
    dtype = ctx.out_dtype()
    out = ctx.as_tensor(x, dtype)
    if lo is not None:
        out = ctx.net.add_elementwise(out, ctx.as_tensor(lo, dtype), "max", name=ctx.name("_min" if hi is not None else ""))
    if hi is not None:
        out = ctx.net.add_elementwise(out, ctx.as_tensor(hi, dtype), "min", name=ctx.name())
    return out
