"""The torch.compile backend "tensorforge": settings -> lowering -> partitioning -> report ->
conversion and engine builds -> the stitched module returned to dynamo (whose guards decide when
to recompile)."""

from __future__ import annotations

import collections
import dataclasses
import contextlib
import logging
import operator
import threading
import time
import warnings
import weakref

import torch
from torch.fx import GraphModule
from torch._subclasses.fake_tensor import FakeTensor

import tensorforge as tf
from tensorforge.dynamo import engine_cache, precompile
from tensorforge.dynamo.conversion.interpreter import convert_block
from tensorforge.dynamo.lowering import lower
from tensorforge.dynamo.lowering.freeze import frozen_positions, scalar_positions
from tensorforge.dynamo.partitioning import is_size, partition
from tensorforge.dynamo.report import Report, build_report
from tensorforge.dynamo.runtime.dynamic_engine_module import DynamicEngineModule
from tensorforge.dynamo.runtime.engine_module import EngineModule
from tensorforge.dynamo.settings import CompilationSettings
from tensorforge.dynamo.written_inputs import in_place_outputs
from tensorforge.errors import InvalidArgumentError, UnsupportedError

logger = logging.getLogger("tensorforge")

STATS = collections.Counter()
"""Process-wide counts: "graphs" compiled, "engines" built (dynamic ones included),
"dynamic_engines" (engines with named sizes, one build for every shape in range), "build_failures",
"engine_cache_hits" (engines taken from the engine cache instead of built), "trace_cache_hits" (graphs
whose ATen trace came from the trace cache, lowering/trace_cache.py), "dynamic_fallbacks" (graphs
with symbolic sizes that got static engines per shape instead of dynamic ones), "shape_variants"
(compilations of such a graph for one concrete input signature)."""
REPORTS: collections.deque = collections.deque(maxlen=256)
"""The reports of the most recent graphs compiled in this process (at most 256), oldest first; each
has its graph_index, the value STATS["graphs"] took when it was compiled."""
COMPILED: collections.deque = collections.deque(maxlen=32)
"""Weak references to the most recent stitched GraphModules (engine blocks as EngineModule
submodules), for inspection; they do not keep a compiled model or its engines alive."""


def reports_since(graph_count: int) -> list[Report]:
    """The reports of the graphs compiled after STATS["graphs"] was `graph_count` (those still kept)."""
    return [r for r in REPORTS if r.graph_index > graph_count]


def _device_of(gm: GraphModule, example_inputs, settings) -> torch.device:
    """Where the graph's engines run: the `device` option, else the inputs' device, else (a graph
    with no tensor input, such as one that only creates tensors) where its tensors live."""
    if settings.device is not None:
        return settings.device
    for t in example_inputs:
        if isinstance(t, torch.Tensor):
            return t.device
    for node in gm.graph.nodes:
        value = node.meta.get("example_value", node.meta.get("val"))
        if isinstance(value, torch.Tensor) and value.device.type in ("cpu", "cuda"):
            return value.device
    return torch.device("cpu")


_WARMED_DEVICES: set[int] = set()
_WARM_LOCK = threading.Lock()


def _warm_up_libraries(device: torch.device) -> None:
    """Loads cuBLASLt and cuDNN for a CUDA device on a helper thread, once per device and process,
    so that a process's first build finds them loaded: the loading (up to 0.9 s of a warm-cache
    compile on the H200, benchmarks/RESULTS.md run Q) then runs beside the lowering. A failure is
    left for the build itself to report."""
    if device.type != "cuda" or not tf.built_with_cuda():
        return
    index = device.index if device.index is not None else torch.cuda.current_device()
    with _WARM_LOCK:
        if index in _WARMED_DEVICES:
            return
        _WARMED_DEVICES.add(index)

    def load():
        try:
            tf._C.warm_up_cuda_libraries(index)
        except Exception:  # noqa: BLE001 - the build reports a library that does not load
            logger.debug("loading the CUDA libraries ahead failed", exc_info=True)

    threading.Thread(target=load, name="tensorforge-libraries", daemon=True).start()


def _on(device: torch.device):
    """Makes `device` current while engines are built (their weights go to the current GPU)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _build_engines(result, settings, device: torch.device, seconds: dict, symbolic: bool = False) -> dict[str, dict]:
    """Builds an engine for each block of `result` (in place of its submodule); adds the time spent
    converting and building to `seconds`. With `symbolic` sizes, blocks become dynamic engines, and
    a block that cannot raises _NotDynamic."""
    specs = {}
    gm = result.gm
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or node.target not in result.blocks:
            continue
        sub = getattr(gm, node.target)
        constants = {i: getattr(gm, a.target) for i, a in enumerate(node.args)
                     if isinstance(a, torch.fx.Node) and a.op == "get_attr"}
        start = time.perf_counter()
        block = None
        if symbolic:  # converted first, on a cache hit too: conversion installs dynamo's guards and checks shapes
            try:
                block = convert_block(sub, constants, settings)
            except Exception as e:  # noqa: BLE001 - the graph gets static engines per shape instead
                raise _NotDynamic(f"engine {node.target}: {type(e).__name__}: {e}") from e
            seconds["convert"] = seconds.get("convert", 0.0) + time.perf_counter() - start
        cached, key = None, None
        folder = settings.engine_cache_dir or engine_cache.default_dir()
        if settings.cache_built_engines or settings.reuse_cached_engines:
            keyed = time.perf_counter()
            sizes = block.network.sizes if block is not None and block.dynamic else None
            key = engine_cache.block_key(sub, constants, settings, device, sizes)
            seconds["engine cache key"] = seconds.get("engine cache key", 0.0) + time.perf_counter() - keyed
        if settings.reuse_cached_engines:
            read = time.perf_counter()
            with _on(device):
                cached = engine_cache.load(folder, key)
            seconds["engine cache read"] = seconds.get("engine cache read", 0.0) + time.perf_counter() - read
        if cached is not None:
            engine, stored = cached
            block = block or stored
            STATS["engine_cache_hits"] += 1
        else:
            try:
                converting = time.perf_counter()
                if block is None:
                    block = convert_block(sub, constants, settings)
                    seconds["convert"] = seconds.get("convert", 0.0) + time.perf_counter() - converting
                converted = time.perf_counter()
                config = tf.BuilderConfig(device=device.type, optimization_level=settings.optimization_level,
                                          workspace_size=settings.workspace_size,
                                          allow_tf32=not settings.disable_tf32,
                                          timing_iterations=settings.num_avg_timing_iters,
                                          timing_cache_dir=settings.timing_cache_path)
                with _on(device):
                    builder = tf.Builder(config)
                    engine = builder.build_dynamic(block.network, MAX_PLANS) if block.dynamic else \
                        builder.build(block.network)
                seconds["build"] = seconds.get("build", 0.0) + time.perf_counter() - converted
            except Exception as e:  # noqa: BLE001 - any failure falls back or is re-raised as the user chose
                if symbolic:
                    raise _NotDynamic(f"engine {node.target}: {type(e).__name__}: {e}") from e
                STATS["build_failures"] += 1
                if settings.pass_through_build_failures:
                    raise
                warnings.warn(f"tensorforge: building engine {node.target} failed, running it in PyTorch: {e}")
                continue
            STATS["engines"] += 1
            STATS["dynamic_engines"] += int(isinstance(engine, tf.DynamicEngine))
            if settings.cache_built_engines and key is not None:
                engine_cache.store(folder, key, engine, block, settings.engine_cache_size)
        single = not isinstance(next(n for n in sub.graph.nodes if n.op == "output").args[0], (tuple, list))
        in_place = in_place_outputs(sub, node, block.runtime_args)
        if isinstance(engine, tf.DynamicEngine):
            module = DynamicEngineModule(engine, block.inputs, block.outputs, node.target, settings.use_python_runtime,
                                         single_output=single, device=device, max_plans=MAX_PLANS, in_place=in_place)
        else:
            module = EngineModule(engine, block.inputs, block.outputs, node.target, settings.use_python_runtime,
                                  single_output=single, device=device, in_place=in_place)
        setattr(gm, node.target, module)
        node.args = tuple(_size_carrier(gm, node, a, device) for a in (node.args[i] for i in block.runtime_args))
        specs[node.target] = {"ops": block.op_count, "inputs": [f"{s.name}: {_type_text(s)}" for s in block.inputs],
                              "outputs": [_type_text(s) for s in block.outputs],
                              **({"sizes": {n: list(r) for n, r in engine.sizes.items()}}
                                 if isinstance(engine, tf.DynamicEngine) else
                                 {"build_ms": engine.build_times, **_quantized_products(engine)})}
        logger.debug("built engine %s: %d ops in %.2f s", node.target, block.op_count, time.perf_counter() - start)
    gm.graph.eliminate_dead_code()
    _drop_unread_buffers(gm)
    gm.graph.lint()
    gm.recompile()
    return specs


def _size_carrier(gm: GraphModule, node, arg, device: torch.device):
    """An engine's argument: `arg`, or for an integer (a size the engine takes through a carrier input,
    conversion/sym_sizes.py), an empty uint8 tensor of that length made before the call."""
    value = arg.meta.get("val", arg.meta.get("example_value")) if isinstance(arg, torch.fx.Node) else arg
    if not isinstance(value, (int, torch.SymInt)) or isinstance(value, bool):
        return arg
    with gm.graph.inserting_before(node):
        carrier = gm.graph.call_function(torch.empty, ((arg,),), {"dtype": torch.uint8, "device": device})
    return carrier


def _quantized_products(engine) -> dict:
    """{"quantized": {"int8, calibrated": 3, ...}}: the engine's quantized products by arithmetic and
    where their scales came from (the report's line), or {} for an engine without any."""
    counts = collections.Counter()
    for layer in engine.inspect(format="json")["layers"]:
        if layer["kind"] in ("quantized_matmul", "quantized_convolution"):
            counts[", ".join(x for x in (layer["precision"], layer["scale_source"]) if x)] += 1
    return {"quantized": dict(counts)} if counts else {}


def _type_text(spec) -> str:
    """float16[s0, 128]: an engine input's or output's dtype and shape (sizes by their expressions)."""
    return f"{str(spec.model_dtype).removeprefix('torch.')}[{', '.join(str(d) for d in spec.shape)}]"


def _drop_unread_buffers(gm: GraphModule) -> None:
    """Deletes the frozen weights and folded constants that no node of `gm` reads any more: the
    engines hold their own copies, so keeping these would hold every weight twice on the device."""
    read = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for name in [name for name, _ in gm.named_buffers(recurse=False)]:
        if name not in read:
            delattr(gm, name)


def _own_buffers(gm: GraphModule, example_inputs) -> None:
    """Frozen weights (and constants folded into views of them) share memory with the model's
    parameters; the buffers the stitched module still reads once its engines hold their own copies
    become copies too, so that a parameter changed in place after compiling changes no result."""
    shared = {t.untyped_storage().data_ptr() for t in example_inputs
              if isinstance(t, torch.Tensor) and not isinstance(t, FakeTensor)}
    for name, buf in list(gm.named_buffers(recurse=False)):
        if buf.numel() > 0 and buf.untyped_storage().data_ptr() in shared:
            setattr(gm, name, buf.clone())


_MATRIX_OPS = ("conv", "linear", "matmul", "addmm", "bmm", "mm")


def _check_int8(gm: GraphModule, settings: CompilationSettings) -> None:
    """With torch.int8 or torch.float8_e4m3fn enabled, a graph of convolutions or matrix products must
    carry the quantize/dequantize pairs that give it its ranges: the backend takes no calibration data."""
    quantized = [p for p in (torch.int8, torch.float8_e4m3fn) if p in settings.enabled_precisions]
    if not quantized:
        return
    targets = [str(n.target) for n in gm.graph.nodes if n.op in ("call_function", "call_method", "call_module")]
    if any("quantize" in t for t in targets) or not any(op in t.rsplit(".", 1)[-1] or op in t for t in targets
                                                          for op in _MATRIX_OPS):
        return
    name = str(quantized[0]).removeprefix("torch.")
    how = ("tensorforge.quantize(model, calibration_data) or PyTorch's PT2E flow" if quantized[0] == torch.int8 else
           "tensorforge.quantize(model, calibration_data, dtype=torch.float8_e4m3fn)")
    raise InvalidArgumentError(f"tensorforge: enabled_precisions includes torch.{name}, but this graph has no "
                               f"quantize/dequantize pairs, and its activations need calibrated ranges: quantize the "
                               f"model first with {how} (docs/quantization.md), or leave torch.{name} out")


def _symbolic(example_inputs) -> bool:
    return any(isinstance(t, torch.SymInt) for t in example_inputs) or any(
        isinstance(t, torch.Tensor) and any(isinstance(d, torch.SymInt) for d in t.shape) for t in example_inputs)


class _NotDynamic(Exception):
    """A graph with symbolic sizes that does not become dynamic engines (a size an engine cannot take,
    a converter that needs concrete sizes); it gets static engines per input shape instead."""


MAX_PLANS = 16
"""Input shapes whose plans a dynamic engine keeps (the least recently used dropped past it)."""


def compile_graph(gm: GraphModule, example_inputs, settings: CompilationSettings):
    """Compiles one dynamo graph; returns the callable dynamo runs in its place. A graph with symbolic
    sizes becomes dynamic engines, one build serving every shape in range (docs/backend.md), or,
    where it cannot, static engines per input shape (_PerShape)."""
    symbolic = _symbolic(example_inputs)
    try:
        stitched = compile_stitched(gm, example_inputs, settings)
    except _NotDynamic as e:
        STATS["dynamic_fallbacks"] += 1
        warnings.warn(f"tensorforge: a graph with symbolic sizes gets static engines per input shape instead of "
                      f"dynamic ones: {e}")
        return _PerShape(gm, settings)
    if stitched is None:
        return gm.forward
    compiled, positions, trace = stitched
    run = _taking(compiled, positions)
    frozen = [i for i in range(len(example_inputs)) if i not in set(positions)]
    if not frozen:
        return run
    if not symbolic:
        return _FrozenGuard(gm, settings, frozen, example_inputs, run, lambda args: compile_graph(gm, args, settings))

    numbers = scalar_positions(gm, example_inputs)
    traced_numbers = [example_inputs[i].item() for i in numbers]  # inlined into the trace

    def recompile(args):
        # Another set of parameters (a graph that serves several modules): the symbolic trace kept
        # from this compilation, frozen with them, gives dynamic engines again (or static ones per
        # shape where it cannot, or where the numbers inlined into the trace differ).
        if [args[i].item() for i in numbers] != traced_numbers:
            return _PerShape(gm, settings)
        try:
            again = compile_stitched(gm, args, settings, trace=trace)
        except _NotDynamic as e:
            logger.info("engines for another parameter set are static per shape: %s", e)
            return _PerShape(gm, settings)
        if again is None:
            return gm.forward
        return _taking(again[0], again[1])

    return _FrozenGuard(gm, settings, frozen, example_inputs, run, recompile)


def _taking(compiled, positions: list[int]):
    """The callable dynamo runs: `compiled` on the graph inputs at `positions` (the others are frozen)."""

    def run(*args):
        return compiled(*[args[i] for i in positions])

    return run


def compile_stitched(gm: GraphModule, example_inputs, settings: CompilationSettings, trace: GraphModule | None = None):
    """Lowers, partitions and builds one graph: (the stitched GraphModule, with each engine an
    EngineModule submodule, the positions of the inputs it takes, the symbolic ATen trace before
    freezing or None), or None when the graph runs as it is in PyTorch (a graph that cannot be
    lowered, a dry run). A graph with symbolic sizes gets dynamic engines, or raises _NotDynamic;
    `trace` (a symbolic trace kept by an earlier compilation of `gm`) lowers from it with the
    parameters of `example_inputs`."""
    symbolic = trace is not None or _symbolic(example_inputs)
    _check_int8(gm, settings)
    STATS["graphs"] += 1
    index = STATS["graphs"]
    device = _device_of(gm, example_inputs, settings)
    if device.type not in ("cpu", "cuda"):
        raise UnsupportedError(f"tensorforge: engines run on the CPU or a CUDA GPU; the graph's inputs are on "
                               f"{device}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedError(f"tensorforge: engines would run on {device}, but this PyTorch sees no CUDA GPU (a "
                               "CPU-only build, or no visible device); use device='cpu' or leave the option unset")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UnsupportedError(f"tensorforge: engines would run on {device}, but this process sees "
                               f"{torch.cuda.device_count()} CUDA device(s)")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    settings = dataclasses.replace(settings, device=device)  # converters place created tensors there
    if not settings.dry_run:
        _warm_up_libraries(device)
    start = time.perf_counter()
    try:
        lowered = lower(gm, example_inputs, settings, keep_trace=symbolic and trace is None, trace=trace)
    except Exception as e:  # noqa: BLE001 - a graph we cannot trace runs in PyTorch, unless told to raise
        first_line = (str(e).splitlines() or [""])[0][:160]
        if symbolic:  # traced with concrete sizes, it may lower
            raise _NotDynamic(f"lowering with symbolic sizes failed ({type(e).__name__}: {first_line})") from e
        if settings.pass_through_build_failures:
            raise
        warnings.warn(f"tensorforge: could not lower this graph to ATen ({type(e).__name__}: {first_line}); "
                      "it runs in PyTorch")
        return None
    if lowered.from_cache:
        STATS["trace_cache_hits"] += 1
    nodes = list(lowered.gm.graph.nodes)
    lowered_at = time.perf_counter()
    result = partition(lowered.gm, settings)
    seconds = {"lower": lowered_at - start, "partition": time.perf_counter() - lowered_at}
    sizes = {n.name for n in nodes if is_size(n)}  # size arithmetic PyTorch code reads is no op left out
    if settings.require_full_compilation and set(result.reasons) - sizes:
        targets = {n.name: str(n.target) for n in nodes}
        missing = sorted({f"{n} ({targets.get(n, '?')}): {r}" for n, r in result.reasons.items() if n not in sizes})
        raise UnsupportedError("require_full_compilation is set but these nodes cannot run in the engine:\n  " +
                               "\n  ".join(missing))
    specs = {}
    if not settings.dry_run:
        specs = _build_engines(result, settings, device, seconds, symbolic)
        _own_buffers(result.gm, example_inputs)
    report = build_report(nodes, result, settings, index, specs, seconds)
    REPORTS.append(report)
    if settings.debug or settings.dry_run:
        text = report.to_text()
        if settings.dry_run:
            print(text)
        logger.info("%s", text)
    if isinstance(settings.dryrun, str) and settings.dryrun:
        report.write_json(settings.dryrun)
    if settings.dry_run:
        return None
    COMPILED.append(weakref.ref(result.gm))
    return result.gm, lowered.user_positions, lowered.trace if lowered.trace is not None else trace


class _PerShape:
    """A graph with symbolic sizes that does not become dynamic engines (compile_graph says why): each
    distinct signature of concrete input shapes, dtypes and integer inputs gets
    its own compilation, built on its first call and reused after. Up to MAX_SHAPES signatures;
    later new ones run in PyTorch (with one warning). Threads may call it at once: new signatures
    compile under a lock."""

    MAX_SHAPES = 8

    def __init__(self, gm: GraphModule, settings) -> None:
        self._gm, self._settings = gm, settings
        self._variants: dict = {}
        self._lock = threading.Lock()
        self._warned = False
        self._users = None  # positions of the inputs that are not parameters, found on the first call

    def _signature(self, args) -> tuple:
        """The key of a call: the user inputs' shapes, dtypes and devices and the integer inputs.
        Parameters (dynamo passes them as inputs too) are left out: the compiled callable tells
        parameter sets apart itself (_FrozenGuard), and reading hundreds of them per call is host time."""
        if self._users is None:
            frozen = set(frozen_positions(self._gm, args))
            self._users = [i for i in range(len(args)) if i not in frozen]
        return tuple((tuple(a.shape), a.dtype, a.device) if isinstance(a, torch.Tensor) else
                     (type(a).__name__, a) for a in (args[i] for i in self._users))

    def __call__(self, *args):
        key = self._signature(args)
        run = self._variants.get(key)
        if run is None:
            with self._lock:
                run = self._variants.get(key)
                if run is None and len(self._variants) >= self.MAX_SHAPES:
                    if not self._warned:
                        warnings.warn(f"tensorforge: a graph with symbolic sizes was called with more than "
                                      f"{self.MAX_SHAPES} input shapes; new ones run in PyTorch")
                        self._warned = True
                    return self._gm(*args)
                if run is None:
                    logger.info("graph with symbolic sizes called with new input shapes (%d so far): compiling "
                                "engines for them", len(self._variants) + 1)
                    STATS["shape_variants"] += 1
                    run = compile_graph(self._gm, [int(a) if isinstance(a, torch.SymInt) else a for a in args],
                                        self._settings)
                    self._variants[key] = run
        return run(*args)


class _FrozenGuard:
    """Runs the engines built with the parameters a graph was compiled with, and compiles another
    set when the graph is called with other parameter tensors.

    Dynamo passes the parameters and buffers of inlined modules as graph inputs and does not guard
    on which tensors they are, so one graph may serve several modules of the same code: the layers
    of an encoder that graph-break inside each layer (BART's float16 clamp) all call the graph of
    the first. Engines hold their weights as constants, so each set of parameter tensors (told
    apart by identity) gets its own engines; a set seen before reuses its build. As with any
    frozen weights, changing a parameter's values in place after compiling is not seen. Threads may
    call it at once: the set last used and its engines are one attribute (read whole), and new sets
    are compiled under a lock. Module numbers that dynamo passes as new 0-d tensors at each call
    (lowering/freeze.py, scalar_positions) are frozen by value and compared by value."""

    def __init__(self, gm: GraphModule, settings, frozen: list[int], example_inputs, run, recompile):
        self._gm, self._settings = gm, settings
        self._recompile = recompile  # call arguments -> the callable for their parameter set
        numbers = set(scalar_positions(gm, example_inputs))  # told apart by value, not identity
        tensors = [i for i in frozen if i not in numbers]
        self._params = _getter(tensors)
        self._numbers = [i for i in frozen if i in numbers]
        first = tuple(self._params(example_inputs))  # strong references keep the ids unique
        self._current = (first, self._values(example_inputs), run)  # the set last used and its callable
        self._variants = {(tuple(map(id, first)), self._current[1]): self._current}
        self._lock = threading.Lock()

    def _values(self, args) -> tuple:
        return tuple(args[i].item() for i in self._numbers)

    def __call__(self, *args):
        known, values, run = self._current
        params = self._params(args)
        if all(map(operator.is_, params, known)) and (not self._numbers or self._values(args) == values):
            return run(*args)
        params = tuple(params)
        key = (tuple(map(id, params)), self._values(args))
        with self._lock:
            entry = self._variants.get(key)
            if entry is None:
                logger.info("graph called with another set of %d parameter tensors (%d sets so far): compiling "
                            "engines for it", len(params), len(self._variants) + 1)
                entry = (params, key[1], self._recompile(list(args)))
                self._variants[key] = entry
            self._current = entry
        return entry[2](*args)


def _getter(positions: list[int]):
    """args -> the tuple of the arguments at `positions`."""
    if len(positions) > 1:
        return operator.itemgetter(*positions)
    if positions:
        return lambda a, i=positions[0]: (a[i],)
    return lambda a: ()


def tensorforge_backend(gm: GraphModule, example_inputs, options: dict | None = None, **kwargs):
    """The "tensorforge" backend: `torch.compile(model, backend="tensorforge", options={...})`."""
    if kwargs:
        raise tf.InvalidArgumentError(f"unexpected arguments to the tensorforge backend: {sorted(kwargs)}; "
                                      "pass settings through options={...}")
    settings = CompilationSettings.from_options(options)
    gm = precompile.record(gm, example_inputs, options, _symbolic(example_inputs))  # with dynamo's precompile cache on
    if not settings.debug:
        return compile_graph(gm, example_inputs, settings)
    # debug=True: this compilation logs at debug level, and the engine's own (C++) messages at info
    # join it as "tensorforge.engine"; the levels, the routing and a handler added for it are put
    # back afterwards, so later compilations without debug stay quiet.
    level, engine_level, handler = logger.level, tf.log_level(), None
    routed = tf.log_to_python(True)  # the engine's messages join this logger's (as tensorforge.engine)
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[tensorforge] %(message)s"))
        logger.addHandler(handler)
    if engine_level in ("error", "warning"):
        tf.set_log_level("info")
    try:
        logger.debug("compiling a graph with %d nodes; settings: %s", len(gm.graph.nodes), settings.describe())
        return compile_graph(gm, example_inputs, settings)
    finally:
        logger.setLevel(level)
        tf.set_log_level(engine_level)
        tf.log_to_python(routed)
        if handler is not None:
            logger.removeHandler(handler)
