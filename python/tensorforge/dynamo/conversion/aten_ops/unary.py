"""Converters of unary math ops: exp/log family, roots, reciprocal, trigonometric and hyperbolic
functions, erf, sigmoid, rounding (floor, ceil, round, round.decimals, trunc), abs, neg, sign,
exp2, and the bool-valued logical_not, bitwise_not (bool only), isnan and isinf."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import unary
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten

# Float functions: integer inputs give float results (the converter casts first).
FLOAT_OPS = ("exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tan",
             "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf")
# Dtype-keeping ops the engine runs on every dtype but bool.
KEEP_OPS = ("abs", "neg", "sign", "floor", "ceil", "round", "trunc")


def _input_not_bool(node, settings) -> bool:
    return node.args[0].meta["val"].dtype != torch.bool


def _input_float(node, settings) -> bool:
    return node.args[0].meta["val"].dtype.is_floating_point


def _input_bool(node, settings) -> bool:
    return node.args[0].meta["val"].dtype == torch.bool


def _unary(op):
    def fn(ctx, node, args, kwargs):
        return unary.unary(ctx, op, args[0])
    fn.__name__ = f"aten_ops_{op}"
    return fn


for _op in FLOAT_OPS:
    converter(getattr(aten, _op).default)(_unary(_op))
for _op in KEEP_OPS:
    converter(getattr(aten, _op).default, capability=_input_not_bool)(_unary(_op))


@converter(aten.sigmoid.default)
def aten_ops_sigmoid(ctx, node, args, kwargs):
    return ctx.net.add_activation(ctx.cast(args[0], ctx.out_dtype()), "sigmoid", name=ctx.name())


@converter(aten.exp2.default)
def aten_ops_exp2(ctx, node, args, kwargs):
    return unary.exp2(ctx, args[0])


@converter(aten.round.decimals, capability=_input_float)
def aten_ops_round_decimals(ctx, node, args, kwargs):
    return unary.round_decimals(ctx, args[0], kwargs.get("decimals", args[1] if len(args) > 1 else 0))


@converter(aten.logical_not.default)
def aten_ops_logical_not(ctx, node, args, kwargs):
    return unary.test(ctx, "not", args[0])


@converter(aten.bitwise_not.default, capability=_input_bool)
def aten_ops_bitwise_not(ctx, node, args, kwargs):
    return unary.test(ctx, "not", args[0])


@converter(aten.isnan.default)
def aten_ops_isnan(ctx, node, args, kwargs):
    return unary.test(ctx, "isnan", args[0])


@converter(aten.isinf.default)
def aten_ops_isinf(ctx, node, args, kwargs):
    return unary.test(ctx, "isinf", args[0])
