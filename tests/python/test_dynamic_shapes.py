"""Graphs with symbolic sizes (torch.compile's default dynamic=None after a second input shape, or
dynamic=True): each concrete input signature gets its own engines, built once and reused; past
_PerShape.MAX_SHAPES new signatures run in PyTorch with one warning. Results match eager throughout."""

import warnings

import pytest
import torch

from tensorforge.dynamo import backend


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("dynamic", (None, True))
def test_each_shape_builds_once(dynamic):
    m = _model()
    f = torch.compile(m, backend="tensorforge", dynamic=dynamic, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")  # no "runs in PyTorch" warning
        for b in (1, 2, 3, 1, 2, 3, 2):
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
    engines = backend.STATS["engines"] - before.get("engines", 0)
    variants = backend.STATS["shape_variants"] - before.get("shape_variants", 0)
    assert engines == 3, backend.STATS  # one engine per batch size, each built once
    # batch 1 compiles statically either way (dynamo specializes sizes of 1); 2 and 3 go through the
    # symbolic graph (dynamic=None: compiled once the second shape arrives)
    assert variants == 2, backend.STATS


def test_too_many_shapes_fall_back_to_pytorch(monkeypatch):
    monkeypatch.setattr(backend._PerShape, "MAX_SHAPES", 2)
    m = _model()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = backend.STATS["engines"]
    with torch.no_grad():
        for b in (2, 3):
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
        with pytest.warns(UserWarning, match="more than 2 input shapes"):
            x = torch.randn(4, 8)
            torch.testing.assert_close(f(x), m(x))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # in PyTorch too, without a second warning
            x = torch.randn(5, 8)
            torch.testing.assert_close(f(x), m(x))
    assert backend.STATS["engines"] - before == 2


def test_threads_with_new_shapes_at_once():
    """Several threads bring new shapes to one symbolic graph's compiled form at once (called
    directly: dynamo's own compilation is not for several threads): each shape is compiled once,
    under the lock, and every call matches eager."""
    import concurrent.futures

    from tensorforge.dynamo.settings import CompilationSettings

    m = _model()
    params = [p for p in m.parameters()]  # graph inputs, as dynamo passes them (frozen into the engines)

    def forward(x, w1, b1, w2, b2):
        return (torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(x, w1, b1)), w2, b2),)  # as dynamo

    per_shape = backend._PerShape(torch.fx.symbolic_trace(forward), CompilationSettings.from_options({"min_block_size": 1}))
    xs = [torch.randn(b, 8) for b in (2, 3, 4, 5) for _ in range(3)]
    before = dict(backend.STATS)
    with torch.no_grad():
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            outs = list(pool.map(lambda x: per_shape(x, *params), xs))
        for x, y in zip(xs, outs):
            torch.testing.assert_close(y[0], m(x))
    assert backend.STATS["shape_variants"] - before.get("shape_variants", 0) == 4  # 2, 3, 4 and 5 once each
    assert backend.STATS["engines"] - before.get("engines", 0) == 4
