"""Shape builders: reshape to a node's static shape, permutes, expands, concat/stack, splits,
Python slicing (select, narrow), repeat, flip and roll (through take-gathers and slices),
diagonal (a strided slice of the flattened matrix) and unfold (a take-gather of windows)."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext

INT64_MAX = 2**63 - 1


def norm_dim(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


def out_shape(ctx: ConversionContext, i: int | None = None) -> list[int]:
    """The static shape of the current node's output (element `i` of a multi-output node)."""
    v = ctx.val(ctx.node)
    return list((v[i] if i is not None else v).shape)


def reshape(ctx: ConversionContext, x: tf.Tensor, shape, suffix: str = "") -> tf.Tensor:
    return ctx.net.add_reshape(x, list(shape), name=ctx.name(suffix))


def permute(ctx: ConversionContext, x: tf.Tensor, perm, suffix: str = "") -> tf.Tensor:
    return ctx.net.add_transpose(x, [int(p) for p in perm], name=ctx.name(suffix))


def transpose(ctx: ConversionContext, x: tf.Tensor, rank: int, d0: int, d1: int, suffix: str = "") -> tf.Tensor:
    perm = list(range(rank))
    d0, d1 = norm_dim(d0, rank), norm_dim(d1, rank)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return permute(ctx, x, perm, suffix)


def concat(ctx: ConversionContext, node, xs, dim: int, suffix: str = "") -> tf.Tensor:
    """torch.cat: inputs promoted to the output dtype; the legacy empty 1-D inputs torch skips are dropped."""
    rank = len(out_shape(ctx))
    vals = [ctx.val(n) for n in node.args[0]]
    keep = [x for x, v in zip(xs, vals) if not (v.dim() == 1 and v.shape[0] == 0 and rank != 1)]
    dtype = ctx.out_dtype()
    keep = [ctx.cast(x, dtype) for x in keep]
    return ctx.net.add_concat(keep, axis=norm_dim(dim, rank), name=ctx.name(suffix))


def stack(ctx: ConversionContext, node, xs, dim: int) -> tf.Tensor:
    shape = out_shape(ctx)
    dim = norm_dim(dim, len(shape))
    piece = shape[:dim] + [1] + shape[dim + 1:]
    dtype = ctx.out_dtype()
    parts = [reshape(ctx, ctx.cast(x, dtype), piece, f"_unsqueeze{i}") for i, x in enumerate(xs)]
    return ctx.net.add_concat(parts, axis=dim, name=ctx.name())


def split(ctx: ConversionContext, x: tf.Tensor, sizes, dim: int, rank: int) -> list[tf.Tensor]:
    return ctx.net.add_split(x, list(sizes), axis=norm_dim(dim, rank), name=ctx.name())


def slice_(ctx: ConversionContext, x: tf.Tensor, dim: int, start, end, step: int = 1, suffix: str = "") -> tf.Tensor:
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end if isinstance(end, torch.SymInt) else min(end, INT64_MAX)
    return ctx.net.add_slice(x, [dim], [start], [end], [step], name=ctx.name(suffix))


def select(ctx: ConversionContext, x: tf.Tensor, dim: int, index: int, extent: int) -> tf.Tensor:
    index = index + extent if index < 0 else index
    piece = slice_(ctx, x, dim, index, index + 1, suffix="_slice")
    return reshape(ctx, piece, out_shape(ctx))


def repeat(ctx: ConversionContext, x: tf.Tensor, in_shape, repeats) -> tf.Tensor:
    """x.repeat(repeats): x viewed as [1, s0, 1, s1, ...], expanded to [r0, s0, r1, s1, ...], flattened pairwise."""
    shape = [1] * (len(repeats) - len(in_shape)) + list(in_shape)
    inter = [e for s in shape for e in (1, s)]
    big = [e for r, s in zip(repeats, shape) for e in (r, s)]
    y = reshape(ctx, x, inter, "_interleave")
    y = ctx.net.add_expand(y, big, name=ctx.name("_expand"))
    return reshape(ctx, y, out_shape(ctx))


def _take_const(ctx: ConversionContext, x: tf.Tensor, dim: int, index, suffix: str) -> tf.Tensor:
    idx = ctx.const(torch.as_tensor(index, dtype=torch.int64), name=ctx.name(suffix + "_index"))
    return ctx.net.add_gather(x, idx, axis=dim, mode="take", name=ctx.name(suffix))


def flip(ctx: ConversionContext, x: tf.Tensor, shape, dims) -> tf.Tensor:
    rank = len(shape)
    for i, d in enumerate(sorted({norm_dim(d, rank) for d in dims})):
        x = _take_const(ctx, x, d, list(range(shape[d] - 1, -1, -1)), f"_flip{i}")
    return x


def roll(ctx: ConversionContext, x: tf.Tensor, shape, shifts, dims) -> tf.Tensor:
    if not dims:  # roll of the flattened tensor
        n = 1
        for s in shape:
            n *= s
        flat = reshape(ctx, x, [n], "_flatten")
        return reshape(ctx, roll(ctx, flat, [n], shifts, [0]), shape, "_unflatten")
    rank = len(shape)
    for i, (s, d) in enumerate(zip(shifts, dims)):
        d = norm_dim(d, rank)
        n = shape[d]
        s = s % n if n else 0
        if s:
            tail = slice_(ctx, x, d, n - s, n, suffix=f"_roll{i}_tail")
            head = slice_(ctx, x, d, 0, n - s, suffix=f"_roll{i}_head")
            x = ctx.net.add_concat([tail, head], axis=d, name=ctx.name(f"_roll{i}"))
    return x


def diagonal(ctx: ConversionContext, x: tf.Tensor, shape, offset: int, dim1: int, dim2: int) -> tf.Tensor:
    """Moves dim1, dim2 to the end, flattens them and takes every (m+1)-th element from the start."""
    rank = len(shape)
    dim1, dim2 = norm_dim(dim1, rank), norm_dim(dim2, rank)
    rest = [d for d in range(rank) if d not in (dim1, dim2)]
    y = permute(ctx, x, rest + [dim1, dim2], "_permute")
    n, m = shape[dim1], shape[dim2]
    y = reshape(ctx, y, [shape[d] for d in rest] + [n * m], "_flatten")
    length = out_shape(ctx)[-1]
    start = offset if offset >= 0 else -offset * m
    return slice_(ctx, y, len(rest), start, start + length * (m + 1), m + 1)


def unfold(ctx: ConversionContext, x: tf.Tensor, shape, dim: int, size: int, step: int) -> tf.Tensor:
    """Windows through one take-gather with a [windows, size] index, the size dim moved last."""
    rank = len(shape)
    dim = norm_dim(dim, rank) if rank else 0
    if rank == 0:
        return reshape(ctx, x, out_shape(ctx))
    windows = (shape[dim] - size) // step + 1
    index = [[w * step + j for j in range(size)] for w in range(windows)]
    y = _take_const(ctx, x, dim, index, "_windows")
    perm = list(range(dim + 1)) + list(range(dim + 2, rank + 1)) + [dim + 1]
    return permute(ctx, y, perm)
