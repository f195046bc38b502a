"""The torch.compile backend: `torch.compile(model, backend="tensorforge", options={...})`."""

from tensorforge.dynamo import conversion  # noqa: F401  (registers the converters)
from tensorforge.dynamo.backend import COMPILED, REPORTS, STATS, tensorforge_backend
from tensorforge.dynamo.settings import CompilationSettings

__all__ = ["COMPILED", "CompilationSettings", "REPORTS", "STATS", "engine_modules", "tensorforge_backend"]


def engine_modules(gm=None):
    """The EngineModules of a stitched graph (default: the most recently compiled one)."""
    from tensorforge.dynamo.runtime.engine_module import EngineModule

    gm = gm if gm is not None else COMPILED[-1]
    return [m for m in gm.children() if isinstance(m, EngineModule)]
