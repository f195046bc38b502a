"""Converters of unary math ops: float functions on float and integer inputs (which promote to
float), dtype-keeping ops (abs, neg, sign, floor, ceil, round, trunc) on floats and integers,
round with decimals, exp2, sigmoid, isnan/isinf/logical_not; bool inputs stay in PyTorch."""

import pytest
import torch

from aten_harness import FLOAT_DTYPES, randn
from aten_harness import check_converter as _check

aten = torch.ops.aten


def check_converter(fn, inputs, expected_ops, options=None, **kw):
    """The harness's check, with engine build failures raised (the harness would fall back silently)."""
    return _check(fn, inputs, expected_ops, options={"pass_through_build_failures": True, **(options or {})}, **kw)


INT_DTYPES = (torch.int32, torch.int64)
SHAPES = [(7,), (3, 4), (2, 3, 5)]

# op -> (input transform of randn values into its domain)
DOMAIN = {
    "exp": lambda x: x, "expm1": lambda x: x, "exp2": lambda x: x, "log": lambda x: x.abs() + 0.1,
    "log2": lambda x: x.abs() + 0.1, "log10": lambda x: x.abs() + 0.1, "log1p": lambda x: x.abs(),
    "sqrt": lambda x: x.abs(), "rsqrt": lambda x: x.abs() + 0.1, "reciprocal": lambda x: x.abs() + 0.5,
    "sin": lambda x: x, "cos": lambda x: x, "tan": lambda x: x.clamp(-1.2, 1.2), "asin": lambda x: x.tanh() * 0.9,
    "acos": lambda x: x.tanh() * 0.9, "atan": lambda x: x, "sinh": lambda x: x, "cosh": lambda x: x,
    "tanh": lambda x: x, "asinh": lambda x: x, "acosh": lambda x: x.abs() + 1.1, "atanh": lambda x: x.tanh() * 0.9,
    "erf": lambda x: x, "sigmoid": lambda x: x * 3,
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", sorted(DOMAIN))
def test_float_functions(op, shape, dtype):
    x = DOMAIN[op](randn(*shape, seed=1)).to(dtype)
    fn = getattr(torch, op)
    check_converter(lambda t: fn(t), [x], [getattr(aten, op).default], msg=f"{op} {dtype} {shape}")


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_float_functions_of_integers(dtype):
    x = torch.arange(1, 13, dtype=dtype).reshape(3, 4)
    ops = ["exp", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "atan", "tanh",
           "asinh", "acosh", "erf", "sigmoid", "exp2"]
    check_converter(lambda t: tuple(getattr(torch, op)(t) for op in ops), [x],
                    [getattr(aten, op).default for op in ops], msg=str(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dtype_keeping_ops(dtype, shape):
    x = (randn(*shape, seed=2) * 5).to(dtype)
    check_converter(lambda t: (t.abs(), -t, t.sign(), t.sgn(), t.floor(), t.ceil(), t.round(), t.trunc()), [x],
                    [aten.abs.default, aten.neg.default, aten.sign.default, aten.floor.default, aten.ceil.default,
                     aten.round.default, aten.trunc.default], msg=f"{dtype} {shape}")


def test_rounding_ties_and_special_values():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, float("nan"), float("inf"), -float("inf"), 0.0])
    for dtype in FLOAT_DTYPES:
        check_converter(lambda t: (t.round(), t.floor(), t.ceil(), t.trunc(), t.sign(), t.abs(), -t), [x.to(dtype)],
                        [aten.round.default, aten.sign.default], atol=0, rtol=0, msg=str(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("decimals", [1, 2, 3, -1, -2])
def test_round_decimals(dtype, decimals):
    x = (randn(4, 6, seed=3) * 300).to(dtype)
    check_converter(lambda t: torch.round(t, decimals=decimals), [x], [aten.round.decimals], atol=0, rtol=0,
                    msg=f"{dtype} {decimals}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
def test_isnan_isinf_logical_not(dtype):
    x = (randn(3, 5, seed=4) * 3).to(dtype)
    if dtype.is_floating_point:
        x[0, 1], x[1, 2], x[2, 3] = float("nan"), float("inf"), -float("inf")
    check_converter(lambda t: (torch.isnan(t), torch.isinf(t), torch.logical_not(t)), [x],
                    [aten.isnan.default, aten.isinf.default, aten.logical_not.default], msg=str(dtype))


def test_bool_inputs_stay_in_pytorch():
    x = randn(3, 4, seed=5) > 0
    report = check_converter(lambda t: (t.sign(), t.float() + 1), [x], [aten._to_copy.default, aten.add.Tensor])
    assert "aten.sign.default" in report.unsupported
