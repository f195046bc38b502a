"""Converters of convolution (1-D to 3-D, grouped, dilated, transposed) and pooling: max pools
(the indices output only when unused), average pools, adaptive average and max pools. Every one
is float-only in the engine; other dtypes stay in PyTorch."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import conv_pool
from tensorforge.dynamo.conversion.impl.nn_common import all_ints, arg, is_float, node_arg, only_outputs_used
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _conv_ok(node, settings) -> bool:
    x, w = node.args[0], node.args[1]
    if not (is_float(x) and is_float(w)):
        return False
    n = len(w.meta["val"].shape) - 2
    if not 1 <= n <= 3 or len(x.meta["val"].shape) != n + 2:
        return False
    return all(all_ints(a) for a in node.args[3:6]) and all_ints(node.args[7]) and isinstance(node.args[8], int)


@converter(aten.convolution.default, capability=_conv_ok)
def aten_ops_convolution(ctx, node, args, kwargs):
    return conv_pool.convolution(ctx, *args[:9])


def _pool_ok(nd: int, with_indices: bool):
    """Float input of rank nd+1 or nd+2, int geometry; max pools: the indices output unused;
    avg pools: divisor_override None or positive."""
    def ok(node, settings) -> bool:
        x = node.args[0]
        if not is_float(x) or len(x.meta["val"].shape) not in (nd + 1, nd + 2):
            return False
        n_geometry = 4 if with_indices else 3  # kernel, stride, padding (, dilation)
        if not all(all_ints(a) for a in node.args[1:1 + n_geometry]):
            return False
        if with_indices:
            return only_outputs_used(node, {0})
        divisor = node_arg(node, 6, "divisor_override", None)
        return divisor is None or (all_ints(divisor) and divisor > 0)
    return ok


def _max_pool(nd):
    def fn(ctx, node, args, kwargs):
        out = conv_pool.pooling(ctx, args[0], "max", nd, args[1], arg(args, kwargs, 2, "stride", []),
                                arg(args, kwargs, 3, "padding", 0), arg(args, kwargs, 4, "dilation", 1),
                                arg(args, kwargs, 5, "ceil_mode", False))
        return out, None
    return fn


def _avg_pool(nd):
    def fn(ctx, node, args, kwargs):
        return conv_pool.pooling(ctx, args[0], "avg", nd, args[1], arg(args, kwargs, 2, "stride", []),
                                 arg(args, kwargs, 3, "padding", 0), (), arg(args, kwargs, 4, "ceil_mode", False),
                                 arg(args, kwargs, 5, "count_include_pad", True),
                                 arg(args, kwargs, 6, "divisor_override", None))
    return fn


converter(aten.max_pool2d_with_indices.default, capability=_pool_ok(2, True))(_max_pool(2))
converter(aten.max_pool3d_with_indices.default, capability=_pool_ok(3, True))(_max_pool(3))
converter(aten.avg_pool2d.default, capability=_pool_ok(2, False))(_avg_pool(2))
converter(aten.avg_pool3d.default, capability=_pool_ok(3, False))(_avg_pool(3))


def _adaptive_ok(nd: int, with_indices: bool):
    def ok(node, settings) -> bool:
        x = node.args[0]
        return (is_float(x) and len(x.meta["val"].shape) in (nd + 1, nd + 2) and all_ints(node.args[1])
                and (not with_indices or only_outputs_used(node, {0})))
    return ok


@converter(aten._adaptive_avg_pool2d.default, capability=_adaptive_ok(2, False))
@converter(aten._adaptive_avg_pool3d.default, capability=_adaptive_ok(3, False))
def aten_ops_adaptive_avg_pool(ctx, node, args, kwargs):
    return conv_pool.adaptive_pooling(ctx, args[0], "avg", list(node.meta["val"].shape[-len(args[1]):]))


@converter(aten.adaptive_max_pool2d.default, capability=_adaptive_ok(2, True))
@converter(aten.adaptive_max_pool3d.default, capability=_adaptive_ok(3, True))
def aten_ops_adaptive_max_pool(ctx, node, args, kwargs):
    shape = node.meta["val"][0].shape
    return conv_pool.adaptive_pooling(ctx, args[0], "max", list(shape[-len(args[1]):])), None
