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
