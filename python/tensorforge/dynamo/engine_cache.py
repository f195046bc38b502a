"""Engines kept across processes: the options cache_built_engines, reuse_cached_engines,
engine_cache_dir and engine_cache_size (Torch-TensorRT's names and meaning).

An entry is one file per accelerated block, named by a SHA-256 key over everything that decides
the engine: the block's FX code and input shapes and dtypes, the bytes of every weight it holds,
the settings that change engines, the device (and for a GPU its name and compute capability), and
this installation of TensorForge (its version and its files' sizes and times, so a rebuilt library
never reuses another build's engines); for a block with symbolic sizes also the sizes' ranges. The
file holds a header, the block's interface as JSON (inputs, outputs, which arguments are bound at
run time, whether the engine is dynamic) and the serialized engine (a dynamic engine's file holds its
opt plan: a hit builds nothing). Entries are
written to a temporary file and renamed (readers see whole entries; several processes may share
the folder), and they are untrusted: a damaged one, or an engine the reader refuses, is dropped
with a warning and the block is built again. When the folder holds more than engine_cache_size
bytes, the entries used least recently are deleted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import warnings

import torch

import tensorforge as tf
from tensorforge.dynamo import cache_files
from tensorforge.errors import Error
from tensorforge.dynamo.runtime.io_spec import IOSpec

MAGIC = b"tensorforge engine cache 1\n"
SUFFIX = ".tfcache"
DEFAULT_SIZE = 5 << 30  # bytes, as Torch-TensorRT's default

# Settings that do not change a block's engine (the block's graph already reflects the partition).
_NOT_IN_KEY = {"debug", "dryrun", "min_block_size", "torch_executed_ops", "pass_through_build_failures",
               "require_full_compilation", "use_python_runtime", "cache_built_engines", "reuse_cached_engines",
               "engine_cache_dir", "engine_cache_size"}


def default_dir() -> str:
    """$TENSORFORGE_ENGINE_CACHE, else $XDG_CACHE_HOME/tensorforge/engines, else ~/.cache/tensorforge/engines."""
    return os.environ.get("TENSORFORGE_ENGINE_CACHE") or cache_files.cache_home("engines")


@dataclasses.dataclass
class CachedBlock:
    """What the backend needs of a converted block besides its network."""
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    runtime_args: list[int]
    op_count: int
    dynamic: bool = False  # a DynamicEngine (docs/dynamic_shapes.md)


def block_key(sub: torch.fx.GraphModule, constants: dict[int, torch.Tensor], settings, device: torch.device,
              sizes: dict | None = None) -> str:
    """The entry key of one block (see the module's docstring); `sizes` are a dynamic block's named
    sizes and their (min, opt, max)."""
    h = hashlib.sha256()
    if sizes:
        h.update(f"sizes {sorted(sizes.items())}\n".encode())
    h.update(cache_files.installation())
    for f in dataclasses.fields(settings):
        if f.name not in _NOT_IN_KEY:
            value = getattr(settings, f.name)
            value = sorted(map(str, value)) if isinstance(value, (set, frozenset)) else value
            h.update(f"{f.name}={value!r}\n".encode())
    h.update(f"device {device.type}\n".encode())
    if device.type == "cuda":
        h.update(f"{torch.cuda.get_device_name(device)} {torch.cuda.get_device_capability(device)}\n".encode())
    h.update(sub.code.encode())
    weights = []
    for node in sub.graph.nodes:
        val = node.meta.get("val")
        if node.op == "placeholder" and isinstance(val, torch.Tensor):
            h.update(f"{node.name} {val.dtype} {tuple(val.shape)}\n".encode())
        elif node.op == "get_attr":
            h.update(f"attr {node.target}\n".encode())
            weights.append(getattr(sub, node.target))
    for i in sorted(constants):
        h.update(f"constant {i}\n".encode())
        weights.append(constants[i])
    cache_files.hash_tensors(h, weights)  # every weight's bytes, on several threads
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
                            [int(i) for i in meta["runtime_args"]], int(meta["op_count"]), meta.get("dynamic") is True)
        engine = (tf.DynamicEngine if block.dynamic else tf.Engine).deserialize(engine_bytes)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, Error) as e:
        cache_files.discard(path, f"tensorforge: engine cache entry {path} is unusable ({e}); it is deleted and the "
                                  "engine built again")
        return None
    cache_files.touch(path)
    return engine, block


def store(folder: str, key: str, engine: tf.Engine, block, size_limit: int) -> None:
    """Writes the entry of `key` (atomically), then evicts the least recently used entries past
    `size_limit` bytes. A folder that cannot be written only costs the build next time (a warning)."""
    meta = {"key": key, "inputs": [s.to_list() for s in block.inputs], "outputs": [s.to_list() for s in block.outputs],
            "runtime_args": list(block.runtime_args), "op_count": block.op_count,
            "dynamic": isinstance(engine, tf.DynamicEngine)}
    header = json.dumps(meta).encode()
    data = MAGIC + struct.pack("<Q", len(header)) + header + engine.serialize()
    try:
        cache_files.write_atomically(_path(folder, key), data)
    except OSError as e:
        warnings.warn(f"tensorforge: cannot write the engine cache in {folder}: {e}")
        return
    cache_files.evict(folder, SUFFIX, size_limit)
