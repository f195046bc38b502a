"""Converters of elementwise binary ops: add/sub (with alpha), mul, div (all rounding modes), rsub,
pow, remainder, fmod, maximum/minimum, fmax/fmin, comparisons, logical and bool bitwise ops,
where, masked_fill and relu; tensor and scalar operands, broadcasting, type promotion, every float
dtype, int32/int64 and bool; variants the engine cannot run stay in PyTorch."""

import pytest
import torch

from aten_harness import FLOAT_DTYPES, randn
from aten_harness import check_converter as _check

aten = torch.ops.aten


def check_converter(fn, inputs, expected_ops, options=None, **kw):
    """The harness's check, with engine build failures raised (the harness would fall back silently)."""
    return _check(fn, inputs, expected_ops, options={"pass_through_build_failures": True, **(options or {})}, **kw)


INT_DTYPES = (torch.int32, torch.int64)
SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((4, 1), (1, 5))]


def operands(shapes, dtype, seed=1, nonzero=False):
    a = (randn(*shapes[0], seed=seed) * 4).to(dtype)
    b = (randn(*shapes[1], seed=seed + 1) * 4).to(dtype)
    if nonzero:  # away from zero, so that division and remainder are well defined for every dtype
        b = torch.where(b.abs() < 1, torch.ones_like(b) * 3, b)
    return a, b


def check_stays(fn, inputs, op):
    """`op` stays in PyTorch (the report names it) and the result still matches eager."""
    report = check_converter(fn, inputs, [], msg=str(op))
    assert str(op) in report.unsupported, f"{op} was converted: {report.op_counts}"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_add_sub_mul_tensor(dtype, shapes):
    a, b = operands(shapes, dtype)
    check_converter(lambda x, y: (x + y, x - y, x * y, torch.add(x, y, alpha=2), torch.sub(x, y, alpha=3),
                                  torch.maximum(x, y), torch.minimum(x, y)),
                    [a, b], [aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.maximum.default,
                             aten.minimum.default], msg=f"{dtype} {shapes}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int64,))
def test_scalar_operands_and_promotion(dtype):
    a = (randn(5, 3, seed=3) * 4).to(dtype)
    check_converter(lambda x: ((x + 2) * 3 - 1, x * 0.5, torch.relu(x)), [a],
                    [aten.add.Tensor, aten.mul.Tensor, aten.relu.default], msg=str(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
def test_scalar_overloads(dtype):
    a = (randn(4, 5, seed=5) * 4).to(dtype)
    check_converter(lambda x: (aten.add.Scalar(x, 2), aten.sub.Scalar(x, 3), aten.mul.Scalar(x, 2),
                               aten.div.Scalar(x, 4), aten.div.Scalar_mode(x, 3, rounding_mode="floor"),
                               aten.div.Scalar_mode(x, 3, rounding_mode="trunc"), 2 - x, torch.rsub(x, 5, alpha=2)),
                    [a], [aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar, aten.div.Scalar_mode,
                          aten.rsub.Scalar], msg=str(dtype))


def test_int_tensor_times_float_tensor_promotes():
    a = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    b = randn(2, 3, seed=4)
    check_converter(lambda x, y: x * y + x, [a, b], [aten.mul.Tensor, aten.add.Tensor])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_div_rounding_modes(dtype, shapes):
    a, b = operands(shapes, dtype, nonzero=True)
    check_converter(lambda x, y: (x / y, torch.div(x, y, rounding_mode="trunc"), torch.div(x, y, rounding_mode="floor"),
                                  x // y, x / 2, torch.rsub(x, y, alpha=2)),
                    [a, b], [aten.div.Tensor, aten.div.Tensor_mode, aten.rsub.Tensor], msg=f"{dtype} {shapes}")


def test_floor_division_of_floats_matches_torch_exactly():
    # 1 // 0.1 is 9 in torch (floor(1 / 0.1) would be 10); a zero divisor gives inf/nan.
    a = torch.tensor([1.0, -1.0, 7.5, -7.5, 0.3, -0.3, 5.0, 0.0, 1.0, -2.0])
    b = torch.tensor([0.1, 0.1, -2.0, 2.0, 1.0, -1.0, 0.7, -1.0, 0.0, 0.0])
    check_converter(lambda x, y: (x // y, torch.div(x, y, rounding_mode="floor")), [a, b], [aten.div.Tensor_mode],
                    atol=0, rtol=0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_remainder_fmod(dtype, shapes):
    a, b = operands(shapes, dtype, nonzero=True)
    check_converter(lambda x, y: (x % y, x % 3, torch.fmod(x, y), torch.fmod(x, -3), 7 % y),
                    [a, b], [aten.remainder.Tensor, aten.remainder.Scalar, aten.remainder.Scalar_Tensor,
                             aten.fmod.Tensor, aten.fmod.Scalar], msg=f"{dtype} {shapes}")


def test_fmod_exact_on_small_remainders():
    a = torch.tensor([1e-10, -1e-10, 5.5, -5.5, 0.0, float("inf"), float("nan"), 3.0])
    b = torch.tensor([-1.0, 1.0, -2.0, 2.0, 3.0, 2.0, 1.0, 0.0])
    check_converter(lambda x, y: torch.fmod(x, y), [a, b], [aten.fmod.Tensor], atol=0, rtol=0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_pow_float(dtype):
    a = (randn(3, 4, seed=7).abs() + 0.5).to(dtype)
    b = randn(3, 4, seed=8).to(dtype)
    check_converter(lambda x, y: (x ** y, x ** 2, x ** 0.5, x ** -1, 2 ** y, torch.pow(1.5, y)), [a, b],
                    [aten.pow.Tensor_Tensor, aten.pow.Tensor_Scalar, aten.pow.Scalar], msg=str(dtype))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_pow_int(dtype):
    a = torch.randint(-5, 6, (3, 4), generator=torch.Generator().manual_seed(0)).to(dtype)
    b = torch.randint(0, 5, (3, 4), generator=torch.Generator().manual_seed(1)).to(dtype)
    check_converter(lambda x, y: (x ** y, x ** 3, 2 ** y, x ** 0.5), [a, b],
                    [aten.pow.Tensor_Tensor, aten.pow.Tensor_Scalar, aten.pow.Scalar], msg=str(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
def test_fmax_fmin(dtype):
    a, b = operands(((3, 4), (4,)), dtype)
    if dtype.is_floating_point:
        a[0, 0], b[1], a[2, 1] = float("nan"), float("nan"), float("nan")
    check_converter(lambda x, y: (torch.fmax(x, y), torch.fmin(x, y), torch.maximum(x, y)), [a, b],
                    [aten.fmax.default, aten.fmin.default, aten.maximum.default], msg=str(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
@pytest.mark.parametrize("shapes", SHAPES)
def test_comparisons(dtype, shapes):
    a, b = operands(shapes, dtype)  # integers (and bools) from randn * 4 hold many equal pairs
    check_converter(lambda x, y: (x == y, x != y, x < y, x <= y, x > y, x >= y, x == 1, x != 1, x < 1, x <= 1, x > 1,
                                  x >= 1),
                    [a, b], [getattr(aten, op).Tensor for op in ("eq", "ne", "lt", "le", "gt", "ge")] +
                    [getattr(aten, op).Scalar for op in ("eq", "ne", "lt", "le", "gt", "ge")], msg=f"{dtype} {shapes}")


def test_comparison_equal_elements_and_promotion():
    a = torch.tensor([1, 2, 3, 4], dtype=torch.int32)
    b = torch.tensor([1.0, 2.5, 3.0, -4.0])
    check_converter(lambda x, y: (x == y, x < y, x >= 2.5, x == 2), [a, b], [aten.eq.Tensor, aten.lt.Tensor,
                                                                              aten.ge.Scalar, aten.eq.Scalar])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
def test_logical(dtype):
    a, b = operands(((3, 4), (4,)), dtype)
    a = a * (randn(3, 4, seed=11) > 0).to(dtype)
    check_converter(lambda x, y: (torch.logical_and(x, y), torch.logical_or(x, y), torch.logical_xor(x, y),
                                  torch.logical_not(x)),
                    [a, b], [aten.logical_and.default, aten.logical_or.default, aten.logical_xor.default,
                             aten.logical_not.default], msg=str(dtype))


@pytest.mark.parametrize("shapes", SHAPES)
def test_bitwise_on_bool(shapes):
    a, b = randn(*shapes[0], seed=12) > 0, randn(*shapes[1], seed=13) > 0
    check_converter(lambda x, y: (x & y, x | y, x ^ y, ~x, x & True, x | False, x ^ True, x + y, x * y,
                                  torch.maximum(x, y), torch.minimum(x, y)),
                    [a, b], [aten.bitwise_and.Tensor, aten.bitwise_or.Tensor, aten.bitwise_xor.Tensor,
                             aten.bitwise_not.default, aten.bitwise_and.Scalar, aten.bitwise_or.Scalar,
                             aten.bitwise_xor.Scalar, aten.add.Tensor, aten.mul.Tensor], msg=str(shapes))


def test_isfinite_built_from_layers():
    a = torch.tensor([1.0, float("inf"), -float("inf"), float("nan"), 0.0, -2.0])
    for dtype in FLOAT_DTYPES:
        check_converter(lambda x: torch.isfinite(x), [a.to(dtype)], [aten.abs.default, aten.ne.Scalar, aten.eq.Tensor,
                                                                     aten.mul.Tensor], msg=str(dtype))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
@pytest.mark.parametrize("shapes", SHAPES)
def test_where(dtype, shapes):
    a, b = operands(shapes, dtype)
    c = randn(*shapes[1], seed=14) > 0
    check_converter(lambda x, y, m: (torch.where(m, x, y), torch.where(m, x, 1), torch.where(x > y, 0, y)),
                    [a, b, c], [aten.where.self, aten.scalar_tensor.default], msg=f"{dtype} {shapes}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
def test_masked_fill(dtype):
    a = (randn(2, 3, 4, seed=15) * 4).to(dtype)
    m = randn(3, 1, seed=16) > 0
    value = torch.tensor(True if dtype == torch.bool else 2, dtype=dtype)
    check_converter(lambda x, mask: (x.masked_fill(mask, 1), aten.masked_fill.Tensor(x, mask, value)),
                    [a, m], [aten.masked_fill.Scalar, aten.masked_fill.Tensor], msg=str(dtype))


def test_mixed_where_promotes():
    a, b = torch.arange(6, dtype=torch.int64).reshape(2, 3), randn(2, 3, seed=17)
    check_converter(lambda x, y: torch.where(y > 0, x, y), [a, b], [aten.where.self])


def test_unsupported_variants_stay_in_pytorch():
    ai = torch.randint(0, 8, (3, 4), generator=torch.Generator().manual_seed(0))
    bi = torch.randint(0, 8, (3, 4), generator=torch.Generator().manual_seed(1))
    check_stays(lambda x, y: (x & y) + 1, [ai, bi], aten.bitwise_and.Tensor)
    check_stays(lambda x, y: (x | y) + 1, [ai, bi], aten.bitwise_or.Tensor)
    check_stays(lambda x, y: (x ^ y) + 1, [ai, bi], aten.bitwise_xor.Tensor)
    check_stays(lambda x: (~x) + 1, [ai], aten.bitwise_not.default)
