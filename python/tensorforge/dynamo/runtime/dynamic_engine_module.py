"""DynamicEngineModule: the torch.nn.Module that replaces an accelerated block with symbolic sizes.

It runs one tf.DynamicEngine (docs/dynamic_shapes.md). Each distinct set of input shapes gets an
EngineModule over the plan for those shapes, made on the first call with them and kept among the
`max_plans` most recently used: the plan's kernels, arena, execution contexts and (CUDA) captured
graph belong to that shape, so a shape seen before runs exactly as a static engine does. Shapes
outside the sizes' ranges raise InvalidArgumentError naming the input, dim and range (dynamo's
guards keep torch.compile's calls inside them). Threads may call it at once.
"""

from __future__ import annotations

import collections
import threading

import torch

import tensorforge as tf
from tensorforge.errors import InvalidArgumentError
from tensorforge.dynamo.runtime.io_spec import IOSpec
from tensorforge.dynamo.runtime.engine_module import EngineModule


class DynamicEngineModule(torch.nn.Module):
    """Runs one DynamicEngine; positional inputs in the order of `inputs`, whose shapes give each
    symbolic extent as the text of its size expression."""

    def __init__(self, engine: tf.DynamicEngine, inputs: list[IOSpec], outputs: list[IOSpec], name: str,
                 use_python_runtime: bool = False, single_output: bool = False,
                 device: torch.device = torch.device("cpu"), max_plans: int = 16,
                 separate_outputs: bool = False, in_place: dict[int, int] | None = None) -> None:
        super().__init__()
        self.in_place = dict(in_place or {})  # {output: input} written in place (EngineModule)
        self.engine = engine
        self.inputs, self.outputs = inputs, outputs
        self.block_name = name
        self.use_python_runtime = use_python_runtime
        self.single_output = single_output
        self.device = device
        self.max_plans = max_plans
        self.separate_outputs = separate_outputs
        self._plans: collections.OrderedDict = collections.OrderedDict()  # input shapes -> EngineModule
        self._lock = threading.Lock()

    def forward(self, *args):
        if len(args) != len(self.inputs):
            raise InvalidArgumentError(f"engine {self.block_name} takes {len(self.inputs)} inputs, got {len(args)}")
        for a, spec in zip(args, self.inputs):
            if not isinstance(a, torch.Tensor):
                raise InvalidArgumentError(f"engine {self.block_name} input '{spec.name}' must be a tensor, got "
                                           f"{type(a).__name__}")
        key = tuple(tuple(a.shape) for a in args)
        module = self._plans.get(key)
        if module is None:
            module = self._plan(key)
        elif len(self._plans) > 1:
            try:
                self._plans.move_to_end(key)  # most recently used (one call, atomic under the GIL)
            except KeyError:
                pass  # dropped by another thread meanwhile: this call still runs it
        return module(*args)

    def _plan(self, key: tuple) -> EngineModule:
        """The EngineModule of these input shapes (built outside the lock, as the engine's plans are)."""
        plan = self.engine.plan(*key)  # raises for shapes outside the sizes' ranges
        with self._lock:
            module = self._plans.get(key)
            if module is not None:
                self._plans.move_to_end(key)
                return module
            io = plan.io_tensors
            ins = [IOSpec(s.name, shape, s.model_dtype, s.engine_dtype) for s, shape in zip(self.inputs, key)]
            outs = [IOSpec(s.name, tuple(t.shape), s.model_dtype, s.engine_dtype)
                    for s, t in zip(self.outputs, [t for t in io if not t.is_input])]
            module = EngineModule(plan, ins, outs, self.block_name, self.use_python_runtime,
                                  single_output=self.single_output, device=self.device,
                                  separate_outputs=self.separate_outputs, in_place=self.in_place)
            self._plans[key] = module
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
            return module

    @property
    def plans_kept(self) -> int:
        """Input shapes with a plan kept now."""
        return len(self._plans)

    def extra_repr(self) -> str:
        sizes = ", ".join(f"{n} {lo}..{hi} (opt {opt})" for n, (lo, opt, hi) in self.engine.sizes.items())
        return f"{self.block_name}: sizes {sizes}, {len(self.inputs)} inputs, {len(self.outputs)} outputs"
