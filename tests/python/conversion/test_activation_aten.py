"""Converters of activations (gelu none/tanh, silu, leaky_relu, elu, selu, celu, softplus,
hardtanh/relu6, hardswish, hardsigmoid, mish) and clamps (scalar and tensor bounds, clamp_min,
clamp_max) over every float dtype (clamps also on integers); elu with scales stays in PyTorch."""

import pytest
import torch
import torch.nn.functional as F

from aten_harness import FLOAT_DTYPES, randn
from aten_harness import check_converter as _check

aten = torch.ops.aten


def check_converter(fn, inputs, expected_ops, options=None, **kw):
    """The harness's check, with engine build failures raised (the harness would fall back silently)."""
    return _check(fn, inputs, expected_ops, options={"pass_through_build_failures": True, **(options or {})}, **kw)


SHAPES = [(9,), (3, 4), (2, 3, 4, 5)]

CASES = {
    "gelu": (lambda x: F.gelu(x), aten.gelu.default),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), aten.gelu.default),
    "silu": (F.silu, aten.silu.default),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), aten.leaky_relu.default),
    "leaky_relu_default": (F.leaky_relu, aten.leaky_relu.default),
    "elu": (F.elu, aten.elu.default),
    "elu_alpha": (lambda x: F.elu(x, 0.5), aten.elu.default),
    "selu": (F.selu, aten.elu.default),
    "celu": (lambda x: F.celu(x, 1.5), aten.celu.default),
    "softplus": (F.softplus, aten.softplus.default),
    "softplus_beta": (lambda x: F.softplus(x, 2.0, 3.0), aten.softplus.default),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 2.0), aten.hardtanh.default),
    "relu6": (F.relu6, aten.hardtanh.default),
    "hardswish": (F.hardswish, aten.hardswish.default),
    "hardsigmoid": (F.hardsigmoid, aten.hardsigmoid.default),
    "mish": (F.mish, aten.mish.default),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_activation(case, shape, dtype):
    fn, op = CASES[case]
    x = (randn(*shape, seed=1) * 4).to(dtype)
    check_converter(lambda t: fn(t), [x], [op], msg=f"{case} {dtype} {shape}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("shape", SHAPES)
def test_clamp_scalar(dtype, shape):
    x = (randn(*shape, seed=2) * 4).to(dtype)
    check_converter(lambda t: (torch.clamp(t, -1, 2), torch.clamp(t, min=0), torch.clamp(t, max=1),
                               torch.clamp_min(t, -2), torch.clamp_max(t, 3), torch.clamp(t, 3, 1)),
                    [x], [aten.clamp.default, aten.clamp_min.default, aten.clamp_max.default], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", (torch.int32, torch.int64))
def test_clamp_integer_with_float_bounds_promotes(dtype):
    x = (randn(3, 4, seed=3) * 4).to(dtype)
    check_converter(lambda t: (torch.clamp(t, -1.5, 2.5), torch.clamp_min(t, 0.5)), [x],
                    [aten.clamp.default, aten.clamp_min.default], msg=str(dtype))


def test_clamp_nan_propagates():
    x = torch.tensor([float("nan"), -3.0, 0.5, 4.0])
    check_converter(lambda t: (torch.clamp(t, -1, 1), F.hardtanh(t)), [x],
                    [aten.clamp.default, aten.hardtanh.default], atol=0, rtol=0)


def test_clamp_with_a_nan_bound_stays_in_pytorch():
    # torch 2.11 and 2.13 disagree on clamp(x, min=nan); whatever the installed one does is the answer.
    x = torch.tensor([float("nan"), -3.0, 0.5, 4.0])
    report = check_converter(lambda t: (torch.clamp(t, min=float("nan")), t * 2), [x], [aten.mul.Tensor])
    assert "aten.clamp.default" in report.unsupported


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((4, 1), (1, 5))])
def test_clamp_tensor(dtype, shapes):
    x = (randn(*shapes[0], seed=4) * 4).to(dtype)
    lo = (randn(*shapes[1], seed=5) * 2).to(dtype)
    check_converter(lambda t, m: (torch.clamp(t, m, m + 2), torch.clamp(t, min=m), torch.clamp(t, max=m)), [x, lo],
                    [aten.clamp.Tensor], msg=f"{dtype} {shapes}")


def test_scaled_elu_stays_in_pytorch():
    x = randn(3, 4, seed=6)
    report = check_converter(lambda t: aten.elu.default(t, 1.0, 2.0, 1.0) + 1, [x], [aten.add.Tensor])
    assert "aten.elu.default" in report.unsupported
    report = check_converter(lambda t: aten.elu.default(t, 1.0, 1.0, 0.5) + 1, [x], [aten.add.Tensor])
    assert "aten.elu.default" in report.unsupported
