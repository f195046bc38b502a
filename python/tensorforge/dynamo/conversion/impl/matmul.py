"""Matrix builders: the engine's matmul (rank >= 2) with 1-D operands viewed as matrices, and the
beta * input + alpha * product forms of addmm/addmv/addbmm/baddbmm, computed in the node's dtype."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext
from tensorforge.dynamo.conversion.impl.shape import out_shape, reshape

MATMUL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64)


def matmul(ctx: ConversionContext, a: tf.Tensor, b: tf.Tensor, a_rank: int, b_rank: int, suffix: str = "",
           transpose_b: bool = False) -> tf.Tensor:
    """a @ b with 1-D a viewed as [1, K] and 1-D b as [K, 1]; the added dims are dropped again."""
    dtype = ctx.out_dtype()
    a, b = ctx.cast(a, dtype), ctx.cast(b, dtype)
    if a_rank == 1:
        a = reshape(ctx, a, [1, -1], suffix + "_row")
    if b_rank == 1:
        b = reshape(ctx, b, [-1, 1], suffix + "_col")
    y = ctx.net.add_matmul(a, b, transpose_b=transpose_b, name=ctx.name(suffix or ""))
    if a_rank == 1 or b_rank == 1:
        y = reshape(ctx, y, out_shape(ctx), suffix + "_squeeze")
    return y


def _scaled(ctx: ConversionContext, x: tf.Tensor, factor, suffix: str) -> tf.Tensor:
    if factor == 1:
        return x
    dtype = ctx.torch_dtype(x)
    return ctx.net.add_elementwise(x, ctx.const(factor, dtype), "mul", name=ctx.name(suffix))


def add_scaled(ctx: ConversionContext, bias: tf.Tensor, product: tf.Tensor, beta, alpha) -> tf.Tensor:
    """beta * bias + alpha * product, in the product's dtype; beta == 0 ignores bias (NaN included), as torch."""
    product = _scaled(ctx, product, alpha, "_alpha")
    if beta == 0:
        return product
    bias = _scaled(ctx, ctx.cast(bias, ctx.torch_dtype(product)), beta, "_beta")
    return ctx.net.add_elementwise(bias, product, "add", name=ctx.name("_add"))


def addbmm_product(ctx: ConversionContext, b1: tf.Tensor, b2: tf.Tensor) -> tf.Tensor:
    """sum over the batch of b1[i] @ b2[i]."""
    y = matmul(ctx, b1, b2, 3, 3, "_bmm")
    return ctx.net.add_reduce(y, "sum", axes=[0], name=ctx.name("_sum"))
