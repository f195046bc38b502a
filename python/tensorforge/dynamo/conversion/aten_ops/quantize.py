"""Converters of the quantize/dequantize pairs that PyTorch's PT2E quantization flow (torchao's
`convert_pt2e`, and other tools writing the same ops) leaves in a graph:
`quantized_decomposed.{quantize,dequantize}_per_tensor` (.default with Python numbers, .tensor with
0-d constants) and `_per_channel`, for int8 and uint8. Each becomes one quantize or dequantize layer
(docs/layers.md) whose scale (float32) and zero point (int32) are constants broadcast along the
channel axis; the arithmetic matches the ops' reference implementation. Scales an engine input
gives at run time, and other quantized dtypes, stay in PyTorch (docs/quantization.md)."""

from __future__ import annotations

import re

import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401 - defines torch.ops.quantized_decomposed
from torch.fx import Node

import tensorforge.float8_ops  # noqa: F401 - torch.ops.tensorforge.*_float8
from tensorforge.dynamo.conversion.registry import converter
from tensorforge.dynamo.lowering.freeze import SOURCE

qd = torch.ops.quantized_decomposed
_DTYPES = (torch.int8, torch.uint8)


def _value(ctx, arg, node_arg):
    """The constant a scale or zero point argument holds: a Python number, or the tensor of the
    get_attr node it comes from."""
    if isinstance(node_arg, Node):
        return ctx.attr_values[node_arg]
    return arg


def _constant_param(node: Node, i: int) -> bool:
    a = node.args[i] if i < len(node.args) else None
    return not isinstance(a, Node) or a.op == "get_attr"


def _quantized_dtype(node: Node, i: int) -> torch.dtype | None:
    return node.args[i] if i < len(node.args) else node.kwargs.get("dtype")


def _supported(node, settings) -> bool:
    """int8/uint8 with constant scales and zero points (args 1 and 2; the dtype is arg 5 per tensor,
    6 per channel)."""
    per_channel = "per_channel" in str(node.target)
    return (_constant_param(node, 1) and _constant_param(node, 2) and
            _quantized_dtype(node, 6 if per_channel else 5) in _DTYPES)


def _params(ctx, node: Node, args, axis: int | None):
    """(scale float32 constant, zero point int32 constant or None), broadcast along `axis` of the
    data (per channel) or scalars."""
    scale = torch.as_tensor(_value(ctx, args[1], node.args[1]), dtype=torch.float64).to(torch.float32)
    zero = _value(ctx, args[2], node.args[2])
    zero = torch.zeros_like(scale, dtype=torch.int32) if zero is None else torch.as_tensor(zero).to(torch.int32)
    if axis is not None:
        rank = ctx.val(node.args[0]).dim()
        shape = [1] * rank
        shape[axis % rank] = scale.numel()
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    scale_t = ctx.net.add_constant(scale.contiguous(), ctx.name("_scale"))
    zero_t = None if not zero.any() else ctx.net.add_constant(zero.contiguous(), ctx.name("_zero_point"))
    return scale_t, zero_t


def _quantize(ctx, node, args, axis):
    qmin, qmax, dtype = args[3 + (axis is not None):6 + (axis is not None)]
    scale, zero = _params(ctx, node, args, axis)
    x = args[0]
    if ctx.torch_dtype(x) not in (torch.float32, torch.float16, torch.bfloat16):
        x = ctx.cast(x, torch.float32)
    return ctx.net.add_quantize(x, scale, zero, dtype=dtype, qmin=qmin, qmax=qmax, name=ctx.name())


# The scale buffers tensorforge.quantize registers (quantization.py): calibrated, or weight only.
_OWN_SCALE = re.compile(r"(?<![A-Za-z0-9_])_tf_(quant|wonly)_\d+_(?:input_)?scale(?![A-Za-z0-9_])")


def scale_source(node: Node) -> str:
    """Where a dequantize's scales came from: "calibrated" or "weight-only" for the buffers of
    tensorforge.quantize (by the dynamo source of the frozen constant), "given" for other constant
    tensors, "" (not said) for a Python number: tensorforge.quantize and PT2E both write an
    activation's scale as one, so its origin is not in the graph."""
    arg = node.args[1] if len(node.args) > 1 else None
    if not isinstance(arg, Node):
        return ""
    match = _OWN_SCALE.search(arg.meta.get(SOURCE) or "")
    if match is None:
        return "given"
    return "calibrated" if match.group(1) == "quant" else "weight-only"


def _dequantize(ctx, node, args, kwargs, axis):
    scale, zero = _params(ctx, node, args, axis)
    return ctx.net.add_dequantize(args[0], scale, zero, dtype=ctx.out_dtype(), name=ctx.name(),
                                  scale_source=scale_source(node))


for _overload in (qd.quantize_per_tensor.default, qd.quantize_per_tensor.tensor):
    converter(_overload, capability=_supported)(lambda ctx, node, args, kwargs: _quantize(ctx, node, args, None))
for _overload in (qd.dequantize_per_tensor.default, qd.dequantize_per_tensor.tensor):
    converter(_overload, capability=_supported)(
        lambda ctx, node, args, kwargs: _dequantize(ctx, node, args, kwargs, None))


# float8_e4m3fn, as tensorforge.quantize(dtype=torch.float8_e4m3fn) writes it (float8_ops.py): an
# activation's round trip and a constant weight's dequantize, each scale a constant float32 tensor.
tops = torch.ops.tensorforge


def _float8_constant_scale(node, settings) -> bool:
    return _constant_param(node, 1) and isinstance(node.args[1], Node)


def _float8_scale(ctx, node):
    return ctx.net.add_constant(ctx.attr_values[node.args[1]].float().contiguous(), ctx.name("_scale"))


@converter(tops.fake_quantize_float8.default, capability=_float8_constant_scale)
def tensorforge_fake_quantize_float8(ctx, node, args, kwargs):
    scale = _float8_scale(ctx, node)
    q = ctx.net.add_quantize(args[0], scale, None, dtype=torch.float8_e4m3fn, name=ctx.name("_q"))
    return ctx.net.add_dequantize(q, scale, None, dtype=ctx.out_dtype(), name=ctx.name(), scale_source=scale_source(node))


@converter(tops.dequantize_float8.default, capability=_float8_constant_scale)
def tensorforge_dequantize_float8(ctx, node, args, kwargs):
    return ctx.net.add_dequantize(args[0], _float8_scale(ctx, node), None, dtype=ctx.out_dtype(), name=ctx.name(),
                                  scale_source=scale_source(node))


@converter(qd.quantize_per_channel.default, capability=_supported)
def quantized_decomposed_quantize_per_channel(ctx, node, args, kwargs):
    return _quantize(ctx, node, args, args[3])


@converter(qd.dequantize_per_channel.default, capability=_supported)
def quantized_decomposed_dequantize_per_channel(ctx, node, args, kwargs):
    return _dequantize(ctx, node, args, kwargs, args[3])
