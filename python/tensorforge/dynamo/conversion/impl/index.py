"""Indexing builders: take-gathers (index_select, embedding, x[idx] with one index tensor, and with
several: their dims flattened and read by one combined index, or taken in turn), element gathers
(torch.gather), scatters (scatter, scatter_add, scatter_reduce with include_self=True; a scalar src
becoming a constant expanded to the index's shape) and index_put at one index tensor."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext
from tensorforge.dynamo.conversion.impl.shape import norm_dim, permute, reshape

INDEX_DTYPES = (torch.int32, torch.int64)
# torch's reduce names (scatter.reduce and scatter_reduce.two) -> the engine's
SCATTER_REDUCE = {"add": "add", "multiply": "mul", "sum": "add", "prod": "mul", "amax": "max", "amin": "min"}


def take(ctx: ConversionContext, x: tf.Tensor, index: tf.Tensor, dim: int, rank: int, flat_index: bool = False) -> tf.Tensor:
    """x.shape[:dim] + index.shape + x.shape[dim+1:]; flat_index views index as 1-D first (index_select)."""
    if flat_index:
        index = reshape(ctx, index, [-1], "_index")
    return ctx.net.add_gather(x, index, axis=norm_dim(dim, rank), mode="take", name=ctx.name())


def take_many(ctx: ConversionContext, x: tf.Tensor, shape: list[int], indices: dict[int, tf.Tensor]) -> tf.Tensor:
    """x[idx_a, ..., idx_b] with index tensors at dims `indices` (dim -> index tensor; two or more,
    broadcast together; `shape` is x's, sizes where symbolic), as PyTorch indexes: the broadcast
    index shape replaces the indexed dims where they are adjacent, and goes first where a sliced dim
    separates them.

    The indexed dims are moved together (a transpose, only where they are not adjacent) and, where
    their extents are known, flattened into one (else _take_in_turn), and the index tensors are
    combined into one index into it (each made non-negative first). An index out of its own dim's
    range makes the combined index out of range as well (the flattened extent), so the gather fails
    on it (or, on CUDA, writes 0) exactly as a one-index take does, instead of reading another dim's
    element."""
    dims = sorted(indices)
    rank = len(shape)
    first = dims[0]
    if dims != list(range(first, first + len(dims))):  # separated: the indexed dims go first
        rest = [d for d in range(rank) if d not in indices]
        x = permute(ctx, x, dims + rest, "_indexed_first")
        shape, first = [shape[d] for d in dims] + [shape[d] for d in rest], 0
    sizes = [shape[first + i] for i in range(len(dims))]
    if not all(isinstance(size, int) for size in sizes):  # an indexed dim's extent is a size
        return _take_in_turn(ctx, x, shape, first, [indices[d] for d in dims],
                             [ctx.val(ctx.node.args[1][d]) for d in dims])
    total = 1
    for size in sizes:
        total *= size
    flat = reshape(ctx, x, shape[:first] + [total] + shape[first + len(dims):], "_flat")
    net, i64 = ctx.net, torch.int64

    def op(a, b, name, suffix):
        return net.add_elementwise(a, b if isinstance(b, tf.Tensor) else ctx.const(b, i64), name,
                                   name=ctx.name(suffix))

    linear, outside, stride = None, None, total
    for k, (d, size) in enumerate(zip(dims, sizes)):
        stride //= size
        idx = ctx.cast(indices[d], i64)
        idx = net.add_select(op(idx, 0, "lt", f"_neg{k}"), op(idx, size, "add", f"_wrap{k}"), idx,
                             name=ctx.name(f"_index{k}"))
        out = net.add_elementwise(op(idx, 0, "lt", f"_below{k}"), op(idx, size, "ge", f"_above{k}"), "logical_or",
                                  name=ctx.name(f"_outside{k}"))
        term = op(idx, stride, "mul", f"_term{k}") if stride != 1 else idx
        linear = term if linear is None else op(linear, term, "add", f"_sum{k}")
        outside = out if outside is None else net.add_elementwise(outside, out, "logical_or",
                                                                  name=ctx.name(f"_any_outside{k}"))
    linear = net.add_select(outside, ctx.const(total, i64), linear, name=ctx.name("_linear"))
    return net.add_gather(flat, linear, axis=first, mode="take", name=ctx.name())


def _take_in_turn(ctx: ConversionContext, x: tf.Tensor, shape: list, first: int, indices: list[tf.Tensor],
                  values: list) -> tf.Tensor:
    """take_many where an indexed dim's extent is a size (a graph with symbolic shapes), so the dims
    cannot be flattened into one of known extent: the first index takes its slices (itself broadcast
    to the indices' common shape), then each next one gathers, at every position of that shape, one
    element along the dim it indexes. `values` are the index tensors' FX values (their shapes)."""
    out = list(ctx.val(ctx.node).shape)
    common = out[first:len(out) - (len(shape) - first - len(indices))]  # the broadcast index shape
    net = ctx.net

    def spread(t: tf.Tensor, value, k: int) -> tf.Tensor:  # an index broadcast to `common`
        lead = [1] * (len(common) - value.dim()) + list(value.shape)
        return net.add_expand(reshape(ctx, t, lead, f"_index{k}_view"), common, name=ctx.name(f"_index{k}"))

    y = net.add_gather(x, spread(indices[0], values[0], 0), axis=first, mode="take", name=ctx.name("_take"))
    current = list(shape[:first]) + common + list(shape[first + 1:])
    axis = first + len(common)  # where the next indexed dim is now
    for k in range(1, len(indices)):
        per_position = current[:axis] + [1] + current[axis + 1:]
        view = [1] * first + common + [1] * (len(current) - first - len(common))
        index = net.add_expand(reshape(ctx, spread(indices[k], values[k], k), view, f"_index{k}_spread"),
                               per_position, name=ctx.name(f"_index{k}_expand"))
        y = net.add_gather(y, index, axis=axis, mode="elements", name=ctx.name(f"_gather{k}"))
        current = current[:axis] + current[axis + 1:]
        y = reshape(ctx, y, current, f"_drop{k}")
    return y


def put(ctx: ConversionContext, x: tf.Tensor, index: tf.Tensor, values: tf.Tensor, dim: int, shape: list,
        accumulate: bool) -> tf.Tensor:
    """x.index_put([None] * dim + [index], values, accumulate) for a 1-D index: x with the slices at
    `index` along `dim` replaced by (or, accumulating, increased by) `values`, broadcast to those
    slices' shape; a scatter along `dim` with the index expanded to that shape (whose kernels count
    negative indices from the end, as PyTorch does)."""
    rank = len(shape)
    dtype = ctx.out_dtype()
    x, values = ctx.cast(x, dtype), ctx.cast(values, dtype)
    n = ctx.val(ctx.node.args[1][dim]).shape[0]
    net = ctx.net
    slices = list(shape[:dim]) + [n] + list(shape[dim + 1:])
    index = reshape(ctx, index, [1] * dim + [n] + [1] * (rank - dim - 1), "_index_view")
    index = net.add_expand(index, slices, name=ctx.name("_index_expand"))
    values = net.add_expand(values, slices, name=ctx.name("_values"))
    return net.add_scatter(x, index, values, axis=dim, reduce="add" if accumulate else "none", name=ctx.name())


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
