"""The converter registry: ATen OpOverload -> function that adds engine layers for one FX node.

Converters register with the `converter` decorator, keyed on exact OpOverloads, optionally with a
capability validator (node, settings) -> bool that says whether this particular node (its dtypes,
arguments) can be converted. The partitioner asks only this registry what is supported.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch.fx import Node

Capability = Callable[[Node, "object"], bool]


@dataclasses.dataclass(frozen=True)
class ConverterEntry:
    target: torch._ops.OpOverload
    fn: Callable
    capability: Capability | None


class ConverterRegistry:
    """OpOverload -> ConverterEntry; one global instance, CONVERTERS."""

    def __init__(self) -> None:
        self._entries: dict[torch._ops.OpOverload, ConverterEntry] = {}

    def register(self, target: torch._ops.OpOverload, fn: Callable, capability: Capability | None = None) -> None:
        if not isinstance(target, torch._ops.OpOverload):
            raise TypeError(f"converters are keyed on OpOverloads, got {target!r}")
        if target in self._entries:
            raise ValueError(f"a converter for {target} is already registered")
        self._entries[target] = ConverterEntry(target, fn, capability)

    def get(self, target) -> ConverterEntry | None:
        """The entry for `target`, or None."""
        return self._entries.get(target) if isinstance(target, torch._ops.OpOverload) else None

    def accepts(self, node: Node, settings) -> bool:
        """True if a converter exists for the node's target and its validator accepts the node."""
        entry = self.get(node.target)
        return entry is not None and (entry.capability is None or bool(entry.capability(node, settings)))

    def __contains__(self, target) -> bool:
        return self.get(target) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def supported_ops(self) -> list[str]:
        """Names of every supported overload, sorted ("aten.add.Tensor", ...)."""
        return sorted(str(t) for t in self._entries)


CONVERTERS = ConverterRegistry()


def converter(*targets: torch._ops.OpOverload, capability: Capability | None = None):
    """Registers the decorated function as the converter of every OpOverload in `targets`."""

    def wrap(fn):
        for t in targets:
            CONVERTERS.register(t, fn, capability)
        return fn

    return wrap
