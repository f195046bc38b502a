"""Converters of activations (gelu with either approximation, silu, leaky_relu, elu and selu as aten
presents it, celu, softplus, hardtanh/relu6, hardswish, hardsigmoid, mish) and of clamp,
clamp.Tensor, clamp_min and clamp_max."""

from __future__ import annotations

import math

import torch

from tensorforge.dynamo.conversion.impl import activation
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _arg(node, i, name, default):
    return node.kwargs.get(name, node.args[i] if len(node.args) > i else default)


def _float_input(node, settings) -> bool:
    return node.args[0].meta["val"].dtype.is_floating_point


def _with(*checks):
    """A capability: the input is a float tensor and every check(node) holds."""
    return lambda node, settings: _float_input(node, settings) and all(c(node) for c in checks)


def _elu_op(node) -> str | None:
    """"elu" when scale and input_scale are 1, "selu" for torch.selu's constants, else None (stays in
    PyTorch: the engine's elu has no scales)."""
    alpha, scale, input_scale = _arg(node, 1, "alpha", 1.0), _arg(node, 2, "scale", 1.0), _arg(node, 3, "input_scale", 1.0)
    if input_scale != 1:
        return None
    if scale == 1:
        return "elu"
    if math.isclose(alpha, activation.SELU_ALPHA, rel_tol=1e-12) and math.isclose(scale, activation.SELU_SCALE, rel_tol=1e-12):
        return "selu"
    return None


@converter(aten.gelu.default, capability=_with(lambda n: n.kwargs.get("approximate", "none") in ("none", "tanh")))
def aten_ops_gelu(ctx, node, args, kwargs):
    op = "gelu_tanh" if kwargs.get("approximate", "none") == "tanh" else "gelu_erf"
    return activation.activation(ctx, op, args[0])


@converter(aten.elu.default, capability=_with(lambda n: _elu_op(n) is not None))
def aten_ops_elu(ctx, node, args, kwargs):
    op = _elu_op(node)
    return activation.activation(ctx, op, args[0], _arg(node, 1, "alpha", 1.0) if op == "elu" else None)


@converter(aten.celu.default, capability=_with(lambda n: _arg(n, 1, "alpha", 1.0) != 0))
def aten_ops_celu(ctx, node, args, kwargs):
    return activation.activation(ctx, "celu", args[0], _arg(node, 1, "alpha", 1.0))


@converter(aten.softplus.default, capability=_with(lambda n: _arg(n, 1, "beta", 1.0) != 0))
def aten_ops_softplus(ctx, node, args, kwargs):
    return activation.activation(ctx, "softplus", args[0], _arg(node, 1, "beta", 1.0), _arg(node, 2, "threshold", 20.0))


@converter(aten.leaky_relu.default, capability=_with())
def aten_ops_leaky_relu(ctx, node, args, kwargs):
    return activation.activation(ctx, "leaky_relu", args[0], _arg(node, 1, "negative_slope", 0.01))


@converter(aten.hardtanh.default, capability=_with(lambda n: _arg(n, 1, "min_val", -1.0) <= _arg(n, 2, "max_val", 1.0)))
def aten_ops_hardtanh(ctx, node, args, kwargs):
    return activation.activation(ctx, "clip", args[0], _arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0))


def _simple(op):
    def fn(ctx, node, args, kwargs):
        return activation.activation(ctx, op, args[0])
    fn.__name__ = f"aten_ops_{op}"
    return fn


for _op in ("silu", "hardswish", "hardsigmoid", "mish"):
    converter(getattr(aten, _op).default, capability=_with())(_simple(_op))


def _not_bool(node, settings) -> bool:
    return node.meta["val"].dtype != torch.bool


def _clamp_scalar_ok(node, settings) -> bool:
    """Not bool, and no NaN bound: PyTorch versions disagree on clamp(x, min=nan), so it stays there."""
    bounds = [_arg(node, 1, "min", None), _arg(node, 2, "max", None)] if node.target == aten.clamp.default else [
        node.args[1]]
    return _not_bool(node, settings) and not any(isinstance(b, float) and math.isnan(b) for b in bounds)


@converter(aten.clamp.default, capability=_clamp_scalar_ok)
def aten_ops_clamp(ctx, node, args, kwargs):
    return activation.clamp_scalar(ctx, args[0], _arg(node, 1, "min", None), _arg(node, 2, "max", None))


@converter(aten.clamp_min.default, capability=_clamp_scalar_ok)
def aten_ops_clamp_min(ctx, node, args, kwargs):
    return activation.clamp_scalar(ctx, args[0], args[1], None)


@converter(aten.clamp_max.default, capability=_clamp_scalar_ok)
def aten_ops_clamp_max(ctx, node, args, kwargs):
    return activation.clamp_scalar(ctx, args[0], None, args[1])


@converter(aten.clamp.Tensor, capability=_not_bool)
def aten_ops_clamp_tensor(ctx, node, args, kwargs):
    lo = kwargs.get("min", args[1] if len(args) > 1 else None)
    hi = kwargs.get("max", args[2] if len(args) > 2 else None)
    return activation.clamp_tensor(ctx, args[0], lo, hi)
