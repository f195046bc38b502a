"""Engines kept across processes: the options cache_built_engines, reuse_cached_engines,
engine_cache_dir and engine_cache_size (Torch-TensorRT's names and meaning).

An entry is one file per accelerated block, named by a SHA-256 key over everything that decides
the engine: the block's FX code and input shapes and dtypes, the bytes of every weight it holds,
the settings that change engines, the device (and for a GPU its name and compute capability), and
this installation of TensorForge (its version and its files' sizes and times, so a rebuilt library
never reuses another build's engines). The file holds a header, the block's interface as JSON
(inputs, outputs, which arguments are bound at run time) and the serialized engine. Entries are
written to a temporary file and renamed (readers see whole entries; several processes may share
the folder), and they are untrusted: a damaged one, or an engine the reader refuses, is dropped
with a warning and the block is built again. When the folder holds more than engine_cache_size
bytes, the entries used least recently are deleted.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import struct
import tempfile
import warnings

import torch

import tensorforge as tf
from tensorforge.errors import Error
from tensorforge.dynamo.conversion.interpreter import IOSpec

MAGIC = b"tensorforge engine cache 1\n"
SUFFIX = ".tfcache"
DEFAULT_SIZE = 5 << 30  # bytes, as Torch-TensorRT's default

# Settings that do not change a block's engine (the block's graph already reflects the partition).
_NOT_IN_KEY = {"debug", "dryrun", "min_block_size", "torch_executed_ops", "pass_through_build_failures",
               "require_full_compilation", "use_python_runtime", "cache_built_engines", "reuse_cached_engines",
               "engine_cache_dir", "engine_cache_size"}


def default_dir() -> str:
    """$TENSORFORGE_ENGINE_CACHE, else $XDG_CACHE_HOME/tensorforge/engines, else ~/.cache/tensorforge/engines."""
    if os.environ.get("TENSORFORGE_ENGINE_CACHE"):
        return os.environ["TENSORFORGE_ENGINE_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tensorforge", "engines")


@dataclasses.dataclass
class CachedBlock:
    """What the backend needs of a converted block besides its network."""
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    runtime_args: list[int]
    op_count: int


@functools.lru_cache(maxsize=1)
def _installation() -> bytes:
    """This installation's identity: version, and the size and time of each of its files."""
    root = os.path.dirname(os.path.abspath(tf.__file__))
    parts = [tf.__version__]
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith((".py", ".so", ".pyd")):
                st = os.stat(os.path.join(folder, name))
                parts.append(f"{os.path.relpath(os.path.join(folder, name), root)} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(parts).encode()


def _hash_tensor(h, t: torch.Tensor) -> None:
    t = t.detach()
    h.update(f"{t.dtype} {tuple(t.shape)}\n".encode())
    if t.numel():
        h.update(t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy())


def block_key(sub: torch.fx.GraphModule, constants: dict[int, torch.Tensor], settings, device: torch.device) -> str:
    """The entry key of one block (see the module's docstring)."""
    h = hashlib.sha256()
    h.update(_installation())
    for f in dataclasses.fields(settings):
        if f.name not in _NOT_IN_KEY:
            value = getattr(settings, f.name)
            value = sorted(map(str, value)) if isinstance(value, (set, frozenset)) else value
            h.update(f"{f.name}={value!r}\n".encode())
    h.update(f"device {device.type}\n".encode())
    if device.type == "cuda":
        h.update(f"{torch.cuda.get_device_name(device)} {torch.cuda.get_device_capability(device)}\n".encode())
    h.update(sub.code.encode())
    for node in sub.graph.nodes:
        val = node.meta.get("val")
        if node.op == "placeholder" and isinstance(val, torch.Tensor):
            h.update(f"{node.name} {val.dtype} {tuple(val.shape)}\n".encode())
        elif node.op == "get_attr":
            _hash_tensor(h, getattr(sub, node.target))
    for i in sorted(constants):
        h.update(f"constant {i}\n".encode())
        _hash_tensor(h, constants[i])
    return h.hexdigest()


def _path(folder: str, key: str) -> str:
    return os.path.join(folder, key + SUFFIX)


def load(folder: str, key: str) -> tuple[tf.Engine, CachedBlock] | None:
    """The engine and block stored under `key`, or None on a miss; a damaged entry is deleted with a
    warning (a miss)."""
    path = _path(folder, key)
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC) + 8)
            size = os.fstat(f.fileno()).st_size
            n = struct.unpack_from("<Q", head, len(MAGIC))[0] if len(head) == len(MAGIC) + 8 else None
            meta_bytes = f.read(n) if n is not None and n <= size - len(head) else b""
            # One read of the known size (read() to EOF grows its buffer step by step: 5x slower on a
            # 400 MB engine), handed to the engine reader as it is.
            engine_bytes = f.read(max(size - f.tell(), 0))
    except OSError:
        return None
    try:
        if not head.startswith(MAGIC) or n is None:
            raise ValueError("not an engine cache entry")
        if len(meta_bytes) != n:
            raise ValueError("truncated")
        meta = json.loads(meta_bytes.decode())
        if meta.get("key") != key:
            raise ValueError("the entry holds another key")
        block = CachedBlock([IOSpec.from_list(v) for v in meta["inputs"]], [IOSpec.from_list(v) for v in meta["outputs"]],
                            [int(i) for i in meta["runtime_args"]], int(meta["op_count"]))
        engine = tf.Engine.deserialize(engine_bytes)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, Error) as e:
        warnings.warn(f"tensorforge: engine cache entry {path} is unusable ({e}); it is deleted and the engine "
                      f"built again")
        try:
            os.remove(path)
        except OSError:
            pass
        return None
    try:
        os.utime(path)  # used now: evicted last
    except OSError:
        pass
    return engine, block


def store(folder: str, key: str, engine: tf.Engine, block, size_limit: int) -> None:
    """Writes the entry of `key` (atomically), then evicts the least recently used entries past
    `size_limit` bytes. A folder that cannot be written only costs the build next time (a warning)."""
    meta = {"key": key, "inputs": [s.to_list() for s in block.inputs], "outputs": [s.to_list() for s in block.outputs],
            "runtime_args": list(block.runtime_args), "op_count": block.op_count}
    header = json.dumps(meta).encode()
    data = MAGIC + struct.pack("<Q", len(header)) + header + engine.serialize()
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, _path(folder, key))
        except BaseException:
            os.remove(tmp)
            raise
    except OSError as e:
        warnings.warn(f"tensorforge: cannot write the engine cache in {folder}: {e}")
        return
    evict(folder, size_limit)


def evict(folder: str, size_limit: int) -> None:
    """Deletes the least recently used entries of `folder` until they total at most `size_limit`."""
    entries = []
    for name in os.listdir(folder):
        if name.endswith(SUFFIX) and not name.startswith(".tmp-"):
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            entries.append((st.st_mtime_ns, st.st_size, name))
    total = sum(size for _, size, _ in entries)
    for _, size, name in sorted(entries):
        if total <= size_limit:
            break
        try:
            os.remove(os.path.join(folder, name))
            total -= size
        except OSError:
            pass
