"""Dynamo's symbolic sizes written as engine size expressions (dynamo/conversion/sym_sizes.py, the
engine's ir::SymExpr; docs/dynamic_shapes.md): each expression, evaluated by the engine at many
bindings, equals sympy's own evaluation; the sizes of a graph dynamo really traced with
dynamic=True convert the same way; what the grammar cannot say is an UnsupportedError."""

import itertools

import pytest
import sympy
import torch
from torch.utils._sympy import functions as tsf

import tensorforge as tf
from tensorforge.dynamo.conversion.sym_sizes import size_text

s0, s1 = sympy.symbols("s0 s1", integer=True, positive=True)

EXPRESSIONS = [
    2 * s0, s0 - 1, s0 * s1 + 3, -s0 + 7, 1 - 3 * s1,
    tsf.FloorDiv(s0 - 1, 2) + 1, tsf.FloorDiv(s0 + 2 * s1 - 3, s1) + 1,  # a convolution's output size
    tsf.PythonMod(s0, 8), tsf.Mod(s0 + s1, 5), tsf.ModularIndexing(s0, 2, 4), tsf.CeilDiv(s0, 3),
    tsf.CeilDiv(s0 * s1 - 1, 4), tsf.Max(1, s0, s1 - 2), tsf.Min(s0, 64), sympy.Max(s0, s1), sympy.Min(s0, s1 - 5),
    tsf.CleanDiv(4 * s0, 2), s0 ** 2 + s1 ** 3, tsf.PowByNatural(s0, 3), s0 ** 0 + s1,
]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=str)
def test_engine_evaluates_what_sympy_evaluates(expr):
    text = size_text(expr)
    for a, b in itertools.product((1, 2, 3, 7, 8, 31, 64, 1000), (1, 2, 5, 9, 100)):
        want = int(expr.subs({s0: a, s1: b}))
        assert tf._C.evaluate_size(text, {"s0": a, "s1": b}) == want, f"{expr} as '{text}' at s0={a}, s1={b}"


def test_plain_ints_and_symints():
    assert size_text(12) == "12"
    assert tf._C.evaluate_size(size_text(-3), {}) == -3
    with pytest.raises(tf.UnsupportedError, match="a bool is not a size"):
        size_text(True)


@pytest.mark.parametrize("expr", [sympy.Rational(1, 2) * s0, s0 / s1, s0 ** -1, sympy.Float(1.5) * s0,
                                  sympy.Symbol("x")], ids=str)
def test_what_the_grammar_cannot_say(expr):
    with pytest.raises(tf.UnsupportedError, match="symbolic size"):
        size_text(expr)


def test_engine_errors_on_a_missing_symbol():
    with pytest.raises(tf.InvalidArgumentError, match="no value for s1"):
        tf._C.evaluate_size(size_text(s0 + s1), {"s0": 1})


def test_sizes_of_a_graph_dynamo_traced():
    """Every symbolic size in a graph traced with dynamic=True (views, slices, an arange, a
    convolution's output) converts, and evaluates as dynamo's expression does at other shapes."""
    conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    def f(x, y):
        h = conv(x)  # [n, 4, (H - 1)//2 + 1, (W - 1)//2 + 1]
        v = h.reshape(h.shape[0] * 2, -1)
        w = y[:, : y.shape[1] // 2]
        r = torch.arange(y.shape[1] + 1)
        return v.sum() + w.sum() + r.sum() + h.shape[2] * h.shape[3]

    torch._dynamo.reset()
    compiled = torch.compile(f, backend=capture, dynamic=True)
    compiled(torch.randn(2, 3, 9, 11), torch.randn(3, 10))
    assert graphs, "dynamo traced no graph"
    sizes = []
    for gm in graphs:
        for node in gm.graph.nodes:
            val = node.meta.get("val", node.meta.get("example_value"))
            vals = val.shape if isinstance(val, torch.Tensor) else [val]
            sizes += [v for v in vals if isinstance(v, torch.SymInt)]
    exprs = {s.node.expr for s in sizes}
    assert any(not e.is_Symbol for e in exprs), f"no computed size among {exprs}"
    symbols = sorted({str(x) for e in exprs for x in e.free_symbols})
    for values in itertools.product((3, 5, 16, 101), repeat=len(symbols)):
        binding = dict(zip(symbols, values))
        subs = {sympy.Symbol(k, integer=True, positive=True): v for k, v in binding.items()}
        for e in exprs:
            want = int(e.xreplace({x: subs[sympy.Symbol(str(x), integer=True, positive=True)]
                                   for x in e.free_symbols}))
            assert tf._C.evaluate_size(size_text(e), binding) == want, f"{e} at {binding}"


def _fakes_with_symbolic_batches(*batches):
    """Fake tensors [b, 4], each b a backed symbol of one fresh shape environment."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

    mode = FakeTensorMode(shape_env=ShapeEnv())
    context = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DYNAMIC, DimDynamic.STATIC])
    return [mode.from_tensor(torch.empty(b, 4), symbolic_context=context) for b in batches]


def test_sized_network_declares_sizes_from_input_dims():
    from tensorforge.dynamo.conversion.sym_sizes import DEFAULT_MAX, SizedNetwork, data_dependent, symbolic

    fake, other = _fakes_with_symbolic_batches(6, 5)
    batch = fake.shape[0]
    assert symbolic(batch) and not symbolic(fake.shape[1]) and not data_dependent(fake)
    net = SizedNetwork()
    x = net.add_input("x", torch.float32, tuple(fake.shape))
    (name,) = net.sizes
    assert net.sizes[name] == (2, 6, DEFAULT_MAX)  # dynamo's lower bound, the traced value, the default max
    assert x.shape == [6, 4]
    (y,) = net.add_layer("reshape", [x], {"shape": [batch * 2, 2]})
    assert f"{{shape=[2*{name}, 2]}}" in net.to_text()
    net.mark_output(y, "y")
    engine = tf.Builder().build_dynamic(net)
    data = torch.randn(9, 4)
    torch.testing.assert_close(torch.as_tensor(engine(data)[0]), data.reshape(18, 2))
    # a size no input gives, and an input dim that is an expression, are UnsupportedErrors
    with pytest.raises(tf.UnsupportedError, match="is not a dim of any engine input"):
        net.add_layer("reshape", [x], {"shape": [other.shape[0], -1]})
    with pytest.raises(tf.UnsupportedError, match="engine input dim is the expression"):
        SizedNetwork().add_input("z", torch.float32, (batch * 2, 4))
