"""Indexing builders: take-gathers (index_select, embedding, x[idx] with one index tensor),
element gathers (torch.gather) and scatters (scatter, scatter_add, scatter_reduce with
include_self=True), a scalar src becoming a constant expanded to the index's shape."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext
from tensorforge.dynamo.conversion.impl.shape import norm_dim, reshape

INDEX_DTYPES = (torch.int32, torch.int64)
# torch's reduce names (scatter.reduce and scatter_reduce.two) -> the engine's
SCATTER_REDUCE = {"add": "add", "multiply": "mul", "sum": "add", "prod": "mul", "amax": "max", "amin": "min"}


def take(ctx: ConversionContext, x: tf.Tensor, index: tf.Tensor, dim: int, rank: int, flat_index: bool = False) -> tf.Tensor:
    """x.shape[:dim] + index.shape + x.shape[dim+1:]; flat_index views index as 1-D first (index_select)."""
    if flat_index:
        index = reshape(ctx, index, [-1], "_index")
    return ctx.net.add_gather(x, index, axis=norm_dim(dim, rank), mode="take", name=ctx.name())


def gather(ctx: ConversionContext, x: tf.Tensor, index: tf.Tensor, dim: int, rank: int) -> tf.Tensor:
    return ctx.net.add_gather(x, index, axis=norm_dim(dim, rank), mode="elements", name=ctx.name())


def scatter(ctx: ConversionContext, x: tf.Tensor, index: tf.Tensor, src, dim: int, rank: int, index_shape,
            reduce: str = "none") -> tf.Tensor:
    dtype = ctx.out_dtype()
    x = ctx.cast(x, dtype)
    if isinstance(src, tf.Tensor):
        src = ctx.cast(src, dtype)
    else:  # a scalar: one constant broadcast to the index's shape
        one = reshape(ctx, ctx.const(src, dtype), [1] * rank, "_value")
        src = ctx.net.add_expand(one, list(index_shape), name=ctx.name("_src"))
    return ctx.net.add_scatter(x, index, src, axis=norm_dim(dim, rank), reduce=reduce, name=ctx.name())
