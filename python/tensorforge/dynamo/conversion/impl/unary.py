"""Unary math: float-only functions (inputs promoted to the node's float dtype first), the
dtype-keeping ops (abs, neg, sign, rounding), exp2, round with decimals (torch's scale-round-unscale
in float32 for reduced precision), and the bool-valued tests (not, isnan, isinf)."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext
from tensorforge.dynamo.conversion.impl.elementwise import opmath


def unary(ctx: ConversionContext, op: str, x: tf.Tensor) -> tf.Tensor:
    """op(x) computed in the node's dtype (an integer input of a float function is cast first)."""
    return ctx.net.add_unary(ctx.cast(x, ctx.out_dtype()), op, name=ctx.name())


def test(ctx: ConversionContext, op: str, x: tf.Tensor) -> tf.Tensor:
    """A bool-valued unary op (not, isnan, isinf) on x as it is."""
    return ctx.net.add_unary(x, op, name=ctx.name())


def exp2(ctx: ConversionContext, x: tf.Tensor) -> tf.Tensor:
    """2 ** x."""
    dtype = ctx.out_dtype()
    return ctx.net.add_elementwise(ctx.const(2.0, dtype), ctx.cast(x, dtype), "pow", name=ctx.name())


def round_decimals(ctx: ConversionContext, x: tf.Tensor, decimals: int) -> tf.Tensor:
    """torch.round(x, decimals=d): round(x * 10^d) / 10^d, or round(x / 10^-d) * 10^-d for d < 0,
    computed in float32 for float16/bfloat16 as torch does."""
    if decimals == 0:
        return unary(ctx, "round", x)
    dtype = ctx.out_dtype()
    work = opmath(ctx, dtype)
    scale = ctx.const(10.0 ** abs(decimals), work)
    first, second = ("mul", "div") if decimals > 0 else ("div", "mul")
    y = ctx.net.add_elementwise(ctx.cast(x, work), scale, first, name=ctx.name("_scale"))
    y = ctx.net.add_unary(y, "round", name=ctx.name("_round"))
    return ctx.cast(ctx.net.add_elementwise(y, scale, second, name=ctx.name()), dtype)
