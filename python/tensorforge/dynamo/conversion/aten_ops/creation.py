"""Converters of creation ops of a static shape (full, full_like, zeros_like, ones_like,
scalar_tensor, arange.start_step), dtype casts (_to_copy on the same device, with its
_assert_tensor_metadata guard), the functional copy (aten.copy: src broadcast to self's shape
and dtype) and native_dropout in eval mode. empty* ops stay in PyTorch."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.impl import creation
from tensorforge.dynamo.conversion.registry import converter
from tensorforge.dynamo.conversion.sym_sizes import size_node

aten = torch.ops.aten

_KEPT_FORMATS = (None, torch.preserve_format, torch.contiguous_format)


def _on_engine_device(node, settings) -> bool:
    """The node creates a strided tensor on the device the engines run on (settings.device, which
    the backend sets to the graph's device; the CPU when unset)."""
    device = node.kwargs.get("device")
    layout = node.kwargs.get("layout")
    engine = torch.device(settings.device) if settings is not None and settings.device is not None else None
    engine_type = engine.type if engine is not None else "cpu"
    return (device is None or torch.device(device).type == engine_type) and layout in (None, torch.strided)


def _number(v) -> bool:
    return isinstance(v, (bool, int, float))



def _full_capability(node, settings) -> bool:
    return _on_engine_device(node, settings) and _number(node.args[1]) and node.kwargs.get("memory_format") in _KEPT_FORMATS


@converter(aten.full.default, aten.full_like.default, capability=_full_capability)
def aten_ops_full(ctx, node, args, kwargs):
    return creation.full(ctx, ctx.val(node).shape, args[1])


def _like_capability(node, settings) -> bool:
    return _on_engine_device(node, settings) and node.kwargs.get("memory_format") in _KEPT_FORMATS


@converter(aten.zeros_like.default, capability=_like_capability)
def aten_ops_zeros_like(ctx, node, args, kwargs):
    return creation.full(ctx, ctx.val(node).shape, 0)


@converter(aten.ones_like.default, capability=_like_capability)
def aten_ops_ones_like(ctx, node, args, kwargs):
    return creation.full(ctx, ctx.val(node).shape, 1)


@converter(aten.scalar_tensor.default,
           capability=lambda node, settings: _on_engine_device(node, settings) and _number(node.args[0]))
def aten_ops_scalar_tensor(ctx, node, args, kwargs):
    return creation.full(ctx, (), args[0])


def _arange_capability(node, settings) -> bool:
    """Number bounds, or (dynamo's dynamic shapes) an end that is a size: the length is the node's."""
    bounds = list(node.args[:3]) + ([node.kwargs["step"]] if "step" in node.kwargs else [])
    numbers = [v for i, v in enumerate(bounds) if not (i == 1 and size_node(v))]
    return (_on_engine_device(node, settings) and all(_number(v) and creation.exact_as_double(v) for v in numbers)
            and node.meta["val"].dtype != torch.bool)


@converter(aten.arange.start_step, capability=_arange_capability)
def aten_ops_arange(ctx, node, args, kwargs):
    return creation.arange(ctx, args[0], kwargs.get("step", args[2] if len(args) > 2 else 1))


def _to_copy_capability(node, settings) -> bool:
    """A dtype change on the input's device; other layouts and memory formats stay in PyTorch."""
    device = node.kwargs.get("device")
    same_device = device is None or torch.device(device) == node.args[0].meta["val"].device
    return (same_device and node.kwargs.get("layout") in (None, torch.strided)
            and node.kwargs.get("memory_format") in _KEPT_FORMATS)


@converter(aten._to_copy.default, capability=_to_copy_capability)
def aten_ops_to_copy(ctx, node, args, kwargs):
    return creation.cast(ctx, args[0])


def _copy_capability(node, settings) -> bool:
    """A copy between tensors on one device (self's values are not read, only its shape and dtype)."""
    dst, src = (a.meta.get("val") if hasattr(a, "meta") else None for a in node.args[:2])
    return isinstance(dst, torch.Tensor) and isinstance(src, torch.Tensor) and dst.device == src.device


@converter(aten.copy.default, capability=_copy_capability)
def aten_ops_copy(ctx, node, args, kwargs):
    """copy(self, src): src cast to self's dtype and broadcast to self's shape (trailing dims aligned)."""
    shape = list(ctx.val(node).shape)
    src = ctx.val(node.args[1])
    y = creation.cast(ctx, args[1])
    if list(src.shape) != shape:
        if src.dim() < len(shape):
            y = ctx.net.add_reshape(y, [1] * (len(shape) - src.dim()) + list(src.shape), name=ctx.name("_rank"))
        y = ctx.net.add_expand(y, shape, name=ctx.name("_expand"))
    return y


@converter(aten._assert_tensor_metadata.default)
def aten_ops_assert_tensor_metadata(ctx, node, args, kwargs):
    """The dtype guard aten puts before a cast: inside an engine every dtype is fixed when it is
    built (from the same example values the guard checks), so it adds no layer."""
    return None


@converter(aten.native_dropout.default, capability=lambda node, settings: _arg_train(node) is False)
def aten_ops_native_dropout(ctx, node, args, kwargs):
    """Eval-mode dropout: the input and an all-true mask."""
    x = args[0]
    mask = ctx.net.add_fill(list(ctx.val(node)[1].shape), 1.0, "bool", name=ctx.name("_mask"))
    return x, mask


def _arg_train(node):
    return node.kwargs.get("train", node.args[2] if len(node.args) > 2 else None)
