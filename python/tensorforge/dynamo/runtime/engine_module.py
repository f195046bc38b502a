"""EngineModule: the torch.nn.Module that replaces an accelerated block in the stitched graph.

The default call path checks the inputs' devices, dtypes and shapes here, allocates the outputs
(outputs of one shape and dtype from one allocation) and hands the C++ execution context their
addresses (one call, no array conversion per tensor),
which runs the engine into them. CUDA engines run on PyTorch's
current stream of the engine's device, captured as a CUDA graph on the first call and replayed
after (see ExecutionContext.set_cuda_graphs). Each call takes its own execution context from a pool,
so one compiled model may be called from several threads at once. With use_python_runtime the
same checks happen in Python and the engine runs on raw addresses: identical results, easier to
step through. Inputs the engine holds in another dtype (float64 truncated to float32) and outputs
it cannot hold are converted here.
"""

from __future__ import annotations

import math

import torch

import tensorforge as tf
from tensorforge.context_pool import ContextPool
from tensorforge.errors import InvalidArgumentError
from tensorforge.dynamo.runtime.io_spec import IOSpec


class EngineModule(torch.nn.Module):
    """Runs one engine; positional inputs in the order of `inputs`. Outputs of one shape and dtype
    share one allocation unless `separate_outputs` (a custom op's outputs must not alias)."""

    def __init__(self, engine: tf.Engine, inputs: list[IOSpec], outputs: list[IOSpec], name: str,
                 use_python_runtime: bool = False, single_output: bool = False,
                 device: torch.device = torch.device("cpu"), separate_outputs: bool = False,
                 in_place: dict[int, int] | None = None) -> None:
        super().__init__()
        # {output: input}: outputs written into their input's memory (dynamo/written_inputs.py), where
        # the input is as the engine takes it (its dtype, contiguous); the others are allocated.
        self.in_place = {k: j for k, j in (in_place or {}).items()
                         if inputs[j].engine_dtype == inputs[j].model_dtype == outputs[k].engine_dtype ==
                         outputs[k].model_dtype and tuple(inputs[j].shape) == tuple(outputs[k].shape)}
        self.device = device
        self.engine = engine
        self.inputs = inputs
        self.outputs = outputs
        self.block_name = name
        self.use_python_runtime = use_python_runtime
        self.single_output = single_output
        self._contexts = ContextPool(engine._engine)  # one context per call in flight: thread-safe
        self._converts_outputs = any(s.engine_dtype != s.model_dtype for s in outputs)
        self.separate_outputs = separate_outputs
        self._output_groups = _output_groups(outputs, separate_outputs, set(self.in_place))

    def _check(self, args) -> list[torch.Tensor]:
        if len(args) != len(self.inputs):
            raise InvalidArgumentError(f"engine {self.block_name} takes {len(self.inputs)} inputs, got {len(args)}")
        prepared = []
        for a, spec in zip(args, self.inputs):
            if not isinstance(a, torch.Tensor):
                raise InvalidArgumentError(f"engine {self.block_name} input '{spec.name}' must be a tensor, got {type(a).__name__}")
            if a.device != self.device:
                raise InvalidArgumentError(f"engine {self.block_name} runs on {self.device}; input '{spec.name}' is on "
                                 f"{a.device}")
            if a.dtype != spec.model_dtype or tuple(a.shape) != spec.shape:
                raise InvalidArgumentError(f"engine {self.block_name} input '{spec.name}' expects {spec.model_dtype} "
                                 f"{list(spec.shape)}, got {a.dtype} {list(a.shape)}")
            if spec.engine_dtype != spec.model_dtype:
                a = a.to(spec.engine_dtype)
            prepared.append(a.contiguous())
        return prepared

    def forward(self, *args):
        ins = self._check(args)
        device = self.device
        outs = self._allocate_outputs(device)
        for k, j in self.in_place.items():  # the input itself where _check kept it, else a new tensor
            outs[k] = ins[j] if ins[j] is args[j] else torch.empty_like(ins[j])
        ctx = self._contexts.acquire()
        try:
            if device.type == "cuda":
                if torch.cuda.current_device() == device.index:
                    self._run_on_stream(ctx, ins, outs)
                else:
                    with torch.cuda.device(device):
                        self._run_on_stream(ctx, ins, outs)
            else:
                self._execute(ctx, ins, outs)
        finally:
            self._contexts.release(ctx)
        if self._converts_outputs:
            outs = [t if s.engine_dtype == s.model_dtype else t.to(s.model_dtype) for t, s in zip(outs, self.outputs)]
        return outs[0] if self.single_output else tuple(outs)

    def _allocate_outputs(self, device: torch.device) -> list[torch.Tensor]:
        # Outputs of one shape and dtype come from one allocation (GPT-2's 24 key/value tensors: one
        # torch.empty and one unbind instead of 24 allocations, a host cost of several microseconds
        # each on CUDA); each is still a contiguous tensor of its own.
        outs: list = [None] * len(self.outputs)
        for shape, dtype, slots in self._output_groups:  # (outputs written in place are in none)
            if len(slots) == 1:
                outs[slots[0]] = torch.empty(shape, dtype=dtype, device=device)
            else:
                for slot, t in zip(slots, torch.empty((len(slots), *shape), dtype=dtype, device=device).unbind(0)):
                    outs[slot] = t
        return outs

    def _run_on_stream(self, ctx, ins, outs) -> None:
        # PyTorch's current stream: the engine's work orders with the caller's.
        ctx.set_stream(_raw_stream(self.device))
        self._execute(ctx, ins, outs)

    def _execute(self, ctx, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> None:
        if self.use_python_runtime:
            for t, spec in zip(ins, self.inputs):
                ctx.set_tensor_address(spec.name, t.data_ptr())
            for t, spec in zip(outs, self.outputs):
                ctx.set_tensor_address(spec.name, t.data_ptr())
            ctx.execute()
        else:
            # _check made every input contiguous on this device in the engine's dtype and shape, and
            # the outputs were just allocated so: the engine takes their addresses as they are.
            ctx.execute_addresses([t.data_ptr() for t in ins], [t.data_ptr() for t in outs])

    def extra_repr(self) -> str:
        return f"{self.block_name}: {self.engine.nb_layers} layers, {len(self.inputs)} inputs, {len(self.outputs)} outputs"


_GROUP_ALIGNMENT = 256  # bytes: each output of a group starts as aligned as the engine's own buffers


def _output_groups(outputs: list[IOSpec], separate: bool, skip: set[int] = frozenset()) \
        -> list[tuple[tuple, torch.dtype, list[int]]]:
    """(shape, engine dtype, output slots) per allocation: slots of one shape and dtype together when
    each output's size keeps the next one's start aligned (and not `separate`), else one slot each;
    the slots in `skip` in none."""
    groups: dict = {}
    order = []
    for i, o in enumerate(outputs):
        if i in skip:
            continue
        shape = tuple(o.shape)
        nbytes = math.prod(shape) * o.engine_dtype.itemsize
        key = (shape, o.engine_dtype) if nbytes and nbytes % _GROUP_ALIGNMENT == 0 and not separate else ("single", i)
        if key not in groups:
            groups[key] = (shape, o.engine_dtype, [])
            order.append(key)
        groups[key][2].append(i)
    return [groups[k] for k in order]


def _raw_stream(device: torch.device) -> int:
    """The address of PyTorch's current stream on `device` (the raw handle that inductor's generated
    code reads too: no Stream object per call), or through the public API where that is missing."""
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if raw is not None:
        return raw(device.index if device.index is not None else torch.cuda.current_device())
    return torch.cuda.current_stream(device).cuda_stream
