"""Harness for converter tests: compile a small function with the tensorforge backend, check that
the ATen ops under test appeared in the lowered graph and ran inside an engine (not in PyTorch),
and compare with eager under a per-dtype tolerance."""

from __future__ import annotations

import torch
import torch._dynamo

from tensorforge.dynamo import REPORTS, STATS

# (atol, rtol) per output dtype; integer and bool outputs must match exactly.
TOLERANCE = {
    torch.float32: (1e-5, 1e-5),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class _Wrap(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _flat(x):
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _flat(v)]
    return []


def check_converter(fn, inputs, expected_ops, options=None, atol=None, rtol=None, msg="", expect_engine=True):
    """Compiles `fn` (a function or module) with every node eligible for an engine, runs it on
    `inputs`, asserts each op in `expected_ops` (OpOverloads) was in the graph and converted, and
    compares every output with eager. Engine build failures raise (they would otherwise fall back to
    PyTorch and hide a broken converter). With expect_engine=False, no engine is required (for
    variants that must stay in PyTorch). Returns the report of the compiled graph."""
    torch._dynamo.reset()
    module = fn if isinstance(fn, torch.nn.Module) else _Wrap(fn)
    module.eval()
    with torch.no_grad():
        expected = module(*inputs)
        before = STATS["graphs"]
        compiled = torch.compile(module, backend="tensorforge", dynamic=False,
                                 options={"min_block_size": 1, "pass_through_build_failures": True,
                                          **(options or {})})
        actual = compiled(*inputs)
    assert STATS["graphs"] > before, f"{msg}: nothing was compiled"
    report = REPORTS[-1]
    for op in expected_ops:
        name = str(op)
        assert name in report.op_counts, f"{msg}: {name} not in the lowered graph; it has {sorted(report.op_counts)}"
        assert name not in report.unsupported, f"{msg}: {name} stayed in PyTorch: {report.unsupported[name]}"
    if expect_engine:
        assert report.engines, f"{msg}: no engine was built: {report.to_text()}"
    for a, e in zip(_flat(actual), _flat(expected), strict=True):
        assert a.shape == e.shape, f"{msg}: shape {tuple(a.shape)} != {tuple(e.shape)}"
        assert a.dtype == e.dtype, f"{msg}: dtype {a.dtype} != {e.dtype}"
        if e.dtype.is_floating_point:
            da, dr = TOLERANCE.get(e.dtype, (1e-5, 1e-5))
            torch.testing.assert_close(a, e, atol=atol if atol is not None else da,
                                       rtol=rtol if rtol is not None else dr, equal_nan=True,
                                       msg=lambda m: f"{msg}: {m}")
        else:
            assert torch.equal(a, e), f"{msg}: {a} != {e}"
    return report


def randn(*shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g).to(dtype)
