"""Converters of elementwise arithmetic (add, sub, mul, ...) and relu; the rest of the family
arrives with the converter families."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import elementwise
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


@converter(aten.add.Tensor, aten.add.Scalar)
def aten_ops_add(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "add", args[0], args[1], kwargs.get("alpha", args[2] if len(args) > 2 else 1))


@converter(aten.sub.Tensor, aten.sub.Scalar)
def aten_ops_sub(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "sub", args[0], args[1], kwargs.get("alpha", args[2] if len(args) > 2 else 1))


@converter(aten.mul.Tensor, aten.mul.Scalar)
def aten_ops_mul(ctx, node, args, kwargs):
    return elementwise.binary(ctx, node, "mul", args[0], args[1])


@converter(aten.relu.default)
def aten_ops_relu(ctx, node, args, kwargs):
    return ctx.net.add_activation(args[0], "relu", name=ctx.name())
