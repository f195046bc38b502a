"""Converters of elementwise arithmetic: add/sub (with alpha), mul, relu; tensor and scalar
operands, broadcasting, type promotion, every float dtype and int32/int64."""

import pytest
import torch

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((4, 1), (1, 5))])
def test_add_sub_mul_tensor(dtype, shapes):
    a = (randn(*shapes[0], seed=1) * 4).to(dtype)
    b = (randn(*shapes[1], seed=2) * 4).to(dtype)
    check_converter(lambda x, y: (x + y, x - y, x * y, torch.add(x, y, alpha=2), torch.sub(x, y, alpha=3)),
                    [a, b], [aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor], msg=f"{dtype} {shapes}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int64,))
def test_scalar_operands_and_promotion(dtype):
    a = (randn(5, 3, seed=3) * 4).to(dtype)
    check_converter(lambda x: ((x + 2) * 3 - 1, x * 0.5, torch.relu(x)), [a],
                    [aten.add.Tensor, aten.mul.Tensor, aten.relu.default], msg=str(dtype))


def test_int_tensor_times_float_tensor_promotes():
    a = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    b = randn(2, 3, seed=4)
    check_converter(lambda x, y: x * y + x, [a, b], [aten.mul.Tensor, aten.add.Tensor])
