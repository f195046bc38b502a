"""How PyTorch sees one engine input or output (the runtime modules, the engine cache and saved
programs share it; a light module, so that loading a saved program imports no conversion code)."""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class IOSpec:
    """One engine input or output as PyTorch sees it: the model dtype and the engine dtype."""
    name: str
    shape: tuple
    model_dtype: torch.dtype
    engine_dtype: torch.dtype

    def to_list(self) -> list:
        """[name, shape, model dtype, engine dtype] with the dtypes by name: a JSON value."""
        return [self.name, list(self.shape), str(self.model_dtype).removeprefix("torch."),
                str(self.engine_dtype).removeprefix("torch.")]

    @staticmethod
    def from_list(v) -> "IOSpec":
        """The inverse of to_list, for values read from files (ValueError when malformed)."""
        if not isinstance(v, (list, tuple)) or len(v) != 4:
            raise ValueError("malformed input or output")
        name, shape, model, engine = v
        if not isinstance(name, str) or not isinstance(shape, list) or \
                not all((isinstance(d, int) and not isinstance(d, bool) and d >= 0) or isinstance(d, str) for d in shape):
            raise ValueError("malformed input or output")  # a str is a dynamic engine's size expression
        if not isinstance(model, str) or not isinstance(engine, str):
            raise ValueError("malformed dtype")
        model_dtype, engine_dtype = getattr(torch, model, None), getattr(torch, engine, None)
        if not isinstance(model_dtype, torch.dtype) or not isinstance(engine_dtype, torch.dtype):
            raise ValueError("malformed dtype")
        return IOSpec(name, tuple(shape), model_dtype, engine_dtype)
