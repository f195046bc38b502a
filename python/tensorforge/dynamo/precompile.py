"""The backend's part in dynamo's precompile cache (`torch._dynamo.config.caching_precompile`, an
experimental PyTorch feature; docs/backend.md, "Skipping dynamo's tracing").

With it on, dynamo keeps each compiled frame's bytecode and guards, and asks every backend for an
artifact of each graph it compiled; `torch.compiler.save_cache_artifacts()` writes both to
PyTorch's cache folder, and a later process that compiles the same function reads them back instead
of tracing. For TensorForge the artifact is the dynamo graph itself (pickled, as PyTorch pickles its
own cache entries), the backend's options and which graph inputs are module state: the engines are
not in it. Restored, the graph is compiled by the backend on its first call, with that call's
tensors as the example inputs (so its engines come from the engine cache when one is on, and its
trace from the trace cache); a graph with symbolic sizes gets static engines per input shape there.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import threading

import torch

from tensorforge.dynamo.lowering.freeze import RESTORED, STATE, frozen_positions, scalar_positions
from tensorforge.dynamo.precompile_save import mend_recorded_entries, save_cache_artifacts  # noqa: F401 - this API

logger = logging.getLogger("tensorforge")

FORMAT = "tensorforge precompiled graph 1"

try:
    from torch._dynamo.precompile_context import BackendCacheArtifact, PrecompileContext
except ImportError:  # a PyTorch without dynamo's precompile cache: nothing to record
    BackendCacheArtifact = PrecompileContext = None


try:  # the guard kinds PyTorch's precompile cache cannot save
    from torch._dynamo.guards import CheckFunctionManager as _CheckFunctionManager

    _UNSERIALIZABLE_GUARDS = tuple(_CheckFunctionManager.UNSUPPORTED_SERIALIZATION_GUARD_TYPES)
except (ImportError, AttributeError):
    _UNSERIALIZABLE_GUARDS = ("DICT_VERSION", "NN_MODULE", "ID_MATCH", "FUNCTION_MATCH", "CLASS_MATCH",
                              "MODULE_MATCH", "CLOSURE_MATCH", "WEAKREF_ALIVE")


def restorable_guards(guards) -> list[bool]:
    """A `guard_filter_fn` for `torch.compile(..., options={"guard_filter_fn": ...})` with dynamo's
    precompile cache on: keeps every guard except those a later process cannot rebuild.

    - Guards read through a function's closure (`__closure__`): with the cache on, dynamo drops its
      guards on closures themselves but keeps the guards on values inside them, and the closure's
      function is not saved with the guards, so PyTorch fails to load the entry (`'_Missing' object
      has no attribute '__closure__'`; Hugging Face's decorated `forward`, whose decorators hold a
      version flag, is one).
    - Guards on an object's identity that dynamo cannot serialize (a class, function or module
      matched by identity: `CLASS_MATCH`, `FUNCTION_MATCH`, ...), which make PyTorch give up the
      whole entry in the saving process (`check_fn.guards_state must not be None`: Hugging Face's
      T5 and BART on torch 2.13). Dynamo drops its own identity guards (`ID_MATCH`) with the cache
      on for the same reason: an identity does not outlive its process.

    Leaving them out is as safe as dynamo's own dropping: a process whose decorators close over other
    values, or whose globals name other classes (another library version), is not told apart."""
    unsupported = set(_UNSERIALIZABLE_GUARDS)
    return ["__closure__" not in g.name and g.guard_type not in unsupported
            and not unsupported.intersection(getattr(g, "derived_guard_types", None) or ()) for g in guards]


def enabled() -> bool:
    """Whether dynamo's precompile cache is on (and this PyTorch has one)."""
    return PrecompileContext is not None and bool(getattr(torch._dynamo.config, "caching_precompile", False))


def record(gm: torch.fx.GraphModule, example_inputs, options: dict | None, symbolic: bool) -> torch.fx.GraphModule:
    """Gives dynamo this graph's artifact (under the id dynamo named the graph by) when the precompile
    cache is on, and returns the graph the backend is to compile: with the cache on and static
    sizes, the graph as a later process restores it (unpickling re-traces the graph's code, so its
    node names and arguments differ from dynamo's), so that this process's trace and engine cache
    entries are the ones a restored graph finds; else `gm`. A graph that cannot be pickled, or
    does not restore, is left out with a warning (saving the cache then fails in PyTorch, naming
    the graph)."""
    key = getattr(gm, "_backend_id", None)
    if key is None or not enabled():
        return gm
    frozen, numbers = set(frozen_positions(gm, example_inputs)), set(scalar_positions(gm, example_inputs))
    states = ["number" if i in numbers else "module" if i in frozen else None for i in range(len(example_inputs))]
    try:
        content = pickle.dumps({"format": FORMAT, "graph": gm, "options": dict(options or {}), "states": states,
                                "symbolic": symbolic, "outputs": _output_values(gm)})
    except Exception as e:  # noqa: BLE001 - what pickle raises depends on what the graph holds
        logger.warning("tensorforge: graph %s cannot join dynamo's precompile cache: %s", key, e)
        return gm
    try:
        data = _unpickle(content)
        if not symbolic:
            _prepare(data, example_inputs)
    except Exception as e:  # noqa: BLE001 - what a graph's re-tracing raises depends on the graph
        # Not recorded: a new process could not restore it either (saving the cache then fails in
        # PyTorch, naming the graph, as for a graph that cannot be pickled).
        logger.warning("tensorforge: graph %s cannot join dynamo's precompile cache: it does not restore (%s: %s)",
                       key, type(e).__name__, e)
        return gm
    PrecompileContext.record_artifact(PrecompiledGraph(key, content))
    return gm if symbolic else data["graph"]


def _unpickle(content: bytes) -> dict:
    data = pickle.loads(content)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RuntimeError("tensorforge: a precompile cache entry of another format")
    # The pickled graph keeps dynamo's id of it; a restored graph is no new graph to record.
    data["graph"].__dict__.pop("_backend_id", None)
    setattr(data["graph"], RESTORED, True)
    return data


def _output_values(gm: torch.fx.GraphModule) -> list | None:
    """What each value the graph returns is, in order: "tensor", or a Python number (its value);
    None when one is neither (the restored graph's values are then propagated in full)."""
    output = next(n for n in gm.graph.nodes if n.op == "output")
    values = []
    for arg in _leaves(output.args[0]):
        value = arg.meta.get("example_value", arg.meta.get("val")) if isinstance(arg, torch.fx.Node) else arg
        if isinstance(value, torch.Tensor):
            values.append("tensor")
        elif type(value) in (int, float, bool):
            values.append(value)
        else:
            return None
    return values


def _leaves(args) -> list:
    out = []
    torch.fx.node.map_aggregate(args, out.append)
    return out


def _prepare(data: dict, args) -> None:
    """A restored graph (data["graph"]) made ready for the backend: which placeholders are module
    state, and what its lowering reads of node values: whether each returned value is a tensor
    (recorded; or, for a graph with symbolic sizes or other outputs, every node's meta["val"]
    propagated from the call's arguments on fake tensors, which takes 0.5 s for ResNet-50)."""
    gm = data["graph"]
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for node, state in zip(placeholders, data["states"]):
        if state is not None:
            node.meta[STATE] = state
    output = next(n for n in gm.graph.nodes if n.op == "output")
    leaves, values = _leaves(output.args[0]), data.get("outputs")
    if data["symbolic"] or values is None or len(values) != len(leaves):
        _propagate_shapes(gm, args)
        return
    for leaf, value in zip(leaves, values):
        if isinstance(leaf, torch.fx.Node) and value != "tensor":
            leaf.meta["val"] = value  # a number: lowering returns it as it is


if BackendCacheArtifact is not None:

    @dataclasses.dataclass
    class PrecompiledGraph(BackendCacheArtifact):
        """A dynamo graph kept for the backend in dynamo's precompile cache."""

        def after_deserialization(self):
            data = _unpickle(self.content)
            return CompileOnFirstCall(data)


class CompileOnFirstCall:
    """A restored dynamo graph: the backend compiles it when it is first called, with that call's
    arguments as example inputs; threads may make that call at once (one compiles)."""

    def __init__(self, data: dict) -> None:
        self._data = data
        self._run = None
        self._lock = threading.Lock()

    def _compile(self, args):
        from tensorforge.dynamo.backend import _PerShape, tensorforge_backend
        from tensorforge.dynamo.settings import CompilationSettings

        _prepare(self._data, args)
        gm, options = self._data["graph"], self._data["options"]
        if self._data["symbolic"]:
            return _PerShape(gm, CompilationSettings.from_options(options))
        return tensorforge_backend(gm, list(args), options)

    def __call__(self, *args):
        run = self._run
        if run is None:
            with self._lock:
                if self._run is None:
                    self._run = self._compile(args)
                run = self._run
        return run(*args)


def _propagate_shapes(gm: torch.fx.GraphModule, args) -> None:
    """Each node's meta["val"] (a fake tensor, or a number), which pickling the graph dropped and
    lowering reads, from fake copies of the call's arguments."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
    FakeTensorProp(gm, mode).propagate_dont_convert_inputs(*fake)
