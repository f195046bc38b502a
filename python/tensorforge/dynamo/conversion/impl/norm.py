"""Normalization builders: inference batch norm, layer norm, group norm, instance norm (batch
statistics of _native_batch_norm_legit.no_stats, computed as a group norm with one group per
channel over the channel-major layout) and (log-)softmax."""

from __future__ import annotations

import math


def _affine(ctx, dtype, *ts):
    return [None if t is None else ctx.cast(t, dtype) for t in ts]


def batch_norm(ctx, x, weight, bias, mean, var, eps):
    dtype = ctx.out_dtype()
    x, weight, bias, mean, var = _affine(ctx, dtype, x, weight, bias, mean, var)
    return ctx.net.add_batch_norm(x, mean, var, weight, bias, eps=eps, name=ctx.name())


def layer_norm(ctx, x, normalized_shape, weight, bias, eps):
    dtype = ctx.out_dtype()
    x, weight, bias = _affine(ctx, dtype, x, weight, bias)
    return ctx.net.add_layer_norm(x, len(normalized_shape), weight, bias, eps=eps, name=ctx.name())


def group_norm(ctx, x, weight, bias, groups, eps):
    dtype = ctx.out_dtype()
    x, weight, bias = _affine(ctx, dtype, x, weight, bias)
    return ctx.net.add_group_norm(x, groups, weight, bias, eps=eps, name=ctx.name())


def batch_stats_norm(ctx, x, weight, bias, eps):
    """Training-mode batch norm (statistics of each channel over the batch and spatial dims):
    [N, C, *S] -> [1, C, N*prod(S)], a group norm with C groups, and back."""
    dtype = ctx.out_dtype()
    x, weight, bias = _affine(ctx, dtype, x, weight, bias)
    shape = list(x.shape)
    rank = len(shape)
    perm = [1, 0] + list(range(2, rank))
    t = ctx.net.add_transpose(x, perm, name=ctx.name("_cfirst"))
    t = ctx.net.add_reshape(t, [1, shape[1], math.prod(shape) // shape[1]], name=ctx.name("_flat"))
    t = ctx.net.add_group_norm(t, shape[1], weight, bias, eps=eps, name=ctx.name())
    t = ctx.net.add_reshape(t, [shape[1], shape[0]] + shape[2:], name=ctx.name("_unflat"))
    return ctx.net.add_transpose(t, perm, name=ctx.name("_nfirst"))


def softmax(ctx, x, dim, log=False):
    return ctx.net.add_softmax(ctx.cast(x, ctx.out_dtype()), axis=dim, log=log, name=ctx.name())
