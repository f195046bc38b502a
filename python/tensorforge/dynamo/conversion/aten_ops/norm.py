"""Converters of normalization and softmax: _native_batch_norm_legit_no_training, instance norm's
_native_batch_norm_legit.no_stats, native_layer_norm, native_group_norm (output 0 only: the saved
statistics must be unused), _softmax and _log_softmax (half_to_float=False). Float only."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import norm
from tensorforge.dynamo.conversion.impl.nn_common import is_float, only_outputs_used, val
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _stats_unused(node, settings) -> bool:
    """Float input of rank >= 2 and only output 0 (the normalized tensor) read."""
    return is_float(node.args[0]) and len(val(node.args[0]).shape) >= 2 and only_outputs_used(node, {0})


@converter(aten._native_batch_norm_legit_no_training.default, capability=_stats_unused)
def aten_ops_batch_norm(ctx, node, args, kwargs):
    x, weight, bias, mean, var, _momentum, eps = args[:7]
    return norm.batch_norm(ctx, x, weight, bias, mean, var, eps), None, None


def _no_stats_ok(node, settings) -> bool:
    return _stats_unused(node, settings) and node.args[3] is True


@converter(aten._native_batch_norm_legit.no_stats, capability=_no_stats_ok)
def aten_ops_batch_norm_no_stats(ctx, node, args, kwargs):
    x, weight, bias, _training, _momentum, eps = args[:6]
    return norm.batch_stats_norm(ctx, x, weight, bias, eps), None, None


def _layer_norm_ok(node, settings) -> bool:
    return is_float(node.args[0]) and only_outputs_used(node, {0}) and len(node.args[1]) >= 1


@converter(aten.native_layer_norm.default, capability=_layer_norm_ok)
def aten_ops_layer_norm(ctx, node, args, kwargs):
    x, shape, weight, bias, eps = args[:5]
    return norm.layer_norm(ctx, x, shape, weight, bias, eps), None, None


@converter(aten.native_group_norm.default, capability=_stats_unused)
def aten_ops_group_norm(ctx, node, args, kwargs):
    x, weight, bias, _n, _c, _hw, groups, eps = args[:8]
    return norm.group_norm(ctx, x, weight, bias, groups, eps), None, None


def _softmax_ok(node, settings) -> bool:
    return is_float(node.args[0]) and node.args[2] is False


@converter(aten._softmax.default, capability=_softmax_ok)
def aten_ops_softmax(ctx, node, args, kwargs):
    return norm.softmax(ctx, args[0], args[1])


@converter(aten._log_softmax.default, capability=_softmax_ok)
def aten_ops_log_softmax(ctx, node, args, kwargs):
    return norm.softmax(ctx, args[0], args[1], log=True)
