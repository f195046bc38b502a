"""EngineModule: the torch.nn.Module that replaces an accelerated block in the stitched graph.

The default call path hands the input tensors to the C++ execution context, which checks their
dtypes and shapes and runs the engine into freshly allocated outputs. CUDA engines run on PyTorch's
current stream of the engine's device, captured as a CUDA graph on the first call and replayed
after (see ExecutionContext.set_cuda_graphs). With use_python_runtime the
same checks happen in Python and the engine runs on raw addresses: identical results, easier to
step through. Inputs the engine holds in another dtype (float64 truncated to float32) and outputs
it cannot hold are converted here.
"""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.interpreter import IOSpec


class EngineModule(torch.nn.Module):
    """Runs one engine; positional inputs in the order of `inputs`."""

    def __init__(self, engine: tf.Engine, inputs: list[IOSpec], outputs: list[IOSpec], name: str,
                 use_python_runtime: bool = False, single_output: bool = False,
                 device: torch.device = torch.device("cpu")) -> None:
        super().__init__()
        self.device = device
        self.engine = engine
        self.inputs = inputs
        self.outputs = outputs
        self.block_name = name
        self.use_python_runtime = use_python_runtime
        self.single_output = single_output
        self._ctx = engine._engine.create_execution_context()
        self.calls = 0

    def _check(self, args) -> list[torch.Tensor]:
        if len(args) != len(self.inputs):
            raise ValueError(f"engine {self.block_name} takes {len(self.inputs)} inputs, got {len(args)}")
        prepared = []
        for a, spec in zip(args, self.inputs):
            if not isinstance(a, torch.Tensor):
                raise TypeError(f"engine {self.block_name} input '{spec.name}' must be a tensor, got {type(a).__name__}")
            if a.device != self.device:
                raise ValueError(f"engine {self.block_name} runs on {self.device}; input '{spec.name}' is on "
                                 f"{a.device}")
            if a.dtype != spec.model_dtype or tuple(a.shape) != spec.shape:
                raise ValueError(f"engine {self.block_name} input '{spec.name}' expects {spec.model_dtype} "
                                 f"{list(spec.shape)}, got {a.dtype} {list(a.shape)}")
            if spec.engine_dtype != spec.model_dtype:
                a = a.to(spec.engine_dtype)
            prepared.append(a.contiguous())
        return prepared

    def forward(self, *args):
        self.calls += 1
        ins = self._check(args)
        outs = [torch.empty(o.shape, dtype=o.engine_dtype, device=self.device) for o in self.outputs]
        if self.device.type == "cuda":
            with torch.cuda.device(self.device):
                # PyTorch's current stream: the engine's work orders with the caller's.
                self._ctx.set_stream(torch.cuda.current_stream(self.device).cuda_stream)
                self._execute(ins, outs)
        else:
            self._execute(ins, outs)
        outs = [t if s.engine_dtype == s.model_dtype else t.to(s.model_dtype) for t, s in zip(outs, self.outputs)]
        return outs[0] if self.single_output else tuple(outs)

    def _execute(self, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> None:
        if self.use_python_runtime:
            for t, spec in zip(ins, self.inputs):
                self._ctx.set_tensor_address(spec.name, t.data_ptr())
            for t, spec in zip(outs, self.outputs):
                self._ctx.set_tensor_address(spec.name, t.data_ptr())
            self._ctx.execute()
        else:
            self._ctx.execute_arrays(ins, outs)

    def extra_repr(self) -> str:
        return f"{self.block_name}: {self.engine.nb_layers} layers, {len(self.inputs)} inputs, {len(self.outputs)} outputs"
