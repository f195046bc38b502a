"""Converters of convolution (1-D/2-D/3-D, stride, padding, dilation, groups, bias or none,
transposed with output_padding) and pooling (max with unused indices, avg with ceil_mode,
count_include_pad and divisor_override, adaptive avg/max, unbatched inputs) on every float dtype,
and the variants that stay in PyTorch."""

import pytest
import torch
import torch.nn.functional as F

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten

CONV_CASES = [  # (input shape, weight shape, kwargs)
    ((2, 4, 11), (6, 4, 3), dict(padding=1)),
    ((1, 4, 9, 10), (6, 2, 3, 3), dict(stride=2, padding=(1, 0), groups=2)),
    ((2, 3, 8, 9), (4, 3, 3, 2), dict(dilation=2)),
    ((1, 2, 5, 6, 7), (3, 2, 3, 3, 3), dict(stride=(1, 2, 1), padding=1)),
    ((2, 4, 7, 8), (4, 1, 3, 3), dict(padding="same", groups=4)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_convolution(dtype, case, bias):
    xs, ws, kw = case
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(xs)]
    x, w = randn(*xs, dtype=dtype, seed=1), randn(*ws, dtype=dtype, seed=2)
    b = randn(ws[0], dtype=dtype, seed=3) if bias else None
    # float16/bfloat16 sums of up to 54 products: torch and the engine round differently inside.
    tol = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]
    check_converter(lambda x, w: conv(x, w, b, **kw), [x, w], [aten.convolution.default], atol=tol, rtol=tol,
                    msg=f"{dtype} {case}")


DECONV_CASES = [  # (input shape, weight shape [Cin, Cout/g, *k], kwargs)
    ((2, 4, 7), (4, 3, 3), dict(stride=2, output_padding=1)),
    ((1, 4, 5, 6), (4, 2, 3, 3), dict(stride=2, padding=1, output_padding=(1, 0), groups=2)),
    ((1, 2, 4, 5), (2, 3, 2, 3), dict(dilation=2)),
    ((1, 2, 3, 4, 3), (2, 2, 3, 3, 3), dict(stride=(2, 1, 2))),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", DECONV_CASES)
def test_transposed_convolution(dtype, case):
    xs, ws, kw = case
    conv = {3: F.conv_transpose1d, 4: F.conv_transpose2d, 5: F.conv_transpose3d}[len(xs)]
    x, w = randn(*xs, dtype=dtype, seed=4), randn(*ws, dtype=dtype, seed=5)
    b = randn(ws[1] * kw.get("groups", 1), dtype=dtype, seed=6)
    tol = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]  # as in test_convolution
    check_converter(lambda x, w: conv(x, w, b, **kw), [x, w], [aten.convolution.default], atol=tol, rtol=tol,
                    msg=f"{dtype} {case}")


def test_conv_module_with_frozen_weights():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ConvTranspose2d(8, 4, 2, stride=2))
    check_converter(m, [randn(2, 3, 6, 6, seed=7)], [aten.convolution.default], atol=1e-4, rtol=1e-4)


POOL_CASES = [  # (input shape, kernel, kwargs)
    ((2, 3, 10), 2, {}),
    ((2, 3, 9, 11), 3, dict(stride=2, padding=1)),
    ((1, 2, 9, 10), (3, 2), dict(stride=(2, 3), ceil_mode=True)),
    ((3, 9, 8), 2, dict(stride=1)),  # unbatched
    ((1, 2, 5, 6, 7), 2, dict(padding=1, ceil_mode=True)),
    ((1, 2, 6, 7, 8), (3, 2, 2), dict(stride=2)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool(dtype, case):
    xs, k, kw = case
    nd = len(xs) - 2 if len(xs) != 3 or "stride" not in kw or kw["stride"] != 1 else 2
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    op = aten.max_pool3d_with_indices.default if nd == 3 else aten.max_pool2d_with_indices.default
    check_converter(lambda x: pool(x, k, **kw), [randn(*xs, dtype=dtype, seed=8)], [op], msg=f"{dtype} {case}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_max_pool_dilation(dtype):
    x = randn(2, 3, 12, 11, dtype=dtype, seed=9)
    check_converter(lambda x: F.max_pool2d(x, 3, stride=2, padding=1, dilation=2, ceil_mode=True), [x],
                    [aten.max_pool2d_with_indices.default])
    x3 = randn(1, 2, 9, 8, 9, dtype=dtype, seed=10)
    check_converter(lambda x: F.max_pool3d(x, 2, dilation=(1, 2, 2)), [x3], [aten.max_pool3d_with_indices.default])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool(dtype, case, count_include_pad):
    xs, k, kw = case
    nd = len(xs) - 2 if len(xs) != 3 or kw.get("stride") != 1 else 2
    pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    op = aten.avg_pool3d.default if nd == 3 else aten.avg_pool2d.default
    if nd == 3 and dtype != torch.float32:
        pytest.skip("PyTorch's CPU avg_pool3d has only a float32 kernel to compare with")
    check_converter(lambda x: pool(x, k, count_include_pad=count_include_pad, **kw),
                    [randn(*xs, dtype=dtype, seed=11)], [op], msg=f"{dtype} {case}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_avg_pool_divisor_override(dtype):
    check_converter(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, divisor_override=4),
                    [randn(2, 3, 9, 8, dtype=dtype, seed=12)], [aten.avg_pool2d.default])
    if dtype == torch.float32:  # PyTorch's CPU avg_pool3d has only a float32 kernel
        check_converter(lambda x: F.avg_pool3d(x, 2, divisor_override=3),
                        [randn(1, 2, 4, 5, 6, dtype=dtype, seed=13)], [aten.avg_pool3d.default])


ADAPTIVE_CASES = [  # (input shape, output size)
    ((2, 3, 10), 4), ((2, 3, 10, 9), (3, 4)), ((1, 2, 7, 13), (7, 5)), ((3, 8, 6), (3, 2)),
    ((1, 2, 6, 7, 9), (2, 3, 4)), ((2, 1, 5, 5, 5), 2),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES)
def test_adaptive_pools(dtype, case):
    xs, size = case
    nd = len(xs) - 2 if not (len(xs) == 3 and isinstance(size, tuple)) else 2
    avg = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[nd]
    mx = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[nd]
    ops = {1: [aten._adaptive_avg_pool2d.default, aten.adaptive_max_pool2d.default],
           2: [aten._adaptive_avg_pool2d.default, aten.adaptive_max_pool2d.default],
           3: [aten._adaptive_avg_pool3d.default, aten.adaptive_max_pool3d.default]}[nd]
    check_converter(lambda x: (avg(x, size), mx(x, size)), [randn(*xs, dtype=dtype, seed=14)], ops,
                    msg=f"{dtype} {case}")


def _stays(fn, inputs, op, other_ops=()):
    report = check_converter(fn, inputs, other_ops)
    assert str(op) in report.unsupported, f"{op} should stay in PyTorch: {report.to_text()}"


def test_used_indices_stay_in_pytorch():
    x = randn(2, 3, 8, 8, seed=15)
    _stays(lambda x: [t.float() + 1 for t in F.max_pool2d(x, 2, return_indices=True)], [x],
           aten.max_pool2d_with_indices.default, [aten.add.Tensor])
    _stays(lambda x: [t.float() + 1 for t in F.adaptive_max_pool2d(x, 3, return_indices=True)], [x],
           aten.adaptive_max_pool2d.default, [aten.add.Tensor])


def test_float64_conv_stays_in_pytorch():
    x, w = randn(1, 2, 6, 6, dtype=torch.float64), randn(3, 2, 3, 3, dtype=torch.float64)
    _stays(lambda x, w: F.conv2d(x, w).relu().float() * 2, [x, w], aten.convolution.default, [aten.mul.Tensor])
