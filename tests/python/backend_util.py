"""Helpers for the torch.compile backend tests: compile with fresh dynamo state, and read back what
was built (reports, engine modules, build counts)."""

import torch
import torch._dynamo

from tensorforge.dynamo import STATS, engine_modules, reports_since


def compile_model(model, options=None, dynamic=False):
    torch._dynamo.reset()
    return torch.compile(model, backend="tensorforge", dynamic=dynamic, options=options or {})


class Watch:
    """Counts graphs compiled and engines built while it is active; keeps the new reports."""

    def __enter__(self):
        self.graphs0, self.engines0 = STATS["graphs"], STATS["engines"]
        return self

    def __exit__(self, *exc):
        return False

    @property
    def graphs(self):
        return STATS["graphs"] - self.graphs0

    @property
    def engines(self):
        return STATS["engines"] - self.engines0

    @property
    def reports(self):
        return reports_since(self.graphs0)


def kept_ops(report):
    """The ATen ops of a report's nodes kept in PyTorch, as a sorted list of names."""
    return sorted(k["op"] for k in report.kept_in_pytorch)


__all__ = ["Watch", "compile_model", "engine_modules", "kept_ops"]
