"""Converters of shape ops: views and reshapes, permutes and transposes, expand, (un)squeeze, cat
and stack, as_strided (over a contiguous input), splits and unbind, slicing (slice, select, narrow_copy), identity copies (clone, alias),
repeat, flip, roll, diagonal and unfold. Static shapes only: the output shape comes from the node's
example value."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import shape as impl
from tensorforge.dynamo.conversion.registry import converter
from tensorforge.dynamo.conversion.sym_sizes import size_node

aten = torch.ops.aten


def arg(node, args, kwargs, i: int, name: str, default=None):
    """Argument `i` (or keyword `name`) of a node or of a converter call."""
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def node_arg(node, i: int, name: str, default=None):
    return arg(node, node.args, node.kwargs, i, name, default)


def _shape(node, i=0):
    return list(node.args[i].meta["val"].shape)


@converter(aten.view.default, aten.view_copy.default, aten.squeeze.dim, aten.squeeze.dims, aten.unsqueeze.default)
def aten_ops_reshape(ctx, node, args, kwargs):
    return impl.reshape(ctx, args[0], impl.out_shape(ctx))


@converter(aten.permute.default, aten.permute_copy.default)
def aten_ops_permute(ctx, node, args, kwargs):
    return impl.permute(ctx, args[0], args[1])


@converter(aten.transpose.int)
def aten_ops_transpose(ctx, node, args, kwargs):
    return impl.transpose(ctx, args[0], len(_shape(node)), args[1], args[2])


@converter(aten.t.default)
def aten_ops_t(ctx, node, args, kwargs):
    rank = len(_shape(node))
    return impl.transpose(ctx, args[0], rank, 0, 1) if rank == 2 else impl.reshape(ctx, args[0], _shape(node))


@converter(aten.expand.default)
def aten_ops_expand(ctx, node, args, kwargs):
    return ctx.net.add_expand(args[0], impl.out_shape(ctx), name=ctx.name())


@converter(aten.clone.default, aten.alias.default)
def aten_ops_identity(ctx, node, args, kwargs):
    return args[0]


def _as_strided_view(node):
    """(size, strides, offset) of an aten.as_strided node over its input's contiguous elements, or
    None when the engine's as_strided layer cannot express it. aten.as_strided reads the input's
    storage: that is the engine's contiguous copy only when the traced input is contiguous, and the
    offset counts from the input's first element (its storage_offset) there."""
    x = node.args[0].meta.get("val") if hasattr(node.args[0], "meta") else None
    size, stride = node_arg(node, 1, "size"), node_arg(node, 2, "stride")
    offset = node_arg(node, 3, "storage_offset", None)
    if not isinstance(x, torch.Tensor) or not x.is_contiguous():
        return None
    values = list(size) + list(stride) + ([] if offset is None else [offset])
    if not all(isinstance(v, int) for v in values) or len(size) != len(stride) or any(v < 0 for v in values):
        return None
    rel = (x.storage_offset() if offset is None else offset) - x.storage_offset()
    if rel < 0:
        return None
    if any(n == 0 for n in size):
        return list(size), list(stride), 0
    last = rel + sum((n - 1) * st for n, st in zip(size, stride))
    return (list(size), list(stride), rel) if last < x.numel() else None


@converter(aten.as_strided.default, aten.as_strided_copy.default,
           capability=lambda node, settings: _as_strided_view(node) is not None)
def aten_ops_as_strided(ctx, node, args, kwargs):
    size, stride, offset = _as_strided_view(node)
    return ctx.net.add_as_strided(args[0], size, stride, offset, name=ctx.name())


def _cat_ok(node, settings) -> bool:
    rank = len(node.meta["val"].shape)
    vals = [n.meta["val"] for n in node.args[0]]
    return rank >= 1 and any(not (v.dim() == 1 and v.shape[0] == 0) or rank == 1 for v in vals)


@converter(aten.cat.default, capability=_cat_ok)
def aten_ops_cat(ctx, node, args, kwargs):
    return impl.concat(ctx, node, args[0], arg(node, args, kwargs, 1, "dim", 0))


@converter(aten.stack.default)
def aten_ops_stack(ctx, node, args, kwargs):
    return impl.stack(ctx, node, args[0], arg(node, args, kwargs, 1, "dim", 0))


def _has_rank(node, settings) -> bool:
    return len(_shape(node)) >= 1


@converter(aten.split.Tensor, aten.split_with_sizes.default, capability=_has_rank)
def aten_ops_split(ctx, node, args, kwargs):
    sizes = [list(v.shape) for v in ctx.val(node)]
    shape = _shape(node)
    dim = impl.norm_dim(arg(node, args, kwargs, 2, "dim", 0), len(shape))
    return impl.split(ctx, args[0], [s[dim] for s in sizes], dim, len(shape))


@converter(aten.unbind.int, capability=_has_rank)
def aten_ops_unbind(ctx, node, args, kwargs):
    shape = _shape(node)
    dim = impl.norm_dim(arg(node, args, kwargs, 1, "dim", 0), len(shape))
    pieces = impl.split(ctx, args[0], [1] * shape[dim], dim, len(shape))
    return [impl.reshape(ctx, p, impl.out_shape(ctx, i), f"_squeeze{i}") for i, p in enumerate(pieces)]


def _slice_ok(node, settings) -> bool:
    # Bounds may be sizes of a graph with symbolic shapes (BERT's token_type_ids[:, :seq_length]):
    # the engine evaluates them per call.
    step = node_arg(node, 4, "step", 1)
    bounds = (node_arg(node, 2, "start"), node_arg(node, 3, "end"))
    return len(_shape(node)) >= 1 and isinstance(step, int) and step >= 1 and all(
        v is None or isinstance(v, int) or size_node(v) for v in bounds)


@converter(aten.slice.Tensor, aten.slice_copy.Tensor, capability=_slice_ok)
def aten_ops_slice(ctx, node, args, kwargs):
    rank = len(_shape(node))
    dim = impl.norm_dim(arg(node, args, kwargs, 1, "dim", 0), rank)
    return impl.slice_(ctx, args[0], dim, arg(node, args, kwargs, 2, "start"), arg(node, args, kwargs, 3, "end"),
                       arg(node, args, kwargs, 4, "step", 1))


def _slice_scatter_ok(node, settings) -> bool:
    return _slice_ok(node, settings) and isinstance(node.args[1].meta.get("val"), torch.Tensor)


def _scatter_into_slice(ctx, x, src, shape, dim: int, start: int, end: int, step: int):
    """x with x[start:end:step] along dim replaced by src (src of the slice's shape). A unit step is a
    concat of what is kept of x around src; other steps scatter src at constant indices."""
    dtype = ctx.out_dtype()
    x, src = ctx.cast(x, dtype), ctx.cast(src, dtype)
    if step == 1:
        parts = ([impl.slice_(ctx, x, dim, 0, start, suffix="_before")] if start > 0 else []) + [src] + \
                ([impl.slice_(ctx, x, dim, end, None, suffix="_after")] if end < shape[dim] else [])
        return parts[0] if len(parts) == 1 else ctx.net.add_concat(parts, axis=dim, name=ctx.name())
    src_shape = list(ctx.val(ctx.node.args[1]).shape)
    positions = torch.arange(start, end, step, dtype=torch.int64)
    view = [1] * len(shape)
    view[dim] = positions.numel()
    index = ctx.const(positions.view(view).expand(src_shape).contiguous(), name=ctx.name("_index"))
    return ctx.net.add_scatter(x, index, src, axis=dim, reduce="none", name=ctx.name())


def _bounds(extent: int, start, end, step: int) -> tuple[int, int]:
    """Python slice bounds of a slice over `extent` elements, clamped as torch clamps them."""
    start, end, _ = slice(start, end, step).indices(extent)
    return start, max(start, end)


@converter(aten.slice_scatter.default, capability=_slice_scatter_ok)
def aten_ops_slice_scatter(ctx, node, args, kwargs):
    """x with a slice replaced (BART's shift_tokens_right writes ids[:, 1:] of a new tensor)."""
    shape = _shape(node)
    dim = impl.norm_dim(arg(node, args, kwargs, 2, "dim", 0), len(shape))
    step = arg(node, args, kwargs, 5, "step", 1)
    start, end = _bounds(shape[dim], arg(node, args, kwargs, 3, "start"), arg(node, args, kwargs, 4, "end"), step)
    if start == end:
        return ctx.cast(args[0], ctx.out_dtype())
    return _scatter_into_slice(ctx, args[0], args[1], shape, dim, start, end, step)


@converter(aten.narrow_copy.default, capability=_has_rank)
def aten_ops_narrow(ctx, node, args, kwargs):
    shape = _shape(node)
    dim = impl.norm_dim(args[1], len(shape))
    start = args[2] + shape[dim] if args[2] < 0 else args[2]
    return impl.slice_(ctx, args[0], dim, start, start + args[3])


@converter(aten.select.int, aten.select_copy.int, capability=_has_rank)
def aten_ops_select(ctx, node, args, kwargs):
    shape = _shape(node)
    dim = impl.norm_dim(args[1], len(shape))
    return impl.select(ctx, args[0], dim, args[2], shape[dim])


@converter(aten.repeat.default)
def aten_ops_repeat(ctx, node, args, kwargs):
    return impl.repeat(ctx, args[0], _shape(node), args[1])


@converter(aten.flip.default)
def aten_ops_flip(ctx, node, args, kwargs):
    return impl.flip(ctx, args[0], _shape(node), args[1])


def _roll_ok(node, settings) -> bool:
    return len(_shape(node)) >= 1


@converter(aten.roll.default, capability=_roll_ok)
def aten_ops_roll(ctx, node, args, kwargs):
    shifts = list(args[1])
    dims = list(arg(node, args, kwargs, 2, "dims", []))
    return impl.roll(ctx, args[0], _shape(node), shifts, dims)


@converter(aten.diagonal.default)
def aten_ops_diagonal(ctx, node, args, kwargs):
    return impl.diagonal(ctx, args[0], _shape(node), arg(node, args, kwargs, 1, "offset", 0),
                         arg(node, args, kwargs, 2, "dim1", 0), arg(node, args, kwargs, 3, "dim2", 1))


@converter(aten.unfold.default)
def aten_ops_unfold(ctx, node, args, kwargs):
    return impl.unfold(ctx, args[0], _shape(node), args[1], args[2], args[3])
