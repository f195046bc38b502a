"""Converters of reductions (sum/mean/prod with dtype promotion and dtype=, amax/amin, max/min with
indices, argmax/argmin, any/all, var/std with corrections, vector norms) over several dims and
keepdim, on float, int and bool inputs; the variants that stay in PyTorch."""

import math

import pytest
import torch

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten

INT_DTYPES = (torch.int32, torch.int64, torch.uint8, torch.int8)
SHAPES_DIMS = [((7,), 0), ((3, 4), 1), ((3, 4, 5), (0, 2)), ((2, 3, 4), -1), ((2, 3, 2, 3), (1, 3))]


def _x(shape, dtype, seed=0):
    if dtype == torch.bool:
        return randn(*shape, seed=seed) > 0
    if not dtype.is_floating_point:
        return (randn(*shape, seed=seed) * 3).to(dtype) if dtype != torch.uint8 else (randn(*shape, seed=seed).abs() * 3).to(dtype)
    return randn(*shape, dtype=dtype, seed=seed)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
@pytest.mark.parametrize("shape, dim", SHAPES_DIMS)
def test_sum_prod_amax_amin(dtype, shape, dim):
    x = _x(shape, dtype, 1)
    ops = [aten.sum.dim_IntList, aten.amax.default, aten.amin.default]
    fns = lambda x: (x.sum(dim), x.sum(dim, keepdim=True), x.sum(), x.amax(dim), x.amin(dim, keepdim=True))  # noqa: E731
    if dtype == torch.bool:  # amax/amin of bool have no CPU kernel
        ops, fns = ops[:1], (lambda x: (x.sum(dim), x.sum()))
    # float16/bfloat16 sums: torch accumulates in float and rounds once, as the engine; the
    # tolerance covers the one rounding of a value up to ~10
    check_converter(fns, [x], ops, atol=1e-4 if dtype == torch.float32 else None, msg=f"{dtype} {shape} {dim}")
    if isinstance(dim, int):
        check_converter(lambda x: (x.prod(dim), x.prod(), x.prod(dim, keepdim=True)), [x],
                        [aten.prod.dim_int, aten.prod.default], msg=f"{dtype} {shape} {dim}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape, dim", SHAPES_DIMS)
def test_mean(dtype, shape, dim):
    check_converter(lambda x: (x.mean(dim), x.mean(dim, keepdim=True), x.mean()), [_x(shape, dtype, 2)],
                    [aten.mean.dim, aten.mean.default], msg=f"{dtype} {shape} {dim}")


@pytest.mark.parametrize("dtype", [torch.int32, torch.float16, torch.bool])
def test_dtype_keyword(dtype):
    x = _x((3, 5), dtype, 3)
    check_converter(lambda x: (x.sum(1, dtype=torch.float32), x.mean(0, dtype=torch.float32),
                               x.prod(1, dtype=torch.float32)),
                    [x], [aten.sum.dim_IntList, aten.mean.dim, aten.prod.dim_int])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
@pytest.mark.parametrize("shape, dim", [s for s in SHAPES_DIMS if isinstance(s[1], int)])
def test_max_min_values_indices(dtype, shape, dim):
    x = _x(shape, dtype, 4)
    check_converter(lambda x: (x.max(dim), x.min(dim, keepdim=True), x.max(), x.min()), [x],
                    [aten.max.dim, aten.min.dim, aten.max.default, aten.min.default], msg=f"{dtype} {shape} {dim}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)  # torch.argmax rejects bool
@pytest.mark.parametrize("shape, dim", [s for s in SHAPES_DIMS if isinstance(s[1], int)])
def test_argmax_argmin(dtype, shape, dim):
    x = _x(shape, dtype, 5)
    check_converter(lambda x: (x.argmax(dim), x.argmin(dim, keepdim=True), x.argmax(), x.argmin(keepdim=True)),
                    [x], [aten.argmax.default, aten.argmin.default], msg=f"{dtype} {shape} {dim}")


def test_max_with_nan_and_ties():
    x = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, float("nan"), 5.0, float("nan")], [1.0, 1.0, 1.0, 1.0]])
    check_converter(lambda x: (x.max(1), x.min(1), x.argmax(1), x.argmin(0), x.amax(1)), [x],
                    [aten.max.dim, aten.min.dim, aten.argmax.default, aten.argmin.default, aten.amax.default])


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16, torch.int32, torch.bool))
@pytest.mark.parametrize("shape, dim", SHAPES_DIMS)
def test_any_all(dtype, shape, dim):
    x = _x(shape, dtype, 6) if dtype == torch.bool else (_x(shape, dtype, 6) > 0.5).to(dtype)
    ops = [aten.any.default, aten.all.default] + ([aten.any.dim, aten.all.dim] if isinstance(dim, int) else
                                                   [aten.any.dims, aten.all.dims])
    check_converter(lambda x: (x.any(dim), x.all(dim), x.any(), x.all(), x.any(dim, keepdim=True)), [x], ops,
                    msg=f"{dtype} {shape} {dim}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape, dim", SHAPES_DIMS + [((4, 5), None)])
@pytest.mark.parametrize("correction", [None, 0, 2])
def test_var_std(dtype, shape, dim, correction):
    kw = {} if correction is None else dict(correction=correction)
    check_converter(lambda x: (x.var(dim, **kw), x.std(dim, keepdim=True, **kw), torch.var_mean(x, dim, **kw),
                               torch.std_mean(x, dim, **kw)), [_x(shape, dtype, 7)],
                    [aten.var.correction, aten.std.correction, aten.var_mean.correction, aten.std_mean.correction],
                    msg=f"{dtype} {shape} {dim} {correction}")


def test_var_of_one_element_is_nan():
    check_converter(lambda x: (x.var(1), x.std(1)), [randn(3, 1)], [aten.var.correction, aten.std.correction])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf])
@pytest.mark.parametrize("shape, dim", SHAPES_DIMS + [((4, 5), None)])
def test_vector_norm(dtype, ord, shape, dim):
    check_converter(lambda x: (torch.linalg.vector_norm(x, ord, dim), torch.linalg.vector_norm(x, ord, dim, True)),
                    [_x(shape, dtype, 8)], [aten.linalg_vector_norm.default], msg=f"{dtype} {ord} {shape} {dim}")


def test_unsupported_variants_stay_in_pytorch():
    x = randn(3, 4, seed=9)
    report = check_converter(lambda x: torch.linalg.vector_norm(x, 3, 1) * 2, [x], [aten.mul.Tensor])
    assert "aten.linalg_vector_norm.default" in report.unsupported, report.to_text()
