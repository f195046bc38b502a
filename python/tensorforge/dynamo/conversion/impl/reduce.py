"""Reduction builders: sum/mean/prod/max/min/any/all over dims (cast first to the result dtype, as
PyTorch promotes ints to int64 for sum/prod), values-and-indices max/min, arg reductions (dim None
flattens first), variance and standard deviation with a correction, vector norms (p = 1, 2, inf),
cumsum, top-k and sort (as top-k over the whole axis)."""

from __future__ import annotations

import math

import torch

from tensorforge.dynamo.conversion.impl.nn_common import accum_dtype
from tensorforge.dynamo.conversion.sym_sizes import traced_shape


def axes(dim, rank: int) -> list[int]:
    """PyTorch's dim argument (None, [], an int or a list) as engine axes; [] means every dim."""
    if dim is None or rank == 0:
        return []
    return [dim] if isinstance(dim, int) else list(dim)


def reduce(ctx, x, op: str, dim=None, keepdim=False, dtype: torch.dtype | None = None, name=""):
    """x cast to `dtype` (default: the node's output dtype), then reduced."""
    x = ctx.cast(x, dtype or ctx.out_dtype())
    return ctx.net.add_reduce(x, op, axes(dim, len(x.shape)), keepdim=bool(keepdim), name=name or ctx.name())


def _arg_input(ctx, x):
    return ctx.cast(x, torch.uint8) if ctx.torch_dtype(x) == torch.bool else x


def values_indices(ctx, x, op: str, dim, keepdim=False):
    """max.dim / min.dim: (values, int64 indices of the first extreme)."""
    values = ctx.net.add_reduce(x, op, [dim], keepdim=bool(keepdim), name=ctx.name("_values"))
    idx = ctx.net.add_arg_reduce(_arg_input(ctx, x), "arg" + op, dim, keepdim=bool(keepdim), name=ctx.name())
    return values, ctx.cast(idx, ctx.dtype_of(torch.int64))


def arg_reduce(ctx, x, op: str, dim=None, keepdim=False):
    out_shape = list(ctx.node.meta["val"].shape)
    x = _arg_input(ctx, x)
    if dim is None:
        x = ctx.net.add_reshape(x, [-1], name=ctx.name("_flat"))
        dim = 0
    idx = ctx.net.add_arg_reduce(x, op, dim, keepdim=bool(keepdim), name=ctx.name())
    if list(idx.shape) != traced_shape(out_shape):  # (a comparison with sizes themselves would fix them)
        idx = ctx.net.add_reshape(idx, out_shape, name=ctx.name("_shape"))
    return ctx.cast(idx, ctx.dtype_of(torch.int64))


def var_mean(ctx, x, dim=None, correction=None, keepdim=False, sqrt=False):
    """(variance or standard deviation, mean); computed in float32 for float16/bfloat16 inputs, as
    PyTorch accumulates them."""
    out = ctx.out_dtype()
    cd = accum_dtype(ctx, out)
    x = ctx.cast(x, cd)
    shape = list(x.shape)
    ax = axes(dim, len(shape))
    count = math.prod(shape[a] for a in ax) if ax else math.prod(shape)
    denom = max(0.0, count - (1.0 if correction is None else float(correction)))
    mean = ctx.net.add_reduce(x, "mean", ax, keepdim=True, name=ctx.name("_mean"))
    d = ctx.net.add_elementwise(x, mean, "sub", name=ctx.name("_centered"))
    sq = ctx.net.add_elementwise(d, d, "mul", name=ctx.name("_sq"))
    s = ctx.net.add_reduce(sq, "sum", ax, keepdim=bool(keepdim), name=ctx.name("_sumsq"))
    var = ctx.net.add_elementwise(s, ctx.const(denom, cd), "div", name=ctx.name("_var"))
    if sqrt:
        var = ctx.net.add_unary(var, "sqrt", name=ctx.name("_std"))
    if not keepdim:
        mean = ctx.net.add_reshape(mean, list(var.shape), name=ctx.name("_mean_shape"))
    return ctx.cast(var, out), ctx.cast(mean, out)


def vector_norm(ctx, x, ord, dim=None, keepdim=False):
    """linalg_vector_norm for ord 1, 2, inf, -inf (float32 accumulation for reduced floats)."""
    out = ctx.out_dtype()
    cd = accum_dtype(ctx, out)
    x = ctx.cast(x, cd)
    ax = axes(dim, len(x.shape))
    if ord == 2:
        sq = ctx.net.add_elementwise(x, x, "mul", name=ctx.name("_sq"))
        s = ctx.net.add_reduce(sq, "sum", ax, keepdim=bool(keepdim), name=ctx.name("_sum"))
        y = ctx.net.add_unary(s, "sqrt", name=ctx.name())
    else:
        a = ctx.net.add_unary(x, "abs", name=ctx.name("_abs"))
        op = {1: "sum", math.inf: "max", -math.inf: "min"}[ord]
        y = ctx.net.add_reduce(a, op, ax, keepdim=bool(keepdim), name=ctx.name())
    return ctx.cast(y, out)


def cumsum(ctx, x, dim):
    return ctx.net.add_cumsum(ctx.cast(x, ctx.out_dtype()), dim, name=ctx.name())


def topk(ctx, x, k, dim=-1, largest=True):
    values, idx = ctx.net.add_topk(x, k, axis=dim, largest=bool(largest), sorted=True, name=ctx.name())
    return values, ctx.cast(idx, ctx.dtype_of(torch.int64))


def sort(ctx, x, dim=-1, descending=False):
    """Sort as a top-k of the whole axis: ties keep the lower index first (a stable sort), NaN last
    ascending and first descending, as PyTorch."""
    return topk(ctx, x, x.shape[dim], dim, largest=descending)
