"""Converters of padding (constant_pad_nd with any dtype and negative pads, reflection and
replication pads of 1 to 3 dims, batched or not) and linear/trilinear upsampling (sizes, scale
factors, align_corners both ways); circular padding and nearest upsampling stay decomposed."""

import pytest
import torch
import torch.nn.functional as F

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten

ALL_DTYPES = FLOAT_DTYPES + (torch.int32, torch.int64, torch.uint8, torch.bool)


def _x(shape, dtype, seed):
    return (randn(*shape, seed=seed) * 5).to(dtype) if not dtype.is_floating_point else randn(*shape, dtype=dtype,
                                                                                                 seed=seed)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape, pad", [((3, 4), (1, 2)), ((2, 3, 4, 5), (1, 0, 2, 3)),
                                        ((2, 3, 4), (1, 1, 0, 2, 3, 1)), ((2, 5, 6), (-1, 2, 1, -2))])
def test_constant_pad(dtype, shape, pad):
    value = 1 if dtype == torch.bool else 3
    check_converter(lambda x: (F.pad(x, pad), F.pad(x, pad, value=value)), [_x(shape, dtype, 1)],
                    [aten.constant_pad_nd.default], msg=f"{dtype} {shape} {pad}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("shape, pad", [((2, 3, 6), (2, 3)), ((3, 7), (1, 0)), ((1, 2, 5, 6), (1, 2, 3, 0)),
                                        ((2, 4, 5), (2, 1, 1, 3)), ((1, 2, 3, 4, 5), (1, 2, 2, 1, 0, 2)),
                                        ((2, 3, 4, 5), (2, 2, 1, 1, 1, 2))])
def test_reflect_replicate_pad(dtype, mode, shape, pad):
    nd = len(pad) // 2
    op = getattr(aten, f"{'reflection' if mode == 'reflect' else 'replication'}_pad{nd}d").default
    try:
        F.pad(_x(shape, dtype, 2), pad, mode=mode)
    except (RuntimeError, NotImplementedError):
        pytest.skip(f"PyTorch has no {mode} pad for {dtype}")
    check_converter(lambda x: F.pad(x, pad, mode=mode), [_x(shape, dtype, 2)], [op], msg=f"{dtype} {shape} {pad}")


def test_circular_pad_is_decomposed():
    report = check_converter(lambda x: F.pad(x, (1, 1, 1, 1), mode="circular") + 1, [randn(1, 2, 4, 4)], [])
    assert "aten.constant_pad_nd.default" not in report.op_counts


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape, size, scale", [((2, 3, 5), [11], None), ((1, 2, 8), [4], None),
                                                ((2, 3, 5), [10], 2.0), ((1, 1, 6), [9], 1.5)])
def test_upsample_linear1d(dtype, align_corners, shape, size, scale):
    check_converter(lambda x: aten.upsample_linear1d.default(x, size, align_corners, scale),
                    [randn(*shape, dtype=dtype, seed=3)], [aten.upsample_linear1d.default],
                    msg=f"{dtype} {shape} {size} {scale}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape, size, scales", [((1, 2, 3, 4, 5), [6, 8, 7], (None, None, None)),
                                                 ((2, 1, 4, 4, 4), [2, 6, 4], (None, None, None)),
                                                 ((1, 2, 2, 3, 4), [4, 6, 8], (2.0, 2.0, 2.0))])
def test_upsample_trilinear3d(dtype, align_corners, shape, size, scales):
    check_converter(lambda x: aten.upsample_trilinear3d.default(x, size, align_corners, *scales),
                    [randn(*shape, dtype=dtype, seed=4)], [aten.upsample_trilinear3d.default],
                    msg=f"{dtype} {shape} {size} {scales}")


def test_interpolate_is_decomposed_before_the_table():
    """F.interpolate's .vec overloads decompose while tracing (PyTorch's CompositeImplicit py_impl), so
    only direct .default calls reach these converters; the result is still right."""
    x1, x3 = randn(2, 3, 7, seed=5), randn(1, 2, 3, 4, 5, seed=6)
    r = check_converter(lambda x: F.interpolate(x, scale_factor=2.5, mode="linear"), [x1], [])
    assert "aten.upsample_linear1d.default" not in r.op_counts
    r = check_converter(lambda x: F.interpolate(x, size=(4, 5, 6), mode="trilinear", align_corners=True), [x3], [])
    assert "aten.upsample_trilinear3d.default" not in r.op_counts


INTERPOLATE_CASES = [
    ((1, 2, 5, 7), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 4, 6), dict(size=(7, 5), mode="nearest")),
    ((1, 2, 5, 7), dict(scale_factor=1.5, mode="bilinear")),
    ((1, 2, 5, 7), dict(size=(9, 3), mode="bilinear", align_corners=True)),
    ((1, 2, 5, 7), dict(size=(8, 14), mode="bilinear", align_corners=False)),
    ((2, 3, 9), dict(scale_factor=0.5, mode="linear")),
    ((1, 1, 3, 4, 5), dict(size=(4, 6, 7), mode="trilinear", align_corners=False)),
    ((1, 1, 3, 4, 5), dict(scale_factor=2, mode="nearest")),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,kw", INTERPOLATE_CASES)
def test_interpolate_stays_whole(dtype, shape, kw):
    import torch.nn.functional as F

    x = randn(*shape, dtype=dtype, seed=7)
    report = check_converter(lambda t: F.interpolate(t, **kw), [x], [torch.ops.tensorforge.interpolate.default],
                             msg=f"{shape} {kw} {dtype}")
    assert report.total_ops == 1  # one engine resize layer, not index arithmetic


def test_interpolate_with_antialias_is_decomposed():
    import torch.nn.functional as F

    x = randn(1, 2, 8, 8, seed=8)
    report = check_converter(lambda t: F.interpolate(t, scale_factor=0.5, mode="bilinear", antialias=True) * 2,
                             [x], [], expect_engine=False)
    assert "tensorforge.interpolate.default" not in report.op_counts
