"""Converters of cumsum (int/bool promotion to int64, the dtype keyword), topk (largest and
smallest, NaN) and sort (stable, or unstable with the indices unused) on float and int dtypes; the
variants that stay in PyTorch (topk unsorted, unstable sort with indices)."""

import pytest
import torch

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten

INT_DTYPES = (torch.int32, torch.int64, torch.int8, torch.uint8)


def _x(shape, dtype, seed=0):
    if dtype == torch.bool:
        return randn(*shape, seed=seed) > 0
    if not dtype.is_floating_point:
        return (randn(*shape, seed=seed).abs() * 5).to(dtype)
    return randn(*shape, dtype=dtype, seed=seed)


def _distinct(shape, dtype, seed=0):
    """Values without ties (so that PyTorch's own tie order does not matter)."""
    g = torch.Generator().manual_seed(seed)
    n = 1
    for s in shape:
        n *= s
    return torch.randperm(n, generator=g).reshape(shape).to(dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
@pytest.mark.parametrize("shape, dim", [((6,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1)])
def test_cumsum(dtype, shape, dim):
    # float16/bfloat16: the engine accumulates in double and rounds once, PyTorch rounds each step
    tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2}.get(dtype)
    check_converter(lambda x: x.cumsum(dim), [_x(shape, dtype, 1)], [aten.cumsum.default], atol=tol, rtol=tol,
                    msg=f"{dtype} {shape} {dim}")


@pytest.mark.parametrize("dtype", [torch.int32, torch.float16, torch.bool])
def test_cumsum_dtype_keyword(dtype):
    check_converter(lambda x: (x.cumsum(1, dtype=torch.float32), x.cumsum(0, dtype=torch.int32)),
                    [_x((3, 4), dtype, 2)], [aten.cumsum.default])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shape, k, dim", [((10,), 3, 0), ((4, 6), 2, 1), ((4, 6), 4, 0), ((2, 3, 5), 5, -1),
                                           ((3, 4), 0, 1)])
def test_topk(dtype, shape, k, dim):
    x = _distinct(shape, dtype, 3)
    check_converter(lambda x: (x.topk(k, dim), x.topk(k, dim, largest=False)), [x], [aten.topk.default],
                    msg=f"{dtype} {shape} {k}")


def test_topk_nan_ranks_highest():
    x = torch.tensor([[1.0, float("nan"), 3.0, -2.0], [0.5, 4.0, -1.0, 2.0]])
    check_converter(lambda x: (x.topk(2, 1), x.topk(2, 1, largest=False)), [x], [aten.topk.default])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shape, dim", [((7,), 0), ((3, 6), 1), ((4, 3), 0), ((2, 3, 4), -1)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort(dtype, shape, dim, descending):
    x = _x(shape, dtype, 4)  # ties: the stable sort's order is exact
    check_converter(lambda x: x.sort(dim=dim, descending=descending, stable=True), [x], [aten.sort.stable],
                    msg=f"{dtype} {shape} {dim}")
    check_converter(lambda x: x.sort(dim, descending).values * 2, [x], [aten.sort.default],
                    msg=f"{dtype} {shape} {dim}")


def test_stable_sort_with_nan_and_ties():
    x = torch.tensor([[1.0, float("nan"), 1.0, -2.0, float("nan"), 1.0], [0.0, 0.0, 2.0, 2.0, -1.0, 0.0]])
    check_converter(lambda x: (x.sort(dim=1, stable=True), x.sort(dim=1, descending=True, stable=True)), [x],
                    [aten.sort.stable])


def test_unsupported_variants_stay_in_pytorch():
    x = _distinct((3, 8), torch.float32, 5)
    report = check_converter(lambda x: x.topk(3, 1, sorted=False).values.sum(1), [x], [aten.sum.dim_IntList])
    assert "aten.topk.default" in report.unsupported, report.to_text()
    report = check_converter(lambda x: x.sort(1).indices.sum(1), [x], [aten.sum.dim_IntList])
    assert "aten.sort.default" in report.unsupported, report.to_text()
