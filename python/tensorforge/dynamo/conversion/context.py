"""ConversionContext: what a converter gets besides its node — the network being built, the
settings, and helpers for constants, casts and dtype promotion under the settings' precision and
truncation rules.

Dtype rules inside an engine:
- float64 runs as float32 when truncate_long_and_double is set (otherwise it stays in PyTorch);
- int64 runs as int32 when truncate_long_and_double is set (otherwise natively);
- float32 runs in float16 (or bfloat16) when that precision is enabled in enabled_precisions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx import Node

import tensorforge as tf
from tensorforge.dynamo.conversion.sym_sizes import symbolic
from tensorforge.engine_api import as_dtype

_TF_TO_TORCH = {
    tf.DataType.float32: torch.float32, tf.DataType.float16: torch.float16, tf.DataType.bfloat16: torch.bfloat16,
    tf.DataType.int8: torch.int8, tf.DataType.int32: torch.int32, tf.DataType.int64: torch.int64,
    tf.DataType.bool: torch.bool, tf.DataType.uint8: torch.uint8,
}
ENGINE_DTYPES = frozenset(_TF_TO_TORCH.values())


def compute_dtype(dtype: torch.dtype, settings) -> torch.dtype:
    """The dtype a tensor of `dtype` has inside an engine built under `settings`."""
    if dtype == torch.float64 and settings.truncate_long_and_double:
        dtype = torch.float32
    if dtype == torch.int64 and settings.truncate_long_and_double:
        return torch.int32
    if dtype == torch.float32:
        if torch.float16 in settings.enabled_precisions:
            return torch.float16
        if torch.bfloat16 in settings.enabled_precisions:
            return torch.bfloat16
    return dtype


def engine_representable(dtype: torch.dtype, settings) -> bool:
    """True if tensors of `dtype` can live in an engine under `settings`."""
    return dtype in ENGINE_DTYPES or (dtype == torch.float64 and settings.truncate_long_and_double)


class ConversionContext:
    """State shared by the converters of one engine."""

    def __init__(self, net: tf.Network, settings) -> None:
        self.net = net
        self.settings = settings
        self.node: Node | None = None
        # constant nodes (get_attr, frozen placeholders) -> their values, for converters that need them as they are
        self.attr_values: dict[Node, Any] = {}

    # -- naming and metadata ------------------------------------------------------------------
    def name(self, suffix: str = "") -> str:
        """A layer name derived from the node being converted."""
        return f"{self.node.name}{suffix}" if self.node is not None else suffix

    @staticmethod
    def val(node: Any):
        """The example value (FakeTensor or tensor) recorded for an FX node."""
        return node.meta.get("val") if isinstance(node, Node) else None

    def out_dtype(self) -> torch.dtype:
        """The engine dtype of the current node's (first) output."""
        v = self.val(self.node)
        v = v[0] if isinstance(v, (tuple, list)) else v
        return self.dtype_of(v.dtype)

    def dtype_of(self, dtype: torch.dtype) -> torch.dtype:
        return compute_dtype(dtype, self.settings)

    @staticmethod
    def torch_dtype(t: tf.Tensor) -> torch.dtype:
        """The torch dtype of an engine tensor."""
        return _TF_TO_TORCH[t.dtype]

    # -- building blocks ----------------------------------------------------------------------
    def const(self, value: Any, dtype: torch.dtype | None = None, name: str = "") -> tf.Tensor:
        """A constant from a Python number, list or tensor, converted to the engine dtype of `dtype`
        (default: the value's own dtype)."""
        if isinstance(value, torch.SymInt) and symbolic(value):  # a size (x % seq_len): its value per call
            return self._size_value(value, dtype, name)
        t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        t = t.to(self.dtype_of(dtype if dtype is not None else t.dtype)).cpu().contiguous()
        return self.net.add_constant(t, name or self.name("_const"))

    def _size_value(self, value: torch.SymInt, dtype: torch.dtype | None, name: str) -> tf.Tensor:
        """A 0-d tensor holding size `value` as the call binds it (the count of a fill of that many
        ones: the engine's layers take sizes as extents, not as values); a constant of the traced
        value would fix the size (torch.as_tensor guards on it)."""
        ones = self.net.add_fill([value], 1, torch.int64, name=(name or self.name("_size")) + "_ones")
        total = self.net.add_reduce(ones, "sum", [0], keepdim=False, name=name or self.name("_size"))
        return self.cast(total, self.dtype_of(dtype if dtype is not None else torch.int64))

    def cast(self, t: tf.Tensor, dtype: torch.dtype) -> tf.Tensor:
        """`t` converted to `dtype` (no layer when it already is)."""
        if self.torch_dtype(t) == dtype:
            return t
        return self.net.add_cast(t, as_dtype(dtype), name=self.name("_cast"))

    def as_tensor(self, x: Any, dtype: torch.dtype) -> tf.Tensor:
        """An engine tensor of `dtype` from an engine tensor (cast if needed) or a Python scalar."""
        if isinstance(x, tf.Tensor):
            return self.cast(x, dtype)
        return self.const(x, dtype)

    def promote(self, *xs: Any, dtype: torch.dtype) -> list[tf.Tensor]:
        """Every operand as an engine tensor of `dtype`."""
        return [self.as_tensor(x, dtype) for x in xs]
