"""Execution contexts of one engine for concurrent calls.

An execution context holds one call's activation memory, so it serves one call at a time. The
callables that users share between threads (`Engine.__call__`, the modules torch.compile builds)
take a free context from a pool for each call and give it back after: the pool grows to the largest
number of calls in flight at once, and no two calls ever share a context. A single-threaded caller
always gets the same context back (last in, first out), so a CUDA engine keeps replaying the graph
it captured.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class ContextPool:
    """Free execution contexts of one `_C.Engine`, created on demand."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self._free: list = []
        self._lock = threading.Lock()
        self._created = 0

    @property
    def size(self) -> int:
        """How many contexts the pool has created (the most calls that were in flight at once)."""
        return self._created

    def acquire(self):
        """A context for one call alone; give it back with release() (context() does both)."""
        with self._lock:
            if self._free:
                return self._free.pop()
            self._created += 1
        return self._engine.create_execution_context()

    def release(self, ctx) -> None:
        """Returns a context acquire() gave."""
        with self._lock:
            self._free.append(ctx)

    @contextmanager
    def context(self) -> Iterator:
        """A context for this call alone; it returns to the pool when the `with` block ends."""
        ctx = self.acquire()
        try:
            yield ctx
        finally:
            self.release(ctx)
