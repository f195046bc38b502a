"""Converters of normalization (inference batch norm, instance norm's batch statistics, layer norm,
group norm; with and without affine parameters) and of softmax / log-softmax over several dims, on
every float dtype."""

import pytest
import torch
import torch.nn.functional as F

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(2, 4), (2, 4, 5), (1, 4, 3, 5), (2, 4, 2, 3, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(dtype, shape, affine):
    c = shape[1]
    mean, var = randn(c, dtype=dtype, seed=1), randn(c, seed=2).abs().to(dtype) + 0.5
    w, b = (randn(c, dtype=dtype, seed=3), randn(c, dtype=dtype, seed=4)) if affine else (None, None)
    check_converter(lambda x: F.batch_norm(x, mean, var, w, b, False, 0.1, 1e-3),
                    [randn(*shape, dtype=dtype, seed=5)], [aten._native_batch_norm_legit_no_training.default],
                    msg=f"{dtype} {shape}")


def test_batch_norm_module():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    m[1].running_mean.uniform_(-1, 1)
    m[1].running_var.uniform_(0.5, 2)
    check_converter(m, [randn(2, 3, 6, 6, seed=6)], [aten._native_batch_norm_legit_no_training.default],
                    atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 8), (1, 4, 5, 6), (3, 2, 3, 4, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm(dtype, shape, affine):
    c = shape[1]
    w, b = (randn(c, dtype=dtype, seed=7), randn(c, dtype=dtype, seed=8)) if affine else (None, None)
    check_converter(lambda x: F.instance_norm(x, weight=w, bias=b, eps=1e-4),
                    [randn(*shape, dtype=dtype, seed=9)], [aten._native_batch_norm_legit.no_stats],
                    msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape, nshape", [((4, 7), (7,)), ((2, 3, 8), (8,)), ((2, 3, 4, 5), (4, 5)),
                                           ((3, 6), (3, 6))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(dtype, shape, nshape, affine):
    w, b = (randn(*nshape, dtype=dtype, seed=10), randn(*nshape, dtype=dtype, seed=11)) if affine else (None, None)
    check_converter(lambda x: F.layer_norm(x, nshape, w, b, eps=1e-5), [randn(*shape, dtype=dtype, seed=12)],
                    [aten.native_layer_norm.default], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape, groups", [((2, 6, 5), 3), ((1, 4, 3, 5), 2), ((2, 8, 2, 3, 2), 4), ((3, 4), 1),
                                           ((2, 6, 4), 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(dtype, shape, groups, affine):
    c = shape[1]
    w, b = (randn(c, dtype=dtype, seed=13), randn(c, dtype=dtype, seed=14)) if affine else (None, None)
    check_converter(lambda x: F.group_norm(x, groups, w, b, eps=1e-5), [randn(*shape, dtype=dtype, seed=15)],
                    [aten.native_group_norm.default], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape, dim", [((5,), 0), ((3, 7), -1), ((3, 7), 0), ((2, 3, 4, 5), 1), ((2, 3, 4), -2)])
def test_softmax_log_softmax(dtype, shape, dim):
    x = randn(*shape, dtype=dtype, seed=16) * 3
    check_converter(lambda x: (F.softmax(x, dim), F.log_softmax(x, dim), x.softmax(dim) * 2),
                    [x], [aten._softmax.default, aten._log_softmax.default], msg=f"{dtype} {shape} {dim}")


def test_softmax_with_dtype_casts_first():
    x = randn(3, 5, dtype=torch.float16, seed=17)
    check_converter(lambda x: F.softmax(x, -1, dtype=torch.float32), [x], [aten._softmax.default])


def test_saved_statistics_used_stay_in_pytorch():
    x = randn(2, 3, 4, seed=18)
    report = check_converter(lambda x: [t * 2 for t in aten.native_layer_norm.default(x, [4], None, None, 1e-5)],
                             [x], [aten.mul.Tensor])
    assert "aten.native_layer_norm.default" in report.unsupported, report.to_text()
