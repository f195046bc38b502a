"""The torch.compile backend: `torch.compile(model, backend="tensorforge", options={...})`."""

from tensorforge.dynamo import conversion  # noqa: F401  (registers the converters)
from tensorforge.dynamo.backend import COMPILED, REPORTS, STATS, reports_since, tensorforge_backend
from tensorforge.dynamo.settings import CompilationSettings

__all__ = ["COMPILED", "CompilationSettings", "REPORTS", "STATS", "engine_modules", "reports_since",
           "tensorforge_backend"]


def engine_modules(gm=None):
    """The EngineModules and DynamicEngineModules of a stitched graph (default: the most recently
    compiled one, if it is still alive)."""
    from tensorforge.dynamo.runtime.dynamic_engine_module import DynamicEngineModule
    from tensorforge.dynamo.runtime.engine_module import EngineModule

    if gm is None:
        gm = COMPILED[-1]() if COMPILED else None
        if gm is None:
            return []
    return [m for m in gm.children() if isinstance(m, (EngineModule, DynamicEngineModule))]
