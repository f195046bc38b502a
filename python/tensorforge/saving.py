"""Saving and loading compiled models: `tensorforge.save(model, path, example_inputs, options=...)`
and `tensorforge.load(path)`.

save() captures the whole model with `torch.export` (non-strict, so Python the tracer runs through,
such as a print or a `torch._dynamo.graph_break()`, is no obstacle), lowers, partitions and builds
its engines exactly as the torch.compile backend does with the same options, and writes an
ExportedProgram (`torch.export.save`, a .pt2 archive) in which each engine is one call of the custom
op `tensorforge::execute_engine` whose first argument is the serialized engine as a uint8 buffer;
the operators kept in PyTorch stay ATen nodes around them. With `dynamic_shapes` (torch.export's
argument: `torch.export.Dim("batch", min=1, max=64)` per dynamic dim) the engines are dynamic
engines (docs/dynamic_shapes.md) and the saved program takes every shape in the ranges. load() reads it back with
`torch.export.load` and returns its module: engines are deserialized on their first call (no
lowering, no build) and kept per buffer. A model that is one engine can also be written as a plain
engine file (`output_format="engine"`) for C++ (`tensorforge-exec`, `tensorforge::Engine::load`).
"""

from __future__ import annotations

import collections
import contextlib
import json
import operator
import os
import threading
import time
import weakref

import torch
from torch.fx import GraphModule

import tensorforge as tf
# Only the runtime's modules at import: load() imports no conversion or lowering code (save() does,
# inside); tensorforge.load of a saved ResNet-50 spent 1.6 s of its 2.1 s importing them (H200 host).
from tensorforge.dynamo.runtime.dynamic_engine_module import DynamicEngineModule
from tensorforge.dynamo.runtime.engine_module import EngineModule
from tensorforge.dynamo.runtime.io_spec import IOSpec
from tensorforge.dynamo.runtime.size_expr import evaluate
from tensorforge.errors import InvalidArgumentError, UnsupportedError

_FORMATS = ("exported_program", "engine")
# id(engine buffer) -> (weak reference to it, {meta: runner}); an entry goes when its buffer does.
_RUNNERS: dict = {}
_RUNNERS_LOCK = threading.Lock()
STATS = collections.Counter()
"""Process-wide counts: "engines_deserialized" by tensorforge::execute_engine (once per saved
engine and loaded module), and "deserialize_s", the seconds those deserializations took."""


@torch.library.custom_op("tensorforge::execute_engine", mutates_args=())
def execute_engine(engine: torch.Tensor, inputs: list[torch.Tensor], meta: str) -> list[torch.Tensor]:
    """Runs the serialized engine `engine` (uint8) on `inputs`; `meta` is the JSON that save()
    wrote beside it (inputs, outputs, device, block name, whether the engine is dynamic)."""
    outs = _runner(engine, meta)(*inputs)
    return list(outs) if isinstance(outs, tuple) else [outs]


@execute_engine.register_fake
def _execute_engine_fake(engine, inputs, meta):
    m = _parse_meta(meta)
    return [torch.empty(shape, dtype=s.model_dtype, device=m["device"])
            for s, shape in zip(m["outputs"], _output_shapes(m, inputs))]


def _output_shapes(m: dict, inputs) -> list[list]:
    """The engine's output shapes for these inputs: a dynamic engine's size expressions evaluated with
    the sizes its inputs' dims give (symbolic while torch.export traces)."""
    values = {}
    for spec, x in zip(m["inputs"], inputs):
        for d, extent in enumerate(spec.shape):
            if isinstance(extent, str) and extent.isidentifier() and d < x.dim():
                values.setdefault(extent, x.shape[d])
    try:
        return [[evaluate(e, values) if isinstance(e, str) else e for e in s.shape] for s in m["outputs"]]
    except ValueError as e:
        raise InvalidArgumentError(f"tensorforge::execute_engine: engine {m['name']}: {e}") from None


def _parse_meta(meta: str) -> dict:
    try:
        m = json.loads(meta)
        return {"name": str(m["name"]), "device": torch.device(m["device"]),
                "inputs": [IOSpec.from_list(v) for v in m["inputs"]],
                "outputs": [IOSpec.from_list(v) for v in m["outputs"]], "dynamic": m.get("dynamic", False) is True}
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise InvalidArgumentError(f"tensorforge::execute_engine: malformed engine description ({e})") from None


def _runner(engine: torch.Tensor, meta: str) -> EngineModule | DynamicEngineModule:
    """The EngineModule of a serialized engine, deserialized on first use and kept as long as the
    buffer tensor lives (per tensor object: a new tensor, even at a freed one's address, is another
    engine)."""
    if engine.dtype != torch.uint8 or engine.dim() != 1:
        raise InvalidArgumentError("tensorforge::execute_engine: the engine must be a 1-D uint8 tensor")
    with _RUNNERS_LOCK:
        entry = _RUNNERS.get(id(engine))
        if entry is not None and entry[0]() is engine and meta in entry[1]:
            return entry[1][meta]
    m = _parse_meta(meta)
    device = m["device"]
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    blob = engine.detach().cpu().contiguous().numpy()  # read in place by deserialize
    kind, module = (tf.DynamicEngine, DynamicEngineModule) if m["dynamic"] else (tf.Engine, EngineModule)
    start = time.perf_counter()
    with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
        built = kind.deserialize(blob)
    STATS["deserialize_s"] += time.perf_counter() - start
    runner = module(built, m["inputs"], m["outputs"], m["name"], single_output=False, device=device,
                    separate_outputs=True)  # a custom op's outputs must not alias one another
    STATS["engines_deserialized"] += 1
    with _RUNNERS_LOCK:
        entry = _RUNNERS.get(id(engine))
        if entry is None or entry[0]() is not engine:
            key = id(engine)
            entry = (weakref.ref(engine, lambda _ref, key=key: _RUNNERS.pop(key, None)), {})
            _RUNNERS[key] = entry
        entry[1][meta] = runner
    return runner


class _Program(torch.nn.Module):
    """The stitched graph as a module of the model's signature: picks the inputs the graph takes
    and gives the outputs the model's structure."""

    def __init__(self, graph: GraphModule, positions: list[int], out_spec) -> None:
        super().__init__()
        self.stitched = graph
        self.positions = positions
        self.out_spec = out_spec

    def forward(self, *args):
        outs = self.stitched(*[args[i] for i in self.positions])
        flat = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        return torch.utils._pytree.tree_unflatten(flat, self.out_spec) if self.out_spec is not None else outs


def _engines_as_ops(gm: GraphModule) -> int:
    """Replaces each EngineModule call of `gm` by a call of tensorforge::execute_engine with the
    engine serialized into a buffer of `gm`; returns how many there were."""
    count = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module":
            continue
        module = gm.get_submodule(node.target)
        if not isinstance(module, (EngineModule, DynamicEngineModule)):
            continue
        blob_name = f"_tensorforge_engine_{count}"
        blob = torch.frombuffer(bytearray(module.engine.serialize()), dtype=torch.uint8)
        gm.register_buffer(blob_name, blob)
        meta = json.dumps({"name": module.block_name, "device": str(module.device),
                           "inputs": [s.to_list() for s in module.inputs],
                           "outputs": [s.to_list() for s in module.outputs],
                           "dynamic": isinstance(module, DynamicEngineModule)})
        with gm.graph.inserting_before(node):
            blob_node = gm.graph.get_attr(blob_name)
            call = gm.graph.call_function(torch.ops.tensorforge.execute_engine.default,
                                          (blob_node, list(node.args), meta))
        if module.single_output:
            with gm.graph.inserting_after(call):
                first = gm.graph.call_function(operator.getitem, (call, 0))
            node.replace_all_uses_with(first)
        else:
            node.replace_all_uses_with(call)
        gm.graph.erase_node(node)
        delattr(gm, node.target)
        count += 1
    # The constants the engines took (frozen weights, folded constants) are theirs now: dropped here.
    gm.graph.eliminate_dead_code()
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for name in [name for name, _ in gm.named_buffers(recurse=False) if name not in used]:
        delattr(gm, name)
    gm.graph.lint()
    gm.recompile()
    return count


def _lone_engine(gm: GraphModule) -> EngineModule | DynamicEngineModule | None:
    """The engine when `gm` is one engine reading its inputs as they are and returning its outputs."""
    nodes = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
    calls = [n for n in nodes if n.op == "call_module" and
             isinstance(gm.get_submodule(n.target), (EngineModule, DynamicEngineModule))]
    if len(calls) != 1:
        return None
    call = calls[0]
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if list(call.args) != placeholders or any(n is not call and n.target is not operator.getitem
                                              for n in nodes):
        return None
    return gm.get_submodule(call.target)


def _graph_inputs(exported, example_inputs) -> list:
    """The values of the exported graph's placeholders, in order: its lifted parameters, buffers and
    constants (as frozen Parameters, which lowering folds into the engines) and then the user inputs.
    A model that mutates a buffer or whose input pytree is not flat is refused."""
    from torch.export.graph_signature import InputKind, OutputKind

    sig = exported.graph_signature
    if any(o.kind != OutputKind.USER_OUTPUT for o in sig.output_specs):
        raise UnsupportedError("tensorforge.save: the model mutates its buffers or inputs; engines are for "
                               "inference graphs without side effects")
    values, users = [], iter(example_inputs)
    for spec in sig.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            values.append(next(users))
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            value = exported.state_dict[spec.target] if spec.target in exported.state_dict else \
                exported.constants[spec.target]
            values.append(torch.nn.Parameter(value.detach(), requires_grad=False))
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            values.append(torch.nn.Parameter(exported.constants[spec.target].detach(), requires_grad=False))
        else:
            raise UnsupportedError(f"tensorforge.save: the exported graph takes a {spec.kind.name} input, which "
                                   "engines do not take")
    if len(values) != len(sig.input_specs) or next(users, None) is not None:
        raise UnsupportedError("tensorforge.save: example_inputs do not match the model's inputs")
    user_count = sum(1 for spec in sig.input_specs if spec.kind == InputKind.USER_INPUT)
    return values[:len(values) - user_count] + values[len(values) - user_count:]


def save(model: torch.nn.Module, path: str | os.PathLike, example_inputs, options: dict | None = None,
         output_format: str = "exported_program", dynamic_shapes=None) -> None:
    """Compiles `model` for `example_inputs` (a tuple of tensors, as the model is called) with the
    torch.compile backend's `options` and writes the result to `path`: an ExportedProgram that
    `tensorforge.load` (or `torch.export.load` after `import tensorforge`) reads back, or with
    output_format="engine" the engine file of a model that compiles to one engine and nothing else.
    `dynamic_shapes` (torch.export's argument) makes the dims it names dynamic: the engines take any
    size in their ranges, and so does the loaded module."""
    from torch._guards import TracingContext, tracing

    from tensorforge.dynamo.backend import _NotDynamic, compile_stitched
    from tensorforge.dynamo.conversion import sym_sizes
    from tensorforge.dynamo.settings import CompilationSettings

    if output_format not in _FORMATS:
        raise InvalidArgumentError(f"tensorforge.save: output_format must be one of {', '.join(_FORMATS)}, "
                                   f"got {output_format!r}")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    if not all(isinstance(t, torch.Tensor) for t in example_inputs):
        raise InvalidArgumentError("tensorforge.save: example_inputs must be tensors (the model's positional "
                                   "arguments)")
    settings = CompilationSettings.from_options(options)
    if settings.dry_run:
        raise InvalidArgumentError("tensorforge.save: a dry run builds no engine to save")
    exported = _export_user_model(model, example_inputs, dynamic_shapes)
    graph_inputs = _graph_inputs(exported, example_inputs)
    lifted = len(graph_inputs) - len(example_inputs)
    symbolic = _symbolic_inputs(exported)
    context, static_fakes = contextlib.nullcontext(), None
    if symbolic is not None:  # the user inputs as the export traced them, with their symbolic sizes
        fake_mode = symbolic[0].fake_mode
        # Parameters keep static shapes: their fakes made now are what the trace finds (held while it runs).
        static_fakes = [fake_mode.from_tensor(value, static_shapes=True) for value in graph_inputs[:lifted]]
        graph_inputs = graph_inputs[:lifted] + symbolic
        context = tracing(TracingContext(fake_mode))
    ranges = sym_sizes.RANGES.set(dict(exported.range_constraints))
    try:
        with context:
            stitched = compile_stitched(exported.graph_module, graph_inputs, settings)
    except _NotDynamic as e:
        raise UnsupportedError(f"tensorforge.save: the model does not compile to dynamic engines ({e}); save it "
                               "without dynamic_shapes, once per shape") from None
    finally:
        sym_sizes.RANGES.reset(ranges)
        static_fakes = None  # noqa: F841 - released only now
    if stitched is None:
        raise UnsupportedError("tensorforge.save: the model could not be compiled (see the warning above)")
    graph, positions, _ = stitched
    if any(p < lifted for p in positions):
        raise UnsupportedError("tensorforge.save: the compiled graph reads a parameter as an input")
    positions = [p - lifted for p in positions]
    out_spec = exported.call_spec.out_spec
    if output_format == "engine":
        engine = _lone_engine(graph)
        if engine is None:
            raise UnsupportedError("tensorforge.save: output_format='engine' needs a model that compiles to one "
                                   "engine and nothing else; this one keeps operators in PyTorch or has several "
                                   "engines (save it as an exported_program)")
        engine.engine.save(path)
        return
    _engines_as_ops(graph)
    program = _Program(graph, positions, out_spec)
    with torch.no_grad():
        program = torch.export.export(program, example_inputs, dynamic_shapes=_dims_of(symbolic, exported),
                                      strict=False)
    torch.export.save(program, path)


def _export_user_model(model, example_inputs: tuple, dynamic_shapes):
    """torch.export of the user's model; what export cannot trace becomes an UnsupportedError that says
    save() needs an exportable model (the cause chained)."""
    from torch._dynamo.exc import UserError

    try:
        with torch.no_grad():
            return torch.export.export(model, example_inputs, dynamic_shapes=dynamic_shapes, strict=False)
    except UserError:
        raise  # export's own messages on dynamic_shapes (constraint violations) say what to change
    except Exception as e:  # noqa: BLE001 - export fails in many ways; each is the model's, not ours
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsupportedError(
            f"tensorforge.save: torch.export could not trace {type(model).__name__}: {first[:300]}. save() needs "
            "a model torch.export can trace (Hugging Face models: config.use_cache = False keeps cache objects "
            "out of the outputs); torch.compile(model, backend='tensorforge') has no such limit") from e


def _symbolic_inputs(exported) -> list | None:
    """The exported graph's user inputs as fake tensors with symbolic sizes, or None when every size is
    static."""
    from torch.export.graph_signature import InputKind

    kinds = {s.arg.name: s.kind for s in exported.graph_signature.input_specs}
    values = [n.meta["val"] for n in exported.graph_module.graph.nodes
              if n.op == "placeholder" and kinds.get(n.name) == InputKind.USER_INPUT]
    if not any(isinstance(d, torch.SymInt) for v in values for d in v.shape):
        return None
    return values


def _dims_of(symbolic: list | None, exported):
    """torch.export's dynamic_shapes for the saved program: each user input's dims as the first export
    found them, one torch.export.Dim per size with its range (a dim that is an expression of sizes
    left for export to derive)."""
    if symbolic is None:
        return None
    dims: dict = {}

    def dim(extent):
        expr = extent.node.expr
        if not expr.is_Symbol:
            return torch.export.Dim.DYNAMIC
        if expr.name not in dims:
            r = exported.range_constraints.get(expr)
            bounds = {} if r is None else {"min": int(r.lower)} | ({"max": int(r.upper)} if r.upper.is_finite else {})
            dims[expr.name] = torch.export.Dim(expr.name, **bounds)
        return dims[expr.name]

    # _Program.forward(*args): one entry, the tuple of its positional inputs' dims
    return (tuple({d: dim(e) for d, e in enumerate(v.shape) if isinstance(e, torch.SymInt)} or None
                  for v in symbolic),)


def load(path: str | os.PathLike) -> torch.nn.Module:
    """The module of a model that tensorforge.save wrote (an ExportedProgram): it runs the saved
    engines without compiling anything."""
    if not os.path.exists(path):
        raise InvalidArgumentError(f"tensorforge.load: no file at {os.fspath(path)!r}")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"TFENGINE":
        raise InvalidArgumentError(f"tensorforge.load: {os.fspath(path)!r} is a plain engine file; read it with "
                                   "tensorforge.Engine.load")
    try:
        program = torch.export.load(path)
    except Exception:  # noqa: BLE001 - perhaps an op the program keeps in PyTorch is one of the backend's
        # own (tensorforge::sdpa, tensorforge::interpolate), which its lowering module defines
        from tensorforge.dynamo.lowering import custom_ops  # noqa: F401

        program = torch.export.load(path)
    return program.module()
