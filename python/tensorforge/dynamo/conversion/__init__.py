"""Conversion of ATen nodes into engine layers; importing this registers every converter."""

from tensorforge.dynamo.lowering import custom_ops  # noqa: F401  (defines tensorforge::sdpa first)
from tensorforge.dynamo.conversion import aten_ops  # noqa: F401
from tensorforge.dynamo.conversion.registry import CONVERTERS, converter

__all__ = ["CONVERTERS", "converter"]
