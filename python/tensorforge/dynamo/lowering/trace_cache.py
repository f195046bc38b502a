"""The ATen traces of dynamo graphs, kept on disk across processes, so that compiling a model again
skips aot_export's tracing (most of a warm compile's lowering: 0.5-0.9 s for ResNet-50).

An entry is keyed by a SHA-256 over everything the trace depends on: the dynamo graph (each node's
op, target and arguments, after the kept ops are wrapped), its inputs (shape, strides, offset,
dtype, device, which share storage, which are frozen parameters), the state that changes what
tracing records (autocast, the default dtype), PyTorch's version and this installation of
TensorForge. A graph whose key cannot be written exactly (a call of a function outside PyTorch, a
submodule, an argument of a kind not listed in `_describe`) is traced every time.

The entry holds the ATen graph as data, never code: nodes with their op, name and arguments, each
target an ATen operator found by name under torch.ops or one of a few Python operators; the tensor
constants as raw bytes; and each node's value (node.meta["val"]) as shape, strides, offset, dtype,
device and which storage it shares, rebuilt as fake tensors over meta tensors without running the
graph (a graph whose storages are seen through two dtypes is run on fake tensors instead). A read
entry is checked as it is rebuilt; one that does not rebuild, or does not fit the inputs, is
deleted with a warning and the graph traced again. Entries are files in `default_dir()`, written
atomically (processes may share the folder); past SIZE_LIMIT bytes the least recently used are
deleted. Threads may lower graphs at once (a graph with symbolic sizes compiles each shape at
call time): entries are read and written whole, and each read makes its own fake mode.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import os
import struct
import warnings

import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.fx import Graph, GraphModule, Node
from torch.fx._lazy_graph_module import _LazyGraphModule
from torch.fx.passes.fake_tensor_prop import FakeTensorProp
from torch.multiprocessing.reductions import StorageWeakRef

from tensorforge.dynamo import cache_files

MAGIC = b"tensorforge trace cache 1\n"
SUFFIX = ".tftrace"
SIZE_LIMIT = 1 << 30
_EVICT_EVERY = 32  # stores between evictions (listing the folder is not free)
_stores = 0

# Python callables an ATen trace may call besides ATen operators, by the name an entry gives them.
_PY_TARGETS = {"operator.getitem": operator.getitem}
# Packages whose functions a dynamo graph may call for its key to describe it by name.
_KNOWN_PACKAGES = {"torch", "operator", "_operator", "builtins", "math", "tensorforge"}


class _NotCacheable(Exception):
    pass


def default_dir() -> str | None:
    """$TENSORFORGE_TRACE_CACHE ("off": no cache, None), else $XDG_CACHE_HOME/tensorforge/traces, else
    ~/.cache/tensorforge/traces."""
    value = os.environ.get("TENSORFORGE_TRACE_CACHE")
    if value == "off":
        return None
    return value or cache_files.cache_home("traces")


# ----------------------------------------------------------------------------------------- the key

def _target_name(target) -> str:
    if isinstance(target, str):
        return target
    if isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return f"op {target}"
    module = getattr(target, "__module__", None)
    if module is None and isinstance(getattr(target, "__self__", None), type(torch)):
        module = target.__self__.__name__  # a builtin of a C extension module, such as torch._C._nn
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if not module or not name or module.split(".")[0] not in _KNOWN_PACKAGES:
        raise _NotCacheable(f"calls {target!r}")
    return f"{module}.{name}"


def _describe(value) -> str:
    """A text that tells apart any two argument values that trace differently."""
    if isinstance(value, Node):
        return f"%{value.name}"
    if value is None or value is Ellipsis or type(value) in (bool, int, float, complex, str):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, (list, tuple)):  # torch.Size too
        return f"{type(value).__name__}[{','.join(_describe(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{_describe(v)}" for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(value, slice):
        return f"slice({_describe(value.start)},{_describe(value.stop)},{_describe(value.step)})"
    if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
        return f"{type(value).__name__}:{value}"
    raise _NotCacheable(f"an argument of type {type(value).__name__}")


def _describe_input(value, storages: dict) -> str:
    if isinstance(value, FakeTensor):
        raise _NotCacheable("a fake input (a graph torch.export traced with dynamic shapes)")
    if isinstance(value, torch.Tensor):
        storage = storages.setdefault(value.untyped_storage().data_ptr() if value.device.type != "meta" else id(value),
                                      len(storages))
        return (f"tensor {value.dtype} {tuple(value.shape)} {value.stride()} {value.storage_offset()} {value.device} "
                f"grad={value.requires_grad} param={isinstance(value, torch.nn.Parameter)} storage={storage} "
                f"layout={value.layout}")
    if type(value) in (bool, int, float):
        return f"{type(value).__name__} {value!r}"
    raise _NotCacheable(f"an input of type {type(value).__name__}")


def graph_key(gm: GraphModule, example_inputs, frozen: list[int]) -> str | None:
    """The entry key of dynamo graph `gm` with these inputs, or None when it cannot be keyed exactly."""
    h = hashlib.sha256()
    h.update(cache_files.installation())
    h.update(f"torch {torch.__version__} default dtype {torch.get_default_dtype()}\n".encode())
    for device in ("cpu", "cuda"):
        h.update(f"autocast {device} {torch.is_autocast_enabled(device)} {torch.get_autocast_dtype(device)}\n".encode())
    try:
        storages: dict = {}
        for value in example_inputs:
            h.update((_describe_input(value, storages) + "\n").encode())
        h.update(f"frozen {sorted(frozen)}\n".encode())
        for node in gm.graph.nodes:
            if node.op in ("call_module",):
                raise _NotCacheable("calls a submodule")
            h.update(f"{node.op} {node.name} {_target_name(node.target)} {_describe(node.args)} "
                     f"{_describe(node.kwargs)}\n".encode())
            if node.op == "get_attr":
                value = getattr(gm, node.target)
                if not isinstance(value, torch.Tensor):
                    raise _NotCacheable(f"reads attribute {node.target} of type {type(value).__name__}")
                cache_files.hash_tensor(h, value)
                h.update(f"{value.device} {value.stride()}\n".encode())
    except _NotCacheable:
        return None
    return h.hexdigest()


# ------------------------------------------------------------------------------ writing an entry

def _encode(value):
    """JSON for an argument of an ATen graph (tagged objects for what JSON has no form of)."""
    if isinstance(value, Node):
        return {"node": value.name}
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return {"float": repr(value)}  # keeps inf and nan exact
    if isinstance(value, (list, tuple)):
        items = [_encode(v) for v in value]
        # FX keeps a traced list as immutable_list (a list subclass): it stays a list, so that a graph
        # read back prints, and so keys engines, as the traced one does.
        return items if isinstance(value, list) else {"tuple": items}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, torch.layout):
        return {"layout": str(value).removeprefix("torch.")}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    raise _NotCacheable(f"an ATen argument of type {type(value).__name__}")


def _encode_target(target):
    if isinstance(target, str):
        return target
    if isinstance(target, torch._ops.OpOverload):
        return {"op": target._schema.name, "overload": target._overloadname}
    for name, known in _PY_TARGETS.items():
        if target is known:
            return {"python": name}
    raise _NotCacheable(f"an ATen graph calling {target!r}")


def _storage_id(t: torch.Tensor) -> int:
    return StorageWeakRef(t.untyped_storage()).cdata


def _encode_values(aten_gm: GraphModule) -> list | None:
    """Each node's meta["val"] as data: tensors as [shape, stride, offset, dtype, device, storage
    group], the group numbering the storages in the order the graph first meets them, with their
    sizes in bytes. None when a storage is seen through tensors of two dtypes (views through
    aten.view.dtype), which the reader could not rebuild as views of one tensor: it then runs the
    graph on fake tensors instead."""
    groups: dict[int, list] = {}  # storage id -> [number, dtype, nbytes]

    def one(v):
        if isinstance(v, torch.Tensor):
            sid = _storage_id(v)
            group = groups.setdefault(sid, [len(groups), v.dtype, v.untyped_storage().nbytes()])
            if group[1] != v.dtype:
                raise _NotCacheable("a storage seen with two dtypes")
            return {"tensor": [list(v.shape), list(v.stride()), v.storage_offset(), str(v.dtype).removeprefix("torch."),
                               str(v.device), group[0]]}
        if isinstance(v, (list, tuple)):
            return [one(e) for e in v]
        if v is None or type(v) in (bool, int, float):
            return _encode(v)
        raise _NotCacheable(f"a value of type {type(v).__name__}")

    try:
        values = []
        for n in aten_gm.graph.nodes:
            if n.op == "placeholder" and not isinstance(n.meta.get("val"), torch.Tensor):
                raise _NotCacheable("an input that is not a tensor")
            values.append(one(n.meta.get("val")))
    except _NotCacheable:
        return None
    return [values, [nbytes for _, _, nbytes in sorted(groups.values(), key=lambda g: g[0])]]


def encode(aten_gm: GraphModule) -> bytes | None:
    """An entry's body for ATen graph `aten_gm`, or None when it holds something an entry cannot."""
    constants: dict[str, torch.Tensor] = {}
    nodes = []
    try:
        if type(aten_gm.graph._codegen) is not torch.fx.graph.CodeGen:
            raise _NotCacheable("a graph with its own calling convention")
        for node in aten_gm.graph.nodes:
            if node.op == "get_attr":
                value = getattr(aten_gm, node.target)
                if not isinstance(value, torch.Tensor) or "." in node.target:
                    raise _NotCacheable(f"attribute {node.target}")
                constants[node.target] = value.detach()
            elif node.op not in ("placeholder", "call_function", "output"):
                raise _NotCacheable(f"a {node.op} node")
            nodes.append({"op": node.op, "name": node.name, "target": _encode_target(node.target),
                          "args": _encode(list(node.args)), "kwargs": {k: _encode(v) for k, v in node.kwargs.items()},
                          "trace": node.meta.get("stack_trace")})
    except _NotCacheable:
        return None
    blobs, tensors = [], {}
    for name, value in constants.items():
        data = value.contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b""
        tensors[name] = {"dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
                         "device": str(value.device), "nbytes": len(data)}
        blobs.append(data)
    header = json.dumps({"nodes": nodes, "constants": tensors, "values": _encode_values(aten_gm)}).encode()
    return struct.pack("<Q", len(header)) + header + b"".join(blobs)


def store(key: str, aten_gm: GraphModule) -> None:
    """Keeps `aten_gm` under `key` (when it can be written as an entry and the cache is on)."""
    global _stores
    folder = default_dir()
    if folder is None:
        return
    body = encode(aten_gm)
    if body is None:
        return
    try:
        cache_files.write_atomically(os.path.join(folder, key + SUFFIX), MAGIC + body)
    except OSError as e:
        warnings.warn(f"tensorforge: cannot write the trace cache in {folder}: {e}")
        return
    _stores += 1
    if _stores % _EVICT_EVERY == 1:
        cache_files.evict(folder, SUFFIX, SIZE_LIMIT)


# ------------------------------------------------------------------------------ reading an entry

class BadEntry(ValueError):
    pass


def _resolve_target(spec):
    if isinstance(spec, str):
        return spec
    if not isinstance(spec, dict):
        raise BadEntry("a target that is neither a name nor an operator")
    if "python" in spec:
        if spec["python"] not in _PY_TARGETS:
            raise BadEntry(f"unknown Python target {spec['python']!r}")
        return _PY_TARGETS[spec["python"]]
    namespace, _, name = str(spec.get("op", "")).partition("::")
    try:
        packet = getattr(getattr(torch.ops, namespace), name)
        op = getattr(packet, str(spec.get("overload")) or "default")
    except (AttributeError, RuntimeError) as e:
        raise BadEntry(f"no operator {spec}") from e
    if not isinstance(op, torch._ops.OpOverload):
        raise BadEntry(f"{spec} is not an operator overload")
    return op


_TAGS = {
    "dtype": lambda v: getattr(torch, v),
    "layout": lambda v: getattr(torch, v),
    "memory_format": lambda v: getattr(torch, v),
    "device": torch.device,
    "float": float,
}
_TAG_TYPES = {"dtype": torch.dtype, "layout": torch.layout, "memory_format": torch.memory_format}


def _decode(value, env: dict):
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, list):
        return [_decode(v, env) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        raise BadEntry("an unreadable argument")
    (tag, inner), = value.items()
    if tag == "node":
        if inner not in env:
            raise BadEntry(f"argument {inner!r} names no earlier node")
        return env[inner]
    if tag == "tuple":
        return tuple(_decode(v, env) for v in inner)
    if tag not in _TAGS or not isinstance(inner, str):
        raise BadEntry(f"an argument tagged {tag!r}")
    try:
        decoded = _TAGS[tag](inner)
    except (AttributeError, RuntimeError, ValueError, TypeError) as e:
        raise BadEntry(f"bad {tag} {inner!r}") from e
    if tag in _TAG_TYPES and not isinstance(decoded, _TAG_TYPES[tag]):
        raise BadEntry(f"{inner!r} is not a {tag}")
    return decoded


def _read_constants(specs: dict, data: memoryview) -> dict[str, torch.Tensor]:
    """The tensor constants of an entry, from their raw bytes (not torch.load: it makes fake tensors
    while dynamo compiles, and an entry is not trusted with pickles)."""
    if not isinstance(specs, dict):
        raise BadEntry("unreadable constants")
    constants, at = {}, 0
    for name, spec in specs.items():
        dtype = _decode({"dtype": spec["dtype"]}, {})
        shape, nbytes = spec["shape"], spec["nbytes"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape) and
                isinstance(nbytes, int) and nbytes == math.prod(shape) * dtype.itemsize and at + nbytes <= len(data)):
            raise BadEntry(f"constant {name!r} does not fit its bytes")
        flat = (torch.frombuffer(bytearray(data[at:at + nbytes]), dtype=dtype) if nbytes else
                torch.empty((0,), dtype=dtype))
        constants[name] = flat.reshape(shape).to(torch.device(spec["device"]))
        at += nbytes
    if at != len(data):
        raise BadEntry("bytes past the constants")
    return constants


def decode(body: bytes, example_inputs) -> GraphModule:
    """Rebuilds the ATen graph of an entry's body and finds its values for `example_inputs`; raises
    BadEntry when the body is damaged or does not fit the inputs."""
    if len(body) < 8:
        raise BadEntry("truncated")
    n = struct.unpack_from("<Q", body)[0]
    if n > len(body) - 8:
        raise BadEntry("truncated")
    try:
        header = json.loads(body[8:8 + n].decode())
        nodes = header["nodes"]
        constants = _read_constants(header["constants"], memoryview(body)[8 + n:])
    except BadEntry:
        raise
    except Exception as e:  # noqa: BLE001 - anything unreadable is a damaged entry
        raise BadEntry(f"unreadable ({type(e).__name__}: {e})") from e
    if not isinstance(nodes, list):
        raise BadEntry("unexpected contents")
    root = torch.nn.Module()
    graph = Graph()
    env: dict[str, Node] = {}
    placeholders = 0
    for spec in nodes:
        if not isinstance(spec, dict):
            raise BadEntry("a node that is not an object")
        op, name = spec.get("op"), spec.get("name")
        if op not in ("placeholder", "get_attr", "call_function", "output") or not isinstance(name, str) or name in env:
            raise BadEntry(f"node {name!r}: op {op!r}")
        target = _resolve_target(spec.get("target"))
        if op == "get_attr":
            if target not in constants or not isinstance(constants[target], torch.Tensor) or "." in target:
                raise BadEntry(f"constant {target!r} is missing")
            root.register_buffer(target, constants[target])
        if op == "call_function" and isinstance(target, str):
            raise BadEntry(f"node {name}: a call of a name")
        if op in ("placeholder", "get_attr") and not isinstance(target, str):
            raise BadEntry(f"node {name}: an operator as a name")
        args = _decode(spec.get("args"), env)
        kwargs = spec.get("kwargs")
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise BadEntry(f"node {name}: unreadable arguments")
        kwargs = {str(k): _decode(v, env) for k, v in kwargs.items()}
        if op == "output" and (len(args) != 1 or kwargs):
            raise BadEntry("an output node without one argument")
        try:
            node = graph.create_node(op, target, tuple(args), kwargs, name=name)
        except Exception as e:  # noqa: BLE001 - FX refuses a malformed node
            raise BadEntry(f"node {name}: {e}") from e
        if isinstance(spec.get("trace"), str):
            node.meta["stack_trace"] = spec["trace"]
        env[name] = node
        placeholders += op == "placeholder"
    if not nodes or nodes[-1].get("op") != "output" or sum(s.get("op") == "output" for s in nodes) != 1:
        raise BadEntry("the graph does not end in one output")
    if placeholders != len(example_inputs):
        raise BadEntry(f"the graph takes {placeholders} inputs, not {len(example_inputs)}")
    try:
        graph.lint()
        # Its Python code is generated when it first runs: lowering's passes and the partitioner
        # change the graph before that, so code generated now would be thrown away (BERT-base's
        # 2,800 nodes: about 0.04 s a generation on the GPU host).
        gm = _LazyGraphModule(root, graph)
        mode = FakeTensorMode(allow_non_fake_inputs=True)
        with torch.no_grad():
            if header.get("values") is None:
                fakes = [mode.from_tensor(t, static_shapes=True) if isinstance(t, torch.Tensor) else t
                         for t in example_inputs]
                FakeTensorProp(gm, mode).propagate_dont_convert_inputs(*fakes)
                gm.graph.output_node().meta.pop("val", None)  # as traced graphs have it
            else:
                _set_values(gm, header["values"], example_inputs, mode)
    except BadEntry:
        raise
    except Exception as e:  # noqa: BLE001 - an entry that does not run on these inputs is damaged
        raise BadEntry(f"does not run on the inputs ({type(e).__name__}: {str(e)[:200]})") from e
    return gm


def _set_values(gm: GraphModule, stored, example_inputs, mode: FakeTensorMode) -> None:
    """Sets each node's meta["val"] from an entry's values (see _encode_values), as fake tensors over
    meta tensors made directly (a fake tensor op costs 10x more): a storage's first tensor is a new
    meta tensor of the storage's size (an input's: the real input's storage size), every other
    tensor a view of it, so values share storage as the traced ones did. Constants go through
    mode.from_tensor."""
    if not isinstance(stored, list) or len(stored) != 2 or not isinstance(stored[0], list):
        raise BadEntry("unreadable values")
    values, sizes = stored
    nodes = list(gm.graph.nodes)
    if len(values) != len(nodes) or not isinstance(sizes, list):
        raise BadEntry("values for another graph")
    bases: dict[int, tuple] = {}  # group -> (meta tensor, device), or (fake tensor, None) for a constant's
    inputs = iter(example_inputs)

    def view(group, shape, stride, offset, dtype):
        base, device = bases[group]
        if base.dtype != dtype:
            raise BadEntry("a storage seen with two dtypes")
        extent = offset + sum((d - 1) * abs(st) for d, st in zip(shape, stride)) + 1 if all(shape) else 0
        if extent * dtype.itemsize > base.untyped_storage().nbytes():
            raise BadEntry("a view past its storage")
        if device is None:
            with mode:
                return torch.as_strided(base, shape, stride, offset)
        return FakeTensor(mode, base.as_strided(shape, stride, offset), device)

    def build(v, node):
        if isinstance(v, list):
            return [build(e, None) for e in v]
        if not isinstance(v, dict) or "tensor" not in v:
            return _decode(v, {})
        shape, stride, offset, dtype, device, group = v["tensor"]
        dtype = _decode({"dtype": dtype}, {})
        if not (isinstance(group, int) and 0 <= group < len(sizes) and isinstance(offset, int) and offset >= 0 and
                isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape) and
                isinstance(stride, list) and len(stride) == len(shape) and all(isinstance(d, int) for d in stride)):
            raise BadEntry("an unreadable tensor value")
        op = node.op if node is not None else None
        if op in ("placeholder", "get_attr"):
            real = next(inputs, None) if op == "placeholder" else getattr(gm, node.target)
            if not isinstance(real, torch.Tensor) or list(real.shape) != shape or list(real.stride()) != stride or \
                    real.storage_offset() != offset or real.dtype != dtype:
                raise BadEntry("values that do not fit the inputs")
            if op == "get_attr":
                fake = mode.from_tensor(real, static_shapes=True)
                bases.setdefault(group, (fake, None))
                return fake
            if group not in bases:
                storage = real.untyped_storage().nbytes()
                bases[group] = (torch.empty((storage // dtype.itemsize,), dtype=dtype, device="meta"), real.device)
            return view(group, shape, stride, offset, dtype)
        if group not in bases:
            nbytes = sizes[group]
            if not isinstance(nbytes, int) or nbytes < 0 or nbytes % dtype.itemsize:
                raise BadEntry("an unreadable storage size")
            device = torch.device(device)
            extent = offset + sum((d - 1) * st for d, st in zip(shape, stride)) + 1 if all(shape) else 0
            if offset == 0 and extent * dtype.itemsize == nbytes and min(stride, default=0) >= 0:
                meta = torch.empty_strided(shape, stride, dtype=dtype, device="meta")
                bases[group] = (meta, device)
                return FakeTensor(mode, meta, device)  # the usual case: a tensor that is its whole storage
            bases[group] = (torch.empty((nbytes // dtype.itemsize,), dtype=dtype, device="meta"), device)
        return view(group, shape, stride, offset, dtype)

    for node, v in zip(nodes, values):
        if node.op == "placeholder" and not (isinstance(v, dict) and "tensor" in v):
            raise BadEntry("an input without a tensor value")
        val = build(v, node)
        if val is not None:
            node.meta["val"] = tuple(val) if isinstance(val, list) and node.op != "output" else val


def load(key: str, example_inputs) -> GraphModule | None:
    """The ATen graph kept under `key`, rebuilt for `example_inputs`, or None on a miss; a damaged
    entry is deleted with a warning (a miss)."""
    folder = default_dir()
    if folder is None:
        return None
    path = os.path.join(folder, key + SUFFIX)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        if not data.startswith(MAGIC):
            raise BadEntry("not a trace cache entry")
        gm = decode(data[len(MAGIC):], example_inputs)
    except BadEntry as e:
        cache_files.discard(path, f"tensorforge: trace cache entry {path} is unusable ({e}); it is deleted and the "
                                  "graph traced again")
        return None
    cache_files.touch(path)
    return gm
