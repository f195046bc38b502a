"""Converters of reductions: sum, mean, prod, amax/amin, max/min (whole tensor and values+indices
over a dim), argmax/argmin, any/all, var/std (+ _mean) with a correction, linalg_vector_norm for
p = 1, 2, inf; and of scans and selection: cumsum, topk, sort (as topk over the whole axis)."""

from __future__ import annotations

import math

import torch

from tensorforge.dynamo.conversion.impl import reduce
from tensorforge.dynamo.conversion.impl.nn_common import arg, is_float, node_arg, only_outputs_used, val
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _float_out(node, settings) -> bool:
    return is_float(node)


def _dim_ok(node, settings) -> bool:
    """A single-dim op needs an input of rank >= 1 (the engine has no dim 0 of a scalar)."""
    return len(val(node.args[0]).shape) >= 1


# -- sum / mean / prod: the input is cast to the result dtype first (ints and bool sum to int64) ----
@converter(aten.sum.dim_IntList)
def aten_ops_sum(ctx, node, args, kwargs):
    return reduce.reduce(ctx, args[0], "sum", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False))


@converter(aten.mean.dim, aten.mean.default, capability=_float_out)
def aten_ops_mean(ctx, node, args, kwargs):
    return reduce.reduce(ctx, args[0], "mean", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False))


@converter(aten.prod.dim_int, aten.prod.default)
def aten_ops_prod(ctx, node, args, kwargs):
    return reduce.reduce(ctx, args[0], "prod", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False))


# -- max / min -------------------------------------------------------------------------------------
@converter(aten.amax.default, aten.max.default)
def aten_ops_amax(ctx, node, args, kwargs):
    return reduce.reduce(ctx, args[0], "max", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False))


@converter(aten.amin.default, aten.min.default)
def aten_ops_amin(ctx, node, args, kwargs):
    return reduce.reduce(ctx, args[0], "min", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False))


@converter(aten.max.dim, capability=_dim_ok)
def aten_ops_max_dim(ctx, node, args, kwargs):
    return reduce.values_indices(ctx, args[0], "max", args[1], arg(args, kwargs, 2, "keepdim", False))


@converter(aten.min.dim, capability=_dim_ok)
def aten_ops_min_dim(ctx, node, args, kwargs):
    return reduce.values_indices(ctx, args[0], "min", args[1], arg(args, kwargs, 2, "keepdim", False))


def _arg_ok(node, settings) -> bool:
    return node_arg(node, 1, "dim") is None or _dim_ok(node, settings)


@converter(aten.argmax.default, capability=_arg_ok)
def aten_ops_argmax(ctx, node, args, kwargs):
    return reduce.arg_reduce(ctx, args[0], "argmax", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False))


@converter(aten.argmin.default, capability=_arg_ok)
def aten_ops_argmin(ctx, node, args, kwargs):
    return reduce.arg_reduce(ctx, args[0], "argmin", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False))


# -- any / all (any input dtype, bool result) ------------------------------------------------------
@converter(aten.any.default, aten.any.dim, aten.any.dims)
def aten_ops_any(ctx, node, args, kwargs):
    return reduce.reduce(ctx, args[0], "any", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False),
                         dtype=ctx.torch_dtype(args[0]))


@converter(aten.all.default, aten.all.dim, aten.all.dims)
def aten_ops_all(ctx, node, args, kwargs):
    return reduce.reduce(ctx, args[0], "all", arg(args, kwargs, 1, "dim"), arg(args, kwargs, 2, "keepdim", False),
                         dtype=ctx.torch_dtype(args[0]))


# -- variance, standard deviation, vector norms ------------------------------------------------------
def _var_ok(node, settings) -> bool:
    return is_float(node.args[0])


def _var_args(args, kwargs):
    return arg(args, kwargs, 1, "dim"), kwargs.get("correction"), kwargs.get("keepdim", False)


@converter(aten.var.correction, capability=_var_ok)
def aten_ops_var(ctx, node, args, kwargs):
    return reduce.var_mean(ctx, args[0], *_var_args(args, kwargs))[0]


@converter(aten.std.correction, capability=_var_ok)
def aten_ops_std(ctx, node, args, kwargs):
    return reduce.var_mean(ctx, args[0], *_var_args(args, kwargs), sqrt=True)[0]


@converter(aten.var_mean.correction, capability=_var_ok)
def aten_ops_var_mean(ctx, node, args, kwargs):
    return reduce.var_mean(ctx, args[0], *_var_args(args, kwargs))


@converter(aten.std_mean.correction, capability=_var_ok)
def aten_ops_std_mean(ctx, node, args, kwargs):
    return reduce.var_mean(ctx, args[0], *_var_args(args, kwargs), sqrt=True)


def _norm_ok(node, settings) -> bool:
    return (is_float(node.args[0]) and node.kwargs.get("dtype") is None
            and node_arg(node, 1, "ord", 2) in (1, 2, math.inf, -math.inf))


@converter(aten.linalg_vector_norm.default, capability=_norm_ok)
def aten_ops_linalg_vector_norm(ctx, node, args, kwargs):
    return reduce.vector_norm(ctx, args[0], arg(args, kwargs, 1, "ord", 2), arg(args, kwargs, 2, "dim"),
                              arg(args, kwargs, 3, "keepdim", False))


# -- scans and selection -----------------------------------------------------------------------------
@converter(aten.cumsum.default, capability=_dim_ok)
def aten_ops_cumsum(ctx, node, args, kwargs):
    return reduce.cumsum(ctx, args[0], args[1])


def _topk_ok(node, settings) -> bool:
    """sorted=True only (PyTorch's unsorted order is its own); not bool (the engine's topk lacks it)."""
    return (_dim_ok(node, settings) and val(node.args[0]).dtype != torch.bool
            and node_arg(node, 4, "sorted", True) is True)


@converter(aten.topk.default, capability=_topk_ok)
def aten_ops_topk(ctx, node, args, kwargs):
    return reduce.topk(ctx, args[0], args[1], arg(args, kwargs, 2, "dim", -1), arg(args, kwargs, 3, "largest", True))


def _sort_ok(node, settings) -> bool:
    """sort.stable with stable=True matches exactly; an unstable sort only when its indices (whose
    order among ties PyTorch leaves open) are unused."""
    if not _dim_ok(node, settings) or val(node.args[0]).dtype == torch.bool:
        return False
    if node.target == aten.sort.stable and node.kwargs.get("stable") is True:
        return True
    return only_outputs_used(node, {0})


@converter(aten.sort.default, capability=_sort_ok)
def aten_ops_sort(ctx, node, args, kwargs):
    return reduce.sort(ctx, args[0], arg(args, kwargs, 1, "dim", -1), arg(args, kwargs, 2, "descending", False))


@converter(aten.sort.stable, capability=_sort_ok)
def aten_ops_sort_stable(ctx, node, args, kwargs):
    return reduce.sort(ctx, args[0], kwargs.get("dim", -1), kwargs.get("descending", False))
