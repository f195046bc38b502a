"""Converters of padding (constant_pad_nd, reflection_pad1d/2d/3d, replication_pad1d/2d/3d) and
resizing (upsample_linear1d, upsample_trilinear3d, and tensorforge::interpolate, the custom op that
F.interpolate calls become before tracing, since the trace would decompose nearest and bilinear
upsampling)."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import resize_pad
from tensorforge.dynamo.lowering import custom_ops  # noqa: F401  (defines tensorforge::interpolate)
from tensorforge.dynamo.conversion.impl.nn_common import all_ints, arg, is_float, node_arg, val
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _constant_pad_ok(node, settings) -> bool:
    if not all_ints(node.args[1]):
        return False
    value = node_arg(node, 2, "value", 0)
    dtype = val(node.args[0]).dtype
    if dtype.is_floating_point:
        return True
    if dtype == torch.bool:
        return value in (0, 1)
    info = torch.iinfo(dtype)
    return float(value).is_integer() and info.min <= value <= info.max


@converter(aten.constant_pad_nd.default, capability=_constant_pad_ok)
def aten_ops_constant_pad_nd(ctx, node, args, kwargs):
    return resize_pad.pad(ctx, args[0], args[1], "constant", arg(args, kwargs, 2, "value", 0))


def _mode_pad_ok(node, settings) -> bool:
    """Non-negative int pads (the engine crops in constant mode only) of a float or int (not bool) input."""
    return all_ints(node.args[1]) and all(p >= 0 for p in node.args[1]) and val(node.args[0]).dtype != torch.bool


@converter(aten.reflection_pad1d.default, aten.reflection_pad2d.default, aten.reflection_pad3d.default,
           capability=_mode_pad_ok)
def aten_ops_reflection_pad(ctx, node, args, kwargs):
    return resize_pad.pad(ctx, args[0], args[1], "reflect")


@converter(aten.replication_pad1d.default, aten.replication_pad2d.default, aten.replication_pad3d.default,
           capability=_mode_pad_ok)
def aten_ops_replication_pad(ctx, node, args, kwargs):
    return resize_pad.pad(ctx, args[0], args[1], "replicate")


def _resize_ok(nd: int):
    def ok(node, settings) -> bool:
        x = node.args[0]
        return is_float(x) and len(val(x).shape) == nd + 2 and all_ints(node.args[1])
    return ok


@converter(aten.upsample_linear1d.default, capability=_resize_ok(1))
def aten_ops_upsample_linear1d(ctx, node, args, kwargs):
    return resize_pad.resize(ctx, args[0], args[1], "linear", args[2], [arg(args, kwargs, 3, "scales", None)])


@converter(aten.upsample_trilinear3d.default, capability=_resize_ok(3))
def aten_ops_upsample_trilinear3d(ctx, node, args, kwargs):
    scales = [arg(args, kwargs, 3 + i, name, None) for i, name in enumerate(("scales_d", "scales_h", "scales_w"))]
    return resize_pad.resize(ctx, args[0], args[1], "linear", args[2], scales)


def _interpolate_ok(node, settings) -> bool:
    x, mode = node.args[0], node.args[3]
    return is_float(x) and mode in ("nearest", "linear", "bilinear", "trilinear") and not (
        mode == "nearest" and node.args[4])


@converter(torch.ops.tensorforge.interpolate.default, capability=_interpolate_ok)
def tensorforge_ops_interpolate(ctx, node, args, kwargs):
    x, size, scale, mode, align_corners = args
    sizes = list(val(node).shape[2:])
    mode = "nearest" if mode == "nearest" else "linear"
    return resize_pad.resize(ctx, x, sizes, mode, bool(align_corners), scale if size is None else [None] * len(sizes))
