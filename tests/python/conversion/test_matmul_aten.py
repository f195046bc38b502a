"""Converters of matrix products (mm, bmm, mv, dot, addmm, addmv, addbmm, baddbmm, and the
mm/bmm/t/view pieces of matmul and linear) against eager over several shapes, in float32, float16,
bfloat16, int32 and int64; unsupported dtypes stay in PyTorch."""

import pytest
import torch
import torch.nn.functional as F

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten
DTYPES = FLOAT_DTYPES + (torch.int32, torch.int64)
# float16/bfloat16 products accumulate K terms rounded once by the engine (float32 inside) and by
# PyTorch's CPU kernels in their own order: allow a few units in the last place of the sum.
TOL = {torch.float16: dict(atol=1e-2, rtol=1e-2), torch.bfloat16: dict(atol=6e-2, rtol=3e-2)}


def data(shape, dtype, seed):
    x = randn(*shape, seed=seed)
    return (x * 4).to(dtype) if not dtype.is_floating_point else x.to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (1, 7, 1), (8, 16, 2)])
def test_mm_mv_dot(dtype, m, k, n):
    a, b, v = data((m, k), dtype, 1), data((k, n), dtype, 2), data((k,), dtype, 3)
    check_converter(lambda a, b, v: (a @ b, torch.mv(a, v), torch.dot(v, v), v @ b, a @ v), [a, b, v],
                    [aten.mm.default, aten.mv.default, aten.dot.default], msg=f"{dtype} {m, k, n}",
                    **TOL.get(dtype, {}))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 4, 5)), ((2, 2, 3, 4), (2, 2, 4, 1)), ((2, 3, 4), (4, 6))])
def test_bmm_and_matmul(dtype, shapes):
    a, b = data(shapes[0], dtype, 1), data(shapes[1], dtype, 2)
    expected = [aten.bmm.default] if len(shapes[1]) > 2 else [aten.mm.default]
    check_converter(lambda a, b: a @ b, [a, b], expected, msg=f"{dtype} {shapes}",
                    **TOL.get(dtype, {}))


@pytest.mark.parametrize("dtype", DTYPES)
def test_explicit_bmm(dtype):
    a, b = data((3, 2, 5), dtype, 1), data((3, 5, 4), dtype, 2)
    check_converter(torch.bmm, [a, b], [aten.bmm.default], msg=str(dtype), **TOL.get(dtype, {}))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dtype, shape, bias):
    lin = torch.nn.Linear(4, 6, bias=bias).to(dtype)
    x = data(shape, dtype, 1)
    expected = [aten.addmm.default] if bias else [aten.mm.default]
    check_converter(lin, [x], expected, msg=f"{dtype} {shape} {bias}", **TOL.get(dtype, {}))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2), (0, 3), (2, 0)])
def test_addmm_addmv_addbmm_baddbmm(dtype, beta, alpha):
    if not dtype.is_floating_point:
        beta, alpha = int(beta * 2), int(alpha)
    a, b, v = data((3, 4), dtype, 1), data((4, 5), dtype, 2), data((4,), dtype, 3)
    b1, b2 = data((2, 3, 4), dtype, 4), data((2, 4, 5), dtype, 5)
    c, c1 = data((5,), dtype, 6), data((3,), dtype, 7)
    c3 = data((2, 1, 5), dtype, 8)
    check_converter(lambda a, b, v, b1, b2, c, c1, c3: (
        torch.addmm(c, a, b, beta=beta, alpha=alpha), torch.addmv(c1, a, v, beta=beta, alpha=alpha),
        torch.addbmm(c, b1, b2, beta=beta, alpha=alpha), torch.baddbmm(c3, b1, b2, beta=beta, alpha=alpha)),
        [a, b, v, b1, b2, c, c1, c3],
        [aten.addmm.default, aten.addmv.default, aten.addbmm.default, aten.baddbmm.default],
        msg=f"{dtype} {beta} {alpha}", **TOL.get(dtype, {}))


def test_beta_zero_ignores_nan_bias():
    a, b = randn(3, 4, seed=1), randn(4, 5, seed=2)
    c = torch.full((3, 5), float("nan"))
    check_converter(lambda a, b, c: torch.addmm(c, a, b, beta=0), [a, b, c], [aten.addmm.default])


def test_t_of_matrix_and_vector():
    check_converter(lambda x, v: (x.t() * 2, v.t() + 1), [randn(3, 4), randn(4)], [aten.t.default])


def test_uint8_mm_stays_in_pytorch():
    a = torch.arange(12, dtype=torch.uint8).reshape(3, 4)
    b = torch.arange(8, dtype=torch.uint8).reshape(4, 2)
    report = check_converter(lambda a, b: (a @ b, a.to(torch.int32) + 1), [a, b], [aten.add.Tensor])
    assert "aten.mm.default" in report.unsupported
