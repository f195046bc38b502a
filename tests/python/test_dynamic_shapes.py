"""Graphs with symbolic sizes (torch.compile's default dynamic=None after a second input shape, or
dynamic=True) become dynamic engines: one build serves every shape in range, each shape's plan made
on its first call (docs/backend.md, "Dynamic shapes"). Where a graph cannot become dynamic engines
it gets static engines per input shape (_PerShape), up to _PerShape.MAX_SHAPES signatures; later
new ones run in PyTorch with one warning. Results match eager throughout."""

import concurrent.futures
import re
import warnings

import pytest
import torch

from tensorforge.dynamo import backend, engine_modules
from tensorforge.dynamo.conversion import sym_sizes
from tensorforge.dynamo.runtime.dynamic_engine_module import DynamicEngineModule
from tensorforge.errors import InvalidArgumentError


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()


class _Doubled(torch.nn.Module):
    """cat runs in PyTorch (torch_executed_ops), so the engine after it takes a tensor of 2*s0 rows:
    an input dim that is an expression, which an engine cannot bind (static engines per shape)."""

    def __init__(self):
        super().__init__()
        self.net = _model()

    def forward(self, x):
        return self.net(torch.cat([x, x]))


_FORCED = {"min_block_size": 1, "torch_executed_ops": {"torch.ops.aten.cat.default"}}


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _delta(before):
    return {k: v - before.get(k, 0) for k, v in backend.STATS.items() if v != before.get(k, 0)}


@pytest.fixture
def dynamic_modules():
    """() -> the DynamicEngineModules of the graphs compiled since the test began."""
    known = {id(ref) for ref in backend.COMPILED}
    return lambda: [m for ref in backend.COMPILED if id(ref) not in known and ref() is not None
                    for m in ref().children() if isinstance(m, DynamicEngineModule)]


@pytest.mark.parametrize("dynamic", (None, True))
def test_one_dynamic_engine_serves_every_batch_size(dynamic, dynamic_modules):
    m = _model()
    f = torch.compile(m, backend="tensorforge", dynamic=dynamic, options={"min_block_size": 1})
    before = dict(backend.STATS)
    sizes = (1, 2, 3, 7, 50, 1, 2, 3, 50, 2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        for b in sizes:
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
    d = _delta(before)
    # batch 1 compiles a static graph either way (dynamo specializes sizes of 1); every other batch
    # size goes through one symbolic graph and its one dynamic engine (dynamic=None: compiled once
    # the second shape arrives)
    assert d.get("graphs") == 2 and d.get("engines") == 2 and d.get("dynamic_engines") == 1, d
    assert "shape_variants" not in d and "dynamic_fallbacks" not in d, d
    (module,) = dynamic_modules()
    assert module.engine.plans_built == 4  # 2, 3, 7 and 50, each once
    # the plans share the weights: one copy of the two layers' (float32) weights and biases
    assert module.engine.weights_size <= 4 * (8 * 16 + 16 + 16 * 4 + 4) * 1.5
    (name,) = module.engine.sizes
    lo, opt, hi = module.engine.sizes[name]
    assert lo == 2 and opt == 2 and hi == sym_sizes.DEFAULT_MAX


def test_twenty_batch_sizes_compile_at_most_twice():
    m = _model()
    f = torch.compile(m, backend="tensorforge", options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        for b in range(1, 21):
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
    d = _delta(before)
    assert d.get("graphs") == 2 and d.get("engines") == 2, d


def test_sizes_above_the_default_maximum_make_dynamo_compile_again(monkeypatch, dynamic_modules):
    """An unbounded size gets max(DEFAULT_MAX, 2 * the traced value) as its maximum, and dynamo a guard
    on it: a larger size compiles the graph again, for a range above it, instead of failing."""
    monkeypatch.setattr(sym_sizes, "DEFAULT_MAX", 6)
    m = _model()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        for b in (2, 6, 5, 9, 18, 3):
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
    d = _delta(before)
    assert d.get("graphs") == 2 and d.get("dynamic_engines") == 2, d
    ranges = sorted(tuple(v) for mod in dynamic_modules() for v in mod.engine.sizes.values())
    assert ranges == [(2, 2, 6), (2, 9, 18)]  # 9 was traced above 6: a graph (and range) of its own
    with torch.no_grad():
        x = torch.randn(40, 8)
        torch.testing.assert_close(f(x), m(x))
    assert _delta(before).get("graphs") == 3


def test_mark_dynamic_ranges_reach_the_engine(dynamic_modules):
    m = _model()
    f = torch.compile(m, backend="tensorforge", options={"min_block_size": 1})
    x = torch.randn(5, 8)
    torch._dynamo.mark_dynamic(x, 0, min=3, max=40)
    with torch.no_grad():
        torch.testing.assert_close(f(x), m(x))
        for b in (3, 40, 17):
            y = torch.randn(b, 8)
            torch.testing.assert_close(f(y), m(y))
    (module,) = dynamic_modules()
    assert list(module.engine.sizes.values()) == [(3, 5, 40)]
    (report,) = [r for r in backend.REPORTS if r.engines and "sizes" in r.engines[0]][-1:]
    assert re.search(r"inputs \w+: float32\[s\w+, 8\], outputs float32\[s\w+, 4\], size s\w+ 3\.\.40 \(opt 5\)",
                     report.to_text()), report.to_text()
    assert module.engine.plans_built == 4
    with pytest.raises(InvalidArgumentError, match=r"dim 0 is 41, outside size s\w+ \(3\.\.40\)"):
        module(torch.randn(41, 8))  # called directly: dynamo's guards never send it


def test_transformer_with_dynamic_batch_and_sequence():
    from tensorforge.testing.bert import random_bert

    m = random_bert(seed=1)
    f = torch.compile(m, backend="tensorforge", dynamic=True)
    before = dict(backend.STATS)
    with torch.no_grad():
        for b, s in ((2, 16), (3, 9), (2, 33), (4, 16), (3, 9)):
            ids = torch.randint(0, 1000, (b, s))
            for got, want in zip(f(ids), m(ids)):
                torch.testing.assert_close(got, want, atol=2e-4, rtol=2e-4)
    d = _delta(before)
    assert d.get("graphs") == 1 and d.get("dynamic_engines") == 1, d
    (module,) = engine_modules()
    assert len(module.engine.sizes) == 2  # batch and sequence
    assert module.engine.plans_built == 4


def test_module_numbers_passed_as_tensors_are_frozen_by_value():
    """Under dynamic=True dynamo passes BatchNorm's eps as a new 0-d tensor at each call: it is
    frozen by value (no rebuild per call), and a changed value compiles engines for it."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    m[1].running_var.uniform_(0.5, 2.0)
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        for b, s in ((2, 8), (3, 8), (2, 12), (2, 8)):
            x = torch.randn(b, 3, s, s)
            torch.testing.assert_close(f(x), m(x), atol=1e-4, rtol=1e-4)
        assert _delta(before).get("engines") == 1
        m[1].eps = 0.5  # dynamo does not guard on it; the backend compares it
        x = torch.randn(2, 3, 8, 8)
        torch.testing.assert_close(f(x), m(x), atol=1e-4, rtol=1e-4)
    assert _delta(before).get("engines") == 2


def test_graphs_that_cannot_be_dynamic_get_static_engines_per_shape():
    m = _Doubled().eval()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options=_FORCED)
    before = dict(backend.STATS)
    with torch.no_grad():
        with pytest.warns(UserWarning, match="static engines per input shape.*expression 2\\*s"):
            x = torch.randn(2, 8)
            torch.testing.assert_close(f(x), m(x))
        for b in (3, 2, 3):
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
    d = _delta(before)
    assert d.get("dynamic_fallbacks") == 1 and d.get("shape_variants") == 2 and d.get("engines") == 2, d


def test_too_many_shapes_fall_back_to_pytorch(monkeypatch):
    monkeypatch.setattr(backend._PerShape, "MAX_SHAPES", 2)
    m = _Doubled().eval()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options=_FORCED)
    before = backend.STATS["engines"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "tensorforge: a graph with symbolic sizes gets static engines")
        for b in (2, 3):
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
        with pytest.warns(UserWarning, match="more than 2 input shapes"):
            x = torch.randn(4, 8)
            torch.testing.assert_close(f(x), m(x))
        warnings.simplefilter("error")  # in PyTorch too, without a second warning
        x = torch.randn(5, 8)
        torch.testing.assert_close(f(x), m(x))
    assert backend.STATS["engines"] - before == 2


def test_threads_with_new_shapes_at_once_on_a_dynamic_engine(dynamic_modules):
    """Several threads bring new shapes to one dynamic engine module at once: each shape's plan is
    made once and every call matches eager."""
    m = _model()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    with torch.no_grad():
        torch.testing.assert_close(f(torch.ones(2, 8)), m(torch.ones(2, 8)))
        (module,) = dynamic_modules()
        xs = [torch.randn(b, 8) for b in (2, 3, 4, 5, 6) for _ in range(4)]
        w = [p for p in m.parameters()]

        def run(x):  # the module directly: dynamo's own compilation is not for several threads
            return module(x)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            outs = list(pool.map(run, xs))
        for x, y in zip(xs, outs):
            torch.testing.assert_close(y[0] if isinstance(y, tuple) else y, m(x))
    assert module.engine.plans_built == 5 and len(w) == 4


def test_threads_with_new_shapes_at_once_per_shape():
    """The same for a graph with static engines per shape (called directly: dynamo's own
    compilation is not for several threads): each shape is compiled once, under the lock."""
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


def test_dynamic_engine_module_checks_its_inputs(dynamic_modules):
    m = _model()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    with torch.no_grad():
        f(torch.randn(3, 8))
    (module,) = dynamic_modules()
    with pytest.raises(InvalidArgumentError, match="takes 1 inputs, got 2"):
        module(torch.randn(3, 8), torch.randn(3, 8))
    with pytest.raises(InvalidArgumentError, match="must be a tensor"):
        module(3)
    with pytest.raises(InvalidArgumentError, match="dim 1 is 9, the network's is 8"):
        module(torch.randn(3, 9))


class _Created(torch.nn.Module):
    """Tensors created from symbolic sizes (T5's relative position buckets, masks): full_like,
    ones of a size-derived shape, arange to a size."""

    def forward(self, x):
        n = x.shape[1]
        pos = torch.arange(n, device=x.device)
        rel = torch.minimum(pos[None, :] - pos[:, None], torch.full_like(pos[None, :] - pos[:, None], 3))
        ones = torch.ones(x.shape[0], n, device=x.device)
        return x @ rel.float() + ones, torch.zeros_like(x).sum()


def test_tensors_created_from_sizes_follow_them():
    m = _Created()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        for b, n in ((2, 5), (3, 9), (4, 2), (2, 300)):
            x = torch.randn(b, n)
            for got, want in zip(f(x), m(x)):
                # float32 sums of n products that reach n * 3 * |x| in size: both sides round at that scale
                torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-6 * max(1.0, want.abs().max().item()))
    d = _delta(before)
    assert d.get("graphs") == 1 and d.get("dynamic_engines") == 1, d


def test_a_converter_that_fixes_a_size_makes_static_engines(monkeypatch):
    """check_shapes: a converter that builds a constant of the traced shape where the graph's shape
    is symbolic is caught when the network is checked at the ranges' corners; the graph gets static
    engines per shape (right answers) instead of a dynamic engine with wrong ones."""
    from tensorforge.dynamo.conversion.impl import creation

    def fixed_full(ctx, shape, value):
        dims = tuple(int(d.node.hint) if isinstance(d, torch.SymInt) else int(d) for d in shape)
        return ctx.const(torch.full(dims, value, dtype=ctx.out_dtype()), ctx.out_dtype())

    monkeypatch.setattr(creation, "full", fixed_full)

    def m(x):  # a fixed ones(n) would still fit every shape here, and sum to the traced n
        return x * torch.ones(x.shape[1], device=x.device).sum()

    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        with pytest.warns(UserWarning, match=r"node \w+ \(aten.full.default\): the engine computes shape \[5\] at "
                                             r"sizes .*, the graph \[2\] \(a converter fixed a symbolic extent\)"):
            f(torch.randn(2, 5))
        for b, n in ((3, 9), (4, 2)):
            x = torch.randn(b, n)
            torch.testing.assert_close(f(x), m(x))
    d = _delta(before)
    assert d.get("dynamic_fallbacks") == 1 and "dynamic_engines" not in d, d


def test_sizes_returned_to_pytorch_are_no_op_left_out():
    """A graph that returns a size computes it in PyTorch (an engine returns tensors only); with
    require_full_compilation that is no error, and the engine still takes the tensor work."""

    def m(x):
        return torch.relu(x) * 2, x.shape[0] * 3

    f = torch.compile(m, backend="tensorforge", dynamic=True,
                      options={"min_block_size": 1, "require_full_compilation": True})
    before = dict(backend.STATS)
    with torch.no_grad():
        for b in (2, 5, 3):
            x = torch.randn(b, 4)
            y, n = f(x)
            torch.testing.assert_close(y, torch.relu(x) * 2)
            assert n == 3 * b
    assert _delta(before).get("dynamic_engines") == 1


def test_data_dependent_sizes_stay_in_pytorch_with_a_reason(monkeypatch):
    """nonzero and unique make sizes known only when they run (dynamo's unbacked symbols, with
    capture_dynamic_output_shape_ops): those nodes and the ones reading their results stay in
    PyTorch with that reason, and the rest still gets (dynamic) engines."""
    monkeypatch.setattr(torch._dynamo.config, "capture_dynamic_output_shape_ops", True)

    def f(x):
        y = torch.relu(x) * 2
        return y + 1, torch.nonzero(y > 1).float().sum(0), torch.unique(x.round())

    g = torch.compile(f, backend="tensorforge", options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (4, 4, 6, 9):
            x = torch.randn(n, 3)
            for got, want in zip(g(x), f(x)):
                torch.testing.assert_close(got, want)
    d = _delta(before)
    assert d.get("graphs") == 2 and d.get("dynamic_engines", 0) >= 1 and "dynamic_fallbacks" not in d, d
    reports = backend.reports_since(before.get("graphs", 0))
    for report in reports:
        kept = {k["op"]: k["reason"] for k in report.kept_in_pytorch}
        assert kept["aten.nonzero.default"].startswith("a data-dependent size")
        assert kept["aten._unique2.default"].startswith("a data-dependent size")
    # the second graph's engines take the symbolic batch, shown by its size's name: float32[s.., 3]
    assert any("[s" in i for e in reports[-1].engines for i in e["inputs"]), reports[-1].engines


def test_the_most_recently_used_plans_are_kept(monkeypatch, dynamic_modules):
    monkeypatch.setattr(backend, "MAX_PLANS", 2)
    m = _model()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    with torch.no_grad():
        for b in (2, 3, 2, 4, 2):
            x = torch.randn(b, 8)
            torch.testing.assert_close(f(x), m(x))
    (module,) = dynamic_modules()
    assert [shapes[0][0] for shapes in module._plans] == [4, 2]  # 3 was the least recently used
    assert module.engine.plans_built == 3  # 2 (at compile), 3 and 4; 2 was reused throughout


class _Decoder(torch.nn.Module):
    """A GPT-style block over a dynamic sequence: positions sliced from a table, an additive causal
    mask built from the sequence length (triu of a full), and sdpa with is_causal."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.pos = torch.nn.Parameter(torch.randn(64, 16))
        self.qkv = torch.nn.Linear(16, 48)

    def forward(self, x):
        n = x.shape[1]
        h = x + self.pos[:n]
        q, k, v = self.qkv(h).view(x.shape[0], n, 3, 2, 8).permute(2, 0, 3, 1, 4)
        mask = torch.triu(torch.full((n, n), float("-inf"), device=x.device), 1)
        scores = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5 + mask, -1) @ v
        causal = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return (scores + causal).transpose(1, 2).reshape(x.shape[0], n, 16)


def test_a_decoder_over_a_dynamic_sequence():
    m = _Decoder().eval()
    f = torch.compile(m, backend="tensorforge", dynamic=True)
    before = dict(backend.STATS)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        for b, n in ((2, 5), (2, 17), (3, 9), (2, 64), (4, 2)):
            x = torch.randn(b, n, 16)
            torch.testing.assert_close(f(x), m(x), atol=1e-5, rtol=1e-5)
    d = _delta(before)
    assert d.get("graphs") == 1 and d.get("dynamic_engines") == 1, d


class _SlicedBuffer(torch.nn.Module):
    """A buffer sliced to the input's length (BERT's token_type_ids[:, :seq_length]) and from a size
    onward: slice bounds that are sizes of the graph."""

    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.arange(64 * 3, dtype=torch.float32).reshape(1, 64, 3))

    def forward(self, x):
        n = x.shape[1]
        return x + self.table[:, :n], self.table[:, 64 - n:] * 2


def test_slices_bounded_by_sizes_stay_in_one_dynamic_engine(dynamic_modules):
    m = _SlicedBuffer().eval()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        for n in (5, 17, 64, 2):
            x = torch.randn(2, n, 3)
            for got, want in zip(f(x), m(x)):
                torch.testing.assert_close(got, want)
    d = _delta(before)
    assert d.get("graphs") == 1 and d.get("dynamic_engines") == 1, d
    assert not any(r.unsupported for r in backend.reports_since(before.get("graphs", 0))), \
        [r.unsupported for r in backend.reports_since(before.get("graphs", 0))]


def _by_count(x, n):
    """An integer input that no tensor's dim gives (a cache's length): an engine takes it through a
    carrier input."""
    return x * 2 + torch.arange(n, dtype=x.dtype).sum()


def test_integer_inputs_no_dim_gives_reach_a_dynamic_engine():
    f = torch.compile(_by_count, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        for b, n in ((2, 5), (3, 9), (4, 40), (2, 3)):
            x = torch.randn(b, 3)
            torch.testing.assert_close(f(x, n), _by_count(x, n))
    d = _delta(before)
    assert d.get("dynamic_engines") == 1 and not d.get("dynamic_fallbacks"), d


def _size_in_two_blocks(x):
    m = x.shape[0] + 1  # size arithmetic both engines read: each computes it from its own inputs
    a = x * torch.arange(m, dtype=x.dtype)[1:]
    b = torch.relu(a)  # in PyTorch (torch_executed_ops): two blocks
    return b + torch.arange(m, dtype=x.dtype)[:-1]


def test_a_size_two_blocks_read_is_computed_in_each():
    f = torch.compile(_size_in_two_blocks, backend="tensorforge", dynamic=True,
                      options={"min_block_size": 1, "torch_executed_ops": {"torch.ops.aten.relu.default"}})
    before = dict(backend.STATS)
    with torch.no_grad():
        for n in (4, 9, 17, 2):
            x = torch.randn(n)
            torch.testing.assert_close(f(x), _size_in_two_blocks(x))
    d = _delta(before)
    assert d.get("dynamic_engines") == 2 and not d.get("dynamic_fallbacks"), d


def _pooled(h, ids):
    # sequence classification's pooling: each row's hidden state at its largest id; and indices on
    # dims a slice separates (the broadcast dims go first)
    rows = torch.arange(h.shape[0])
    last = ids.argmax(-1)
    return h[rows, last] * 2, h[rows, :, last.remainder(h.shape[2])]


def test_several_indices_over_dims_whose_extents_are_sizes(dynamic_modules):
    f = torch.compile(_pooled, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        for b, s in ((2, 5), (3, 9), (4, 17), (2, 3)):
            h, ids = torch.randn(b, s, 6), torch.randint(0, 100, (b, s))
            for got, want in zip(f(h, ids), _pooled(h, ids)):
                torch.testing.assert_close(got, want)
    d = _delta(before)
    assert d.get("dynamic_engines") == 1 and not d.get("dynamic_fallbacks"), d
    assert not any(r.unsupported for r in backend.reports_since(before.get("graphs", 0)))


def _sizes_as_values(x):
    rows = torch.arange(x.shape[0]) % x.shape[1]  # a size as an operand
    return x * x.shape[1] + rows[:, None], x.argmax(-1)


def test_sizes_used_as_values_follow_each_call(dynamic_modules):
    f = torch.compile(_sizes_as_values, backend="tensorforge", dynamic=True, options={"min_block_size": 1})
    before = dict(backend.STATS)
    with torch.no_grad():
        for b, n in ((5, 3), (7, 4), (3, 9), (12, 5)):
            x = torch.randn(b, n)
            for got, want in zip(f(x), _sizes_as_values(x)):
                torch.testing.assert_close(got, want)
    d = _delta(before)
    assert d.get("dynamic_engines") == 1 and not d.get("dynamic_fallbacks"), d
