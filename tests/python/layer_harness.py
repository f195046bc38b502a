"""Shared helpers for the per-layer Python tests: build a one-layer network through the Python API,
run it on torch tensors, and compare with the matching torch operation under a per-dtype tolerance.

The reference runs in float32 (on float32 copies of low-precision inputs), so a float16/bfloat16
result is checked against the exact answer with that dtype's tolerance.
"""

from __future__ import annotations

import numpy as np
import torch

import tensorforge as tf
from tensorforge.testing.networks import network_of

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# (atol, rtol) per dtype: float32 allows BLAS reassociation; float16 about 2 ulp; bfloat16 about 2 ulp.
TOLERANCE = {
    torch.float32: (1e-5, 1e-5),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


def run_network(build, inputs, roundtrip=False):
    """Builds a network whose inputs are `inputs` (torch tensors), whose layers `build(net, *xs)` adds
    (returning one tensor or a list), runs it and returns the outputs. With `roundtrip`, the engine
    goes through serialize/deserialize first."""
    engine = tf.Builder().build(network_of(build, inputs))
    if roundtrip:
        engine = tf.Engine.deserialize(engine.serialize())
    return [torch.from_numpy(o) if isinstance(o, np.ndarray) else o for o in engine(*inputs)]


def reference(fn, *inputs):
    """Runs `fn` on float32 copies of floating inputs (other inputs unchanged)."""
    return fn(*[t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in inputs])


def assert_close(actual, expected, dtype=None, atol=None, rtol=None, msg=""):
    """Checks shape, dtype (when `dtype` is given) and values within the tolerance of `dtype`
    (default: actual's dtype); integer and bool results must match exactly."""
    dtype = dtype or actual.dtype
    assert tuple(actual.shape) == tuple(expected.shape), f"{msg}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == dtype, f"{msg}: dtype {actual.dtype} != {dtype}"
    if dtype.is_floating_point:
        a, r = TOLERANCE[dtype]
        torch.testing.assert_close(actual.float(), expected.float(), atol=atol if atol is not None else a,
                                   rtol=rtol if rtol is not None else r, equal_nan=True, msg=lambda m: f"{msg}: {m}")
    else:
        assert torch.equal(actual, expected.to(dtype)), f"{msg}: {actual} != {expected}"


def randn(*shape, dtype=torch.float32, seed=0):
    """Deterministic normal values in `dtype`."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g).to(dtype)
