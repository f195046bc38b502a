"""The torch.compile backend: `torch.compile(model, backend="tensorforge", options={...})`."""

from tensorforge.dynamo import conversion  # noqa: F401  (registers the converters)
from tensorforge.dynamo.backend import REPORTS, STATS, tensorforge_backend
from tensorforge.dynamo.settings import CompilationSettings

__all__ = ["CompilationSettings", "REPORTS", "STATS", "tensorforge_backend"]
