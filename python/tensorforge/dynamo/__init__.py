"""The torch.compile backend: `torch.compile(model, backend="tensorforge", options={...})`.

Its names (and its submodules: conversion, lowering, partitioning, ...) are imported on first use,
so that the runtime's modules (tensorforge.dynamo.runtime, what tensorforge.load needs) come without
the conversion and lowering code; importing the backend registers every converter."""

from __future__ import annotations

import importlib
import importlib.util

__all__ = ["COMPILED", "CompilationSettings", "REPORTS", "STATS", "engine_modules", "reports_since",
           "tensorforge_backend"]

_LAZY = {"COMPILED": "backend", "REPORTS": "backend", "STATS": "backend", "reports_since": "backend",
         "tensorforge_backend": "backend", "CompilationSettings": "settings"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def engine_modules(gm=None):
    """The EngineModules and DynamicEngineModules of a stitched graph (default: the most recently
    compiled one, if it is still alive)."""
    from tensorforge.dynamo.backend import COMPILED
    from tensorforge.dynamo.runtime.dynamic_engine_module import DynamicEngineModule
    from tensorforge.dynamo.runtime.engine_module import EngineModule

    if gm is None:
        gm = COMPILED[-1]() if COMPILED else None
        if gm is None:
            return []
    return [m for m in gm.children() if isinstance(m, (EngineModule, DynamicEngineModule))]
