"""Converters of elementwise binary ops: arithmetic (add, sub, mul, div with rounding modes, rsub,
pow, remainder, fmod, maximum/minimum, fmax/fmin), comparisons, logical and bool-only bitwise ops,
where and masked_fill, and relu."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import elementwise
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _arg(args, kwargs, i, name, default):
    return kwargs.get(name, args[i] if len(args) > i else default)


def _val(x):
    return x.meta.get("val") if isinstance(x, torch.fx.Node) else None


def _all_bool(node, settings) -> bool:
    """Every tensor operand is bool (and every scalar operand a Python bool)."""
    ops = node.args[:2]
    return all(_val(a).dtype == torch.bool if isinstance(a, torch.fx.Node) else isinstance(a, bool) for a in ops)


@converter(aten.add.Tensor, aten.add.Scalar)
def aten_ops_add(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "add", args[0], args[1], _arg(args, kwargs, 2, "alpha", 1))


@converter(aten.sub.Tensor, aten.sub.Scalar)
def aten_ops_sub(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "sub", args[0], args[1], _arg(args, kwargs, 2, "alpha", 1))


@converter(aten.rsub.Tensor, aten.rsub.Scalar)
def aten_ops_rsub(ctx, node, args, kwargs):
    return elementwise.rsub(ctx, node, args[0], args[1], _arg(args, kwargs, 2, "alpha", 1))


@converter(aten.mul.Tensor, aten.mul.Scalar)
def aten_ops_mul(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "mul", args[0], args[1])


@converter(aten.div.Tensor, aten.div.Scalar, aten.div.Tensor_mode, aten.div.Scalar_mode)
def aten_ops_div(ctx, node, args, kwargs):
    return elementwise.divide(ctx, node, args[0], args[1], _arg(args, kwargs, 2, "rounding_mode", None))


def _pow_capability(node, settings) -> bool:
    """A bool result is not an engine dtype for pow; an integer tensor to a negative Python-int
    power stays in PyTorch, which raises its own error for it (a negative exponent tensor converts:
    the engine computes what PyTorch does)."""
    dtype = _val(node).dtype
    if dtype == torch.bool:
        return False
    exponent = node.args[1] if len(node.args) > 1 else None
    return not (node.target == aten.pow.Tensor_Scalar and not dtype.is_floating_point
                and isinstance(exponent, int) and exponent < 0)


@converter(aten.pow.Tensor_Tensor, aten.pow.Tensor_Scalar, aten.pow.Scalar, capability=_pow_capability)
def aten_ops_pow(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "pow", args[0], args[1])


def _not_bool_result(node, settings) -> bool:
    return _val(node).dtype != torch.bool


@converter(aten.remainder.Tensor, aten.remainder.Scalar, aten.remainder.Scalar_Tensor, capability=_not_bool_result)
def aten_ops_remainder(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "mod", args[0], args[1])


@converter(aten.fmod.Tensor, aten.fmod.Scalar, capability=_not_bool_result)
def aten_ops_fmod(ctx, node, args, kwargs):
    return elementwise.fmod(ctx, node, args[0], args[1])


@converter(aten.maximum.default)
def aten_ops_maximum(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "max", args[0], args[1])


@converter(aten.minimum.default)
def aten_ops_minimum(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "min", args[0], args[1])


@converter(aten.fmax.default, capability=_not_bool_result)
def aten_ops_fmax(ctx, node, args, kwargs):
    return elementwise.fminmax(ctx, node, "max", args[0], args[1])


@converter(aten.fmin.default, capability=_not_bool_result)
def aten_ops_fmin(ctx, node, args, kwargs):
    return elementwise.fminmax(ctx, node, "min", args[0], args[1])


def _comparison(op):
    def fn(ctx, node, args, kwargs):
        return elementwise.compare(ctx, node, op, args[0], args[1])
    fn.__name__ = f"aten_ops_{op}"
    return fn


for _op in ("eq", "ne", "lt", "le", "gt", "ge"):
    converter(getattr(aten, _op).Tensor, getattr(aten, _op).Scalar)(_comparison(_op))
for _op in ("logical_and", "logical_or", "logical_xor"):
    converter(getattr(aten, _op).default)(_comparison(_op))

# Bitwise ops on bool are the logical ops; on integers the engine has no bitwise layer.
for _op in ("and", "or", "xor"):
    converter(getattr(aten, f"bitwise_{_op}").Tensor, getattr(aten, f"bitwise_{_op}").Scalar,
              capability=_all_bool)(_comparison(f"logical_{_op}"))


@converter(aten.where.self)
def aten_ops_where(ctx, node, args, kwargs):
    return elementwise.where(ctx, args[0], args[1], args[2])


@converter(aten.masked_fill.Scalar, aten.masked_fill.Tensor)
def aten_ops_masked_fill(ctx, node, args, kwargs):
    return elementwise.masked_fill(ctx, args[0], args[1], args[2])


@converter(aten.relu.default)
def aten_ops_relu(ctx, node, args, kwargs):
    return ctx.net.add_activation(args[0], "relu", name=ctx.name())
