"""Pointwise layers through the Python API against torch: elementwise, unary, activation, prelu,
select, cast, fill, arange. Tolerances per dtype are in layer_harness.TOLERANCE."""

import pytest
import torch
import torch.nn.functional as F

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, reference, run_network

SHAPES = [((7,), (7,)), ((2, 3, 5), (5,)), ((4, 1, 3), (1, 6, 1)), ((3, 4), ())]

ARITH = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "min": torch.minimum, "max": torch.maximum, "floor_div": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "mod": torch.remainder,
}
COMPARE = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}
LOGICAL = {"logical_and": torch.logical_and, "logical_or": torch.logical_or, "logical_xor": torch.logical_xor}


def _operands(dtype, sa, sb, seed, positive=False):
    if dtype.is_floating_point:
        a, b = randn(*sa, dtype=dtype, seed=seed), randn(*sb, dtype=dtype, seed=seed + 1)
        return (a.abs() + 0.5, b.abs()) if positive else (a, b)
    g = torch.Generator().manual_seed(seed)
    lo = 0 if positive or dtype == torch.uint8 else -5
    a = torch.randint(lo, 6, sa, generator=g).to(dtype)
    b = torch.randint(1 if positive else lo, 6, sb, generator=g).to(dtype)
    return a, b


@pytest.mark.parametrize("op", sorted(ARITH))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("shapes", SHAPES)
def test_arithmetic(op, dtype, shapes):
    positive = op == "pow" or (not dtype.is_floating_point and op in ("floor_div", "mod"))
    a, b = _operands(dtype, *shapes, seed=3, positive=positive)
    (out,) = run_network(lambda n, x, y: n.add_elementwise(x, y, op), [a, b])
    if op == "div" and not dtype.is_floating_point:
        expected = torch.div(a, b, rounding_mode="trunc")
    else:
        expected = reference(ARITH[op], a, b)
    assert_close(out, expected, dtype, msg=f"{op} {dtype} {shapes}")


@pytest.mark.parametrize("op", sorted(COMPARE) + sorted(LOGICAL))
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.int64, torch.int8, torch.bool))
def test_compare_and_logical(op, dtype):
    if dtype == torch.bool:
        g = torch.Generator().manual_seed(1)
        a, b = torch.rand(4, 1, 3, generator=g) > 0.5, torch.rand(1, 6, 1, generator=g) > 0.5
    else:
        a, b = _operands(dtype, (4, 1, 3), (1, 6, 1), seed=9)
        a = a.round() if dtype.is_floating_point else a  # make equal values likely
        b = b.round() if dtype.is_floating_point else b
    fn = {**COMPARE, **LOGICAL}[op]
    (out,) = run_network(lambda n, x, y: n.add_elementwise(x, y, op), [a, b], roundtrip=True)
    assert_close(out, fn(a, b), torch.bool, msg=op)


UNARY_FLOAT = {
    "exp": torch.exp, "log": torch.log, "log2": torch.log2, "log10": torch.log10, "log1p": torch.log1p,
    "expm1": torch.expm1, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal,
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "asin": torch.asin, "acos": torch.acos,
    "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh, "tanh": torch.tanh, "asinh": torch.asinh,
    "acosh": torch.acosh, "atanh": torch.atanh, "erf": torch.erf,
}
UNARY_NUMERIC = {"abs": torch.abs, "neg": torch.neg, "sign": torch.sign, "floor": torch.floor, "ceil": torch.ceil,
                 "round": torch.round, "trunc": torch.trunc}
UNARY_PRED = {"not": torch.logical_not, "isnan": torch.isnan, "isinf": torch.isinf}


def _unary_input(op, dtype):
    x = randn(3, 5, dtype=torch.float32, seed=5) * 2
    if op in ("log", "log2", "log10", "sqrt", "rsqrt"):
        x = x.abs() + 0.1
    if op == "acosh":
        x = x.abs() + 1
    if op in ("asin", "acos", "atanh"):
        x = x.clamp(-0.9, 0.9)
    if op == "round":
        x[0, 0] = 2.5
    if op in ("isnan", "isinf") and dtype.is_floating_point:
        x[0, 1], x[0, 2] = float("nan"), float("inf")
    return x.to(dtype) if dtype.is_floating_point else x.round().to(dtype)


@pytest.mark.parametrize("op", sorted(UNARY_FLOAT))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_unary_float(op, dtype):
    x = _unary_input(op, dtype)
    (out,) = run_network(lambda n, t: n.add_unary(t, op), [x])
    assert_close(out, reference(UNARY_FLOAT[op], x), dtype, msg=f"{op} {dtype}")


@pytest.mark.parametrize("op", sorted(UNARY_NUMERIC) + sorted(UNARY_PRED))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64, torch.int8))
def test_unary_numeric_and_predicates(op, dtype):
    x = _unary_input(op, dtype)
    fn = {**UNARY_NUMERIC, **UNARY_PRED}[op]
    (out,) = run_network(lambda n, t: n.add_unary(t, op), [x])
    expected = fn(x.float() if dtype.is_floating_point else x)
    assert_close(out, expected, torch.bool if op in UNARY_PRED else dtype, msg=f"{op} {dtype}")


ACTIVATIONS = {
    "relu": (F.relu, {}), "sigmoid": (torch.sigmoid, {}), "gelu_erf": (F.gelu, {}),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), {}), "silu": (F.silu, {}),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), {"alpha": 0.2}), "elu": (lambda x: F.elu(x, 1.5), {"alpha": 1.5}),
    "celu": (lambda x: F.celu(x, 0.7), {"alpha": 0.7}), "selu": (F.selu, {}),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), {"alpha": 2.0, "beta": 3.0}),
    "clip": (lambda x: F.hardtanh(x, -0.5, 1.5), {"alpha": -0.5, "beta": 1.5}),
    "hardswish": (F.hardswish, {}), "hardsigmoid": (F.hardsigmoid, {}), "mish": (F.mish, {}),
    "softsign": (F.softsign, {}),
}


@pytest.mark.parametrize("op", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_activation(op, dtype):
    fn, kw = ACTIVATIONS[op]
    x = randn(2, 3, 11, dtype=dtype, seed=2) * 3
    (out,) = run_network(lambda n, t: n.add_activation(t, op, **kw), [x])
    assert_close(out, reference(fn, x), dtype, msg=f"{op} {dtype}")


def test_activation_defaults_follow_torch():
    x = randn(64, seed=4) * 3
    for op, fn in (("leaky_relu", F.leaky_relu), ("elu", F.elu), ("softplus", F.softplus), ("clip", F.hardtanh)):
        (out,) = run_network(lambda n, t: n.add_activation(t, op), [x])
        assert_close(out, fn(x), msg=op)


@pytest.mark.parametrize("dtype", (torch.int32, torch.int64))
def test_integer_relu_and_clamp(dtype):
    x = torch.arange(-6, 6, dtype=dtype)
    (r, c) = run_network(lambda n, t: [n.add_activation(t, "relu"), n.add_activation(t, "clip", -2, 3)], [x])
    assert_close(r, torch.relu(x), dtype)
    assert_close(c, torch.clamp(x, -2, 3), dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_prelu_channel_slope(dtype):
    x, w = randn(2, 3, 4, 5, dtype=dtype, seed=1), randn(3, dtype=dtype, seed=2).abs()
    (out,) = run_network(lambda n, t: n.add_prelu(t, w.reshape(3, 1, 1)), [x])
    assert_close(out, reference(F.prelu, x, w), dtype)


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16, torch.int64, torch.bool))
def test_select_broadcast(dtype):
    g = torch.Generator().manual_seed(0)
    c = torch.rand(4, 1, generator=g) > 0.5
    a = (torch.randn(1, 5, generator=g) * 4).to(dtype)
    b = (torch.randn(4, 5, generator=g) * 4).to(dtype)
    (out,) = run_network(lambda n, tc, ta, tb: n.add_select(tc, ta, tb), [c, a, b], roundtrip=True)
    assert_close(out, torch.where(c, a, b), dtype)


ALL_DTYPES = FLOAT_DTYPES + (torch.int8, torch.int32, torch.int64, torch.bool, torch.uint8)


@pytest.mark.parametrize("src", ALL_DTYPES)
@pytest.mark.parametrize("dst", ALL_DTYPES)
def test_cast(src, dst):
    x = (randn(3, 7, seed=8) * 50).to(src)
    (out,) = run_network(lambda n, t: n.add_cast(t, dst), [x])
    assert_close(out, x.to(dst), dst, atol=0, rtol=0, msg=f"{src}->{dst}")


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.int32, torch.int64, torch.bool))
def test_fill_and_arange(dtype):
    def build(n):
        outs = [n.add_fill((2, 3), 1, dtype)]
        if dtype != torch.bool:
            outs.append(n.add_arange(5, start=-2, step=3, dtype=dtype))
        return outs

    outs = run_network(build, [], roundtrip=True)
    assert_close(outs[0], torch.full((2, 3), 1, dtype=dtype), dtype)
    if dtype != torch.bool:
        assert_close(outs[1], torch.arange(-2, 13, 3, dtype=dtype), dtype)


def test_errors_name_the_layer():
    net = tf.Network()
    a = net.add_input("a", torch.float32, (2, 3))
    b = net.add_input("b", torch.float32, (4,))
    with pytest.raises(tf.InvalidNetworkError, match=r"layer 'plus' \(elementwise\).*do not broadcast.*a=float32\[2,3\]"):
        net.add_elementwise(a, b, "add", name="plus")
    with pytest.raises(tf.InvalidArgumentError, match="unknown attribute 'opp'"):
        net.add_layer("unary", [a], {"opp": "neg"})
    with pytest.raises(tf.InvalidNetworkError, match="floating-point"):
        net.add_unary(net.add_cast(a, torch.int32), "exp")
