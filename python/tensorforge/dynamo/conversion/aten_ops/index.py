"""Converters of indexing ops: index_select, embedding, gather, index.Tensor with integer index
tensors (one or several; boolean masks stay in PyTorch), index_put
with one 1-D index tensor (index_copy decomposes to it), scatter (src, value, reduce),
scatter_add and scatter_reduce (include_self=True; sum, prod, amax, amin)."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import index as impl
from tensorforge.dynamo.conversion.impl.nn_common import arg, node_arg
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _val(n):
    return n.meta["val"] if isinstance(n, torch.fx.Node) else None


def _index_ok(x, index) -> bool:
    return _val(x).dim() >= 1 and _val(index).dtype in impl.INDEX_DTYPES


@converter(aten.index_select.default, capability=lambda node, s: _index_ok(node.args[0], node.args[2]))
def aten_ops_index_select(ctx, node, args, kwargs):
    return impl.take(ctx, args[0], args[2], args[1], _val(node.args[0]).dim(), flat_index=True)


@converter(aten.embedding.default, capability=lambda node, s: _index_ok(node.args[0], node.args[1]))
def aten_ops_embedding(ctx, node, args, kwargs):
    return impl.take(ctx, args[0], args[1], 0, _val(node.args[0]).dim())


def _index_tensor_ok(node, settings) -> bool:
    given = [i for i in node.args[1] if i is not None]
    if len(given) == 1:
        return _index_ok(node.args[0], given[0])
    # several (CLIP's pooling: hidden[arange(batch), ids.argmax(-1)]): combined into one index over
    # the flattened dims, or, where their extents are sizes, taken in turn
    return bool(given) and all(_index_ok(node.args[0], i) for i in given)


@converter(aten.index.Tensor, capability=_index_tensor_ok)
def aten_ops_index(ctx, node, args, kwargs):
    given = {d: t for d, t in enumerate(args[1]) if t is not None}
    x = _val(node.args[0])
    if len(given) > 1:
        return impl.take_many(ctx, args[0], list(x.shape), given)
    (dim, index), = given.items()
    return impl.take(ctx, args[0], index, dim, x.dim())


def _gather_ok(node, settings) -> bool:
    x, index = node.args[0], node.args[2]
    return _index_ok(x, index) and _val(index).dim() == _val(x).dim()


@converter(aten.gather.default, capability=_gather_ok)
def aten_ops_gather(ctx, node, args, kwargs):
    return impl.gather(ctx, args[0], args[2], args[1], _val(node.args[0]).dim())


def _reduce_of(node):
    if node.target == aten.scatter_add.default:
        return "add"
    if node.target == aten.scatter_reduce.two:
        return node.args[4]
    if node.target in (aten.scatter.reduce, aten.scatter.value_reduce):
        return node.kwargs.get("reduce", node.args[4] if len(node.args) > 4 else None)
    return "none"


def _scatter_ok(node, settings) -> bool:
    x, index, src = node.args[0], node.args[2], node.args[3]
    reduce = _reduce_of(node)
    if reduce != "none" and (reduce not in impl.SCATTER_REDUCE or _val(x).dtype == torch.bool):
        return False
    if node.target == aten.scatter_reduce.two and not node.kwargs.get(
            "include_self", node.args[5] if len(node.args) > 5 else True):
        return False
    ranks_ok = _val(index).dim() == _val(x).dim() and (_val(src) is None or _val(src).dim() == _val(x).dim())
    return _index_ok(x, index) and ranks_ok


def _index_put_ok(node, settings) -> bool:
    """One 1-D integer index tensor (a key/value cache written at its positions: cache[:, :, pos] = kv),
    values that broadcast to the slices it selects, not bool (a sum)."""
    x, indices, values = node.args[0], node.args[1], node.args[2]
    given = [(d, i) for d, i in enumerate(indices) if i is not None]
    if len(given) != 1 or not isinstance(_val(values), torch.Tensor):
        return False
    (dim, index), = given
    xv, iv = _val(x), _val(index)
    accumulate = node_arg(node, 3, "accumulate", False)
    if iv.dtype not in impl.INDEX_DTYPES or iv.dim() != 1 or (accumulate and xv.dtype == torch.bool):
        return False
    slices = list(xv.shape[:dim]) + [iv.shape[0]] + list(xv.shape[dim + 1:])
    try:
        return list(torch.broadcast_shapes(tuple(_val(values).shape), tuple(slices))) == slices
    except RuntimeError:
        return False


@converter(aten.index_put.default, capability=_index_put_ok)
def aten_ops_index_put(ctx, node, args, kwargs):
    dim = next(d for d, i in enumerate(node.args[1]) if i is not None)
    return impl.put(ctx, args[0], args[1][dim], args[2], dim, list(_val(node.args[0]).shape),
                    bool(arg(args, kwargs, 3, "accumulate", False)))


@converter(aten.scatter.src, aten.scatter.value, aten.scatter.reduce, aten.scatter.value_reduce,
           aten.scatter_add.default, aten.scatter_reduce.two, capability=_scatter_ok)
def aten_ops_scatter(ctx, node, args, kwargs):
    reduce = _reduce_of(node)
    engine_reduce = "none" if reduce == "none" else impl.SCATTER_REDUCE[reduce]
    return impl.scatter(ctx, args[0], args[2], args[3], args[1], _val(node.args[0]).dim(),
                        _val(node.args[2]).shape, engine_reduce)
