"""Elementwise binary ops: promotion to the node's computed dtype, scalar operands, the alpha of
add/sub, true, truncating and flooring division, remainder and C-style fmod, pow, min/max (also
the NaN-ignoring fmax/fmin), comparisons and logical ops (which compare in the promoted dtype of
their operands and give bool), and where/masked_fill."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext

# Arithmetic ops the engine lacks on bool, and the logical op that gives torch's bool result.
_BOOL_ARITH = {"add": "logical_or", "mul": "logical_and", "max": "logical_or", "min": "logical_and"}
_REDUCED = (torch.float16, torch.bfloat16)


def _operand_dtype(ctx: ConversionContext, node, a, b) -> torch.dtype:
    """The dtype torch would compute a op b in (before the op's own result rules)."""
    def as_arg(x, n):
        v = ctx.val(n) if isinstance(n, torch.fx.Node) else None
        return v if v is not None else x
    args = [as_arg(x, n) for x, n in zip((a, b), node.args[:2])]
    args = [torch.empty((), dtype=ctx.torch_dtype(x)) if isinstance(x, tf.Tensor) else x for x in args]
    return ctx.dtype_of(torch.result_type(*args))


def opmath(ctx: ConversionContext, dtype: torch.dtype) -> torch.dtype:
    """The dtype torch's CPU kernels compute a reduced-precision float op in (float32), else dtype.
    Multi-layer builders use it so that intermediates are not rounded where torch does not round;
    not when the settings compute float32 itself in reduced precision."""
    return torch.float32 if dtype in _REDUCED and ctx.dtype_of(torch.float32) == torch.float32 else dtype


def ew(ctx: ConversionContext, a: tf.Tensor, b: tf.Tensor, op: str, suffix: str = "") -> tf.Tensor:
    """One elementwise layer; bool operands of add/mul/max/min use the logical op torch's result equals."""
    if ctx.torch_dtype(a) == torch.bool:
        op = _BOOL_ARITH.get(op, op)
    return ctx.net.add_elementwise(a, b, op, name=ctx.name(suffix))


def binary(ctx: ConversionContext, node, op: str, a, b, alpha=None) -> tf.Tensor:
    """a op b (alpha scales b for add/sub), computed in the promoted dtype."""
    dtype = _operand_dtype(ctx, node, a, b)
    if op in ("div",) and not dtype.is_floating_point:
        dtype = ctx.out_dtype()  # true division of integers gives floats
    if alpha is not None and alpha != 1:
        b = ew(ctx, *ctx.promote(b, alpha, dtype=dtype), "mul", "_alpha")
    x, y = ctx.promote(a, b, dtype=dtype)
    return ew(ctx, x, y, op)


def rsub(ctx: ConversionContext, node, a, b, alpha=1) -> tf.Tensor:
    """b - alpha * a."""
    dtype = _operand_dtype(ctx, node, a, b)
    x, y = ctx.promote(a, b, dtype=dtype)
    if alpha != 1:
        x = ew(ctx, x, ctx.const(alpha, dtype), "mul", "_alpha")
    return ew(ctx, y, x, "sub")


def _floor_div_float(ctx: ConversionContext, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """torch's floating floor division: round((a - remainder(a, b)) / b), and a / b where b == 0.
    (floor(a / b) differs, e.g. 1 // 0.1 is 9, not 10.)"""
    net, n = ctx.net, ctx.name
    mod = net.add_elementwise(x, y, "mod", name=n("_mod"))
    exact = net.add_elementwise(net.add_elementwise(x, mod, "sub", name=n("_sub")), y, "div", name=n("_div"))
    rounded = net.add_unary(exact, "round", name=n("_round"))
    zero = net.add_elementwise(y, ctx.const(0, ctx.torch_dtype(y)), "eq", name=n("_zero"))
    return net.add_select(zero, net.add_elementwise(x, y, "div", name=n("_byzero")), rounded, name=n("_floor"))


def divide(ctx: ConversionContext, node, a, b, rounding_mode=None) -> tf.Tensor:
    """div with rounding_mode None (true division), "trunc" or "floor"."""
    if rounding_mode is None:
        return binary(ctx, node, "div", a, b)
    dtype = _operand_dtype(ctx, node, a, b)
    if not dtype.is_floating_point:
        x, y = ctx.promote(a, b, dtype=dtype)
        return ew(ctx, x, y, "div" if rounding_mode == "trunc" else "floor_div")
    x, y = ctx.promote(a, b, dtype=opmath(ctx, dtype))
    if rounding_mode == "trunc":
        out = ctx.net.add_unary(ew(ctx, x, y, "div", "_div"), "trunc", name=ctx.name("_trunc"))
    else:
        out = _floor_div_float(ctx, x, y)
    return ctx.cast(out, dtype)


def fmod(ctx: ConversionContext, node, a, b) -> tf.Tensor:
    """C-style fmod (the result takes the dividend's sign); the engine's mod is Python-style.
    Integers: a - trunc(a / b) * b. Floats: sign(a) * mod(|a|, |b|), exact since mod of
    non-negative operands is fmod."""
    dtype = _operand_dtype(ctx, node, a, b)
    x, y = ctx.promote(a, b, dtype=dtype)
    net, n = ctx.net, ctx.name
    if not dtype.is_floating_point:
        q = net.add_elementwise(net.add_elementwise(x, y, "div", name=n("_div")), y, "mul", name=n("_mul"))
        return net.add_elementwise(x, q, "sub", name=n())
    r = net.add_elementwise(net.add_unary(x, "abs", name=n("_absa")), net.add_unary(y, "abs", name=n("_absb")),
                            "mod", name=n("_mod"))
    return net.add_elementwise(r, net.add_unary(x, "sign", name=n("_sign")), "mul", name=n())


def fminmax(ctx: ConversionContext, node, op: str, a, b) -> tf.Tensor:
    """fmax/fmin: like max/min, but a NaN operand gives the other operand."""
    dtype = _operand_dtype(ctx, node, a, b)
    x, y = ctx.promote(a, b, dtype=dtype)
    if not dtype.is_floating_point:
        return ew(ctx, x, y, op)
    net, n = ctx.net, ctx.name
    m = net.add_elementwise(x, y, op, name=n("_" + op))
    m = net.add_select(net.add_unary(x, "isnan", name=n("_nana")), y, m, name=n("_pickb"))
    return net.add_select(net.add_unary(y, "isnan", name=n("_nanb")), x, m, name=n())


def compare(ctx: ConversionContext, node, op: str, a, b) -> tf.Tensor:
    dtype = _operand_dtype(ctx, node, a, b)
    x, y = ctx.promote(a, b, dtype=dtype)
    return ctx.net.add_elementwise(x, y, op, name=ctx.name())


def where(ctx: ConversionContext, cond, a, b) -> tf.Tensor:
    """select(cond, a, b) in the node's dtype; cond is cast to bool."""
    dtype = ctx.out_dtype()
    x, y = ctx.promote(a, b, dtype=dtype)
    return ctx.net.add_select(ctx.as_tensor(cond, torch.bool), x, y, name=ctx.name())


def masked_fill(ctx: ConversionContext, x: tf.Tensor, mask: tf.Tensor, value) -> tf.Tensor:
    """x with `value` (scalar or 0-dim tensor) where mask is true."""
    dtype = ctx.out_dtype()
    return ctx.net.add_select(ctx.as_tensor(mask, torch.bool), ctx.as_tensor(value, dtype), ctx.cast(x, dtype),
                              name=ctx.name())
