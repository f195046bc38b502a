"""Converters of creation ops (full, full_like, zeros_like, ones_like, scalar_tensor, arange),
dtype casts (_to_copy with its _assert_tensor_metadata guard), the functional copy (aten.copy) and
eval-mode native_dropout, over
float, integer and bool dtypes; empty-like ops and device changes stay in PyTorch."""

import pytest
import torch

from aten_harness import FLOAT_DTYPES, randn
from aten_harness import check_converter as _check

aten = torch.ops.aten


def check_converter(fn, inputs, expected_ops, options=None, **kw):
    """The harness's check, with engine build failures raised (the harness would fall back silently)."""
    return _check(fn, inputs, expected_ops, options={"pass_through_build_failures": True, **(options or {})}, **kw)


ALL_DTYPES = FLOAT_DTYPES + (torch.int32, torch.int64, torch.uint8, torch.int8, torch.bool)
SHAPES = [(5,), (3, 4), (2, 3, 4)]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_full_and_likes(dtype, shape):
    x = (randn(*shape, seed=1) * 3).to(dtype)
    value = True if dtype == torch.bool else 3
    check_converter(lambda t: (torch.full(shape, value, dtype=dtype) + t, torch.full_like(t, value), torch.zeros_like(t),
                               torch.ones_like(t), torch.zeros(shape, dtype=dtype), torch.ones(shape, dtype=dtype),
                               torch.zeros_like(t, dtype=torch.float32), torch.full_like(t, 2.5, dtype=torch.float16)),
                    [x], [aten.full.default, aten.full_like.default, aten.zeros_like.default, aten.ones_like.default],
                    msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_full_inexact_value_rounds_as_torch(dtype):
    x = randn(3, 4, seed=2).to(dtype)
    check_converter(lambda t: (torch.full_like(t, 0.1), torch.full((3, 4), 1 / 3, dtype=dtype) * t), [x],
                    [aten.full_like.default, aten.full.default], atol=0, rtol=0, msg=str(dtype))


def test_full_large_int64_uses_a_constant():
    x = torch.zeros(3, dtype=torch.int64)
    big = (1 << 60) + 1
    check_converter(lambda t: t + torch.full((3,), big, dtype=torch.int64), [x], [aten.full.default])


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_scalar_tensor(dtype):
    x = (randn(3, 4, seed=3) * 3).to(dtype)
    other = False if dtype == torch.bool else 2
    check_converter(lambda t: torch.where(t > 0 if dtype != torch.bool else t, t, other), [x],
                    [aten.scalar_tensor.default, aten.where.self], msg=str(dtype))


@pytest.mark.parametrize("args,dtype", [((5,), None), ((2, 9), None), ((1, 10, 3), None), ((0.0, 1.0, 0.1), None),
                                        ((-3, 3, 0.5), torch.float16), ((0, 64, 3), torch.bfloat16),
                                        ((10, 0, -2), torch.int32), ((4,), torch.float32), ((1, 7), torch.uint8)])
def test_arange(args, dtype):
    x = torch.ones(1)
    check_converter(lambda t: (torch.arange(*args, dtype=dtype), t + 1), [x], [aten.arange.start_step], atol=0, rtol=0,
                    msg=f"{args} {dtype}")


CASTS = [(torch.float32, torch.float16), (torch.float32, torch.bfloat16), (torch.float16, torch.float32),
         (torch.bfloat16, torch.float16), (torch.float32, torch.int32), (torch.float32, torch.int64),
         (torch.float16, torch.int32), (torch.int64, torch.float32), (torch.int32, torch.int64),
         (torch.int64, torch.int32), (torch.float32, torch.bool), (torch.bool, torch.float32),
         (torch.int32, torch.bool), (torch.bool, torch.int64), (torch.float32, torch.uint8), (torch.uint8, torch.float16)]


@pytest.mark.parametrize("src,dst", CASTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_to_copy(src, dst, shape):
    x = (randn(*shape, seed=4) * 50).to(src) if src != torch.uint8 else (randn(*shape, seed=4) * 50).abs().to(src)
    if dst == torch.uint8:
        x = x.abs()  # negative floats to uint8 are undefined in C and differ between torch versions
    check_converter(lambda t: (t.to(dst), t.type(dst)), [x],
                    [aten._to_copy.default, aten._assert_tensor_metadata.default], msg=f"{src}->{dst} {shape}")


def test_type_as_and_to_dtype_in_a_chain():
    a, b = randn(3, 4, seed=5), torch.arange(12, dtype=torch.int64).reshape(3, 4)
    check_converter(lambda x, y: (x.type_as(y) + y, y.to(x.dtype) * x, x.half().float()), [a, b],
                    [aten._to_copy.default])


@pytest.mark.parametrize("dst_shape,src_shape", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 1))])
@pytest.mark.parametrize("dst,src", [(torch.float32, torch.float32), (torch.float16, torch.float32),
                                     (torch.int32, torch.float32), (torch.float32, torch.int64)])
def test_functional_copy_broadcasts_and_casts_src(dst_shape, src_shape, dst, src):
    x = randn(*dst_shape, seed=9).to(dst)
    y = (randn(*src_shape, seed=10) * 20).to(src)
    check_converter(lambda a, b: aten.copy.default(a * 2, b) + 1, [x, y], [aten.copy.default],
                    msg=f"{src}{src_shape}->{dst}{dst_shape}")


def test_eval_native_dropout_is_identity():
    x = randn(2, 3, 4, seed=6)
    for dtype in FLOAT_DTYPES:
        check_converter(lambda t: tuple(v * 1 for v in aten.native_dropout.default(t, 0.5, False)), [x.to(dtype)],
                        [aten.native_dropout.default], msg=str(dtype))


def test_memory_format_changes_stay_in_pytorch():
    x = randn(2, 3, 4, 5, seed=7)
    report = check_converter(lambda t: aten._to_copy.default(t, dtype=torch.float16, memory_format=torch.channels_last)
                             .relu(), [x], [aten.relu.default])
    assert "aten._to_copy.default" in report.unsupported, report.op_counts


def test_empty_like_stays_in_pytorch():
    x = randn(3, 4, seed=8)
    report = check_converter(lambda t: (torch.empty_like(t).fill_(2.0) + t, torch.empty(3, 4).zero_() * t), [x],
                             [aten.add.Tensor])
    assert not any(op.startswith("aten.empty") for op in report.op_counts) or \
        all(op in report.unsupported for op in report.op_counts if op.startswith("aten.empty")), report.op_counts
