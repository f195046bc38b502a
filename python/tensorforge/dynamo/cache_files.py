"""What the backend's caches on disk share: this installation's identity (part of every key), atomic
writes into a folder shared by several processes, and eviction of the entries used least recently."""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import os
import tempfile
import warnings

import torch

import tensorforge as tf


def cache_home(subfolder: str) -> str:
    """$XDG_CACHE_HOME/tensorforge/<subfolder>, else ~/.cache/tensorforge/<subfolder>."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tensorforge", subfolder)


@functools.lru_cache(maxsize=1)
def installation() -> bytes:
    """This installation's identity: version, and the size and time of each of its files (so a
    rebuilt library or an edited Python file never reuses another build's entries)."""
    root = os.path.dirname(os.path.abspath(tf.__file__))
    parts = [tf.__version__]
    for folder, _, files in sorted(os.walk(root, followlinks=True)):  # a development tree of links too
        for name in sorted(files):
            if name.endswith((".py", ".so", ".pyd")):
                st = os.stat(os.path.join(folder, name))
                parts.append(f"{os.path.relpath(os.path.join(folder, name), root)} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(parts).encode()


def hash_tensor(h, t: torch.Tensor) -> None:
    """Adds a tensor's dtype, shape and bytes to hashlib object `h`."""
    hash_tensors(h, [t])


_HASH_THREADS = min(8, os.cpu_count() or 1)


def _digest(t: torch.Tensor) -> bytes:
    if not t.numel():
        return b""
    return hashlib.sha256(t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy()).digest()


def hash_tensors(h, tensors) -> None:
    """Adds each tensor's dtype, shape and the SHA-256 of its bytes to hashlib object `h`, in order.
    The tensors are copied to the host and hashed on up to eight threads at once (hashlib and the
    copies release the GIL): a transformer's weights are hundreds of MB, which one thread hashes at
    about 1.5 GB/s."""
    tensors = [t.detach() for t in tensors]
    big = sum(t.numel() * t.element_size() for t in tensors) >= (64 << 20) and _HASH_THREADS > 1
    if big:
        with concurrent.futures.ThreadPoolExecutor(_HASH_THREADS, thread_name_prefix="tensorforge-hash") as pool:
            digests = list(pool.map(_digest, tensors))
    else:
        digests = [_digest(t) for t in tensors]
    for t, d in zip(tensors, digests):
        h.update(f"{t.dtype} {tuple(t.shape)}\n".encode())
        h.update(d)


def write_atomically(path: str, data: bytes) -> None:
    """Writes `path` through a temporary file in its folder and a rename, so readers see whole files
    only. Raises OSError when the folder cannot be written."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def evict(folder: str, suffix: str, size_limit: int) -> None:
    """Deletes the least recently used entries (files ending in `suffix`) of `folder` until they total
    at most `size_limit` bytes."""
    entries = []
    for name in os.listdir(folder):
        if name.endswith(suffix) and not name.startswith(".tmp-"):
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


def touch(path: str) -> None:
    """Marks an entry as used now (evicted last)."""
    try:
        os.utime(path)
    except OSError:
        pass


def discard(path: str, warning: str) -> None:
    """Warns that the entry at `path` is unusable and deletes it (the caller then builds anew)."""
    warnings.warn(warning)
    try:
        os.remove(path)
    except OSError:
        pass
