"""The recognize_gelu lowering pass: GELU written out with tanh (GPT-2's form, and with commuted
operands) becomes one aten.gelu(approximate="tanh") node and matches eager; a chain whose
intermediate is read elsewhere, or whose constants differ, is left alone."""

import math

import pytest
import torch

from aten_harness import check_converter, randn

aten = torch.ops.aten
GELU = aten.gelu.default


def gpt2_gelu(x):  # transformers' NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def commuted_gelu(x):
    return (1.0 + torch.tanh((0.044715 * x ** 3 + x) * math.sqrt(2.0 / math.pi))) * (x * 0.5)


@pytest.mark.parametrize("fn", [gpt2_gelu, commuted_gelu])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_written_out_tanh_gelu_becomes_one_node(fn, dtype):
    x = randn(4, 33, seed=1).to(dtype) * 3
    report = check_converter(fn, [x], [GELU], atol=1e-5 if dtype == torch.float32 else 2e-3, rtol=1e-3)
    assert str(aten.tanh.default) not in report.op_counts and report.op_counts[str(GELU)] == 1


def test_chain_read_elsewhere_or_other_constants_is_kept():
    x = randn(4, 9, seed=2)

    def shared(x):
        t = torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0)))
        return 0.5 * x * (1.0 + t), t * 2

    report = check_converter(shared, [x], [aten.tanh.default])
    assert str(GELU) not in report.op_counts

    def other_constant(x):
        return 0.5 * x * (1.0 + torch.tanh(0.8 * (x + 0.044715 * torch.pow(x, 3.0))))

    report = check_converter(other_constant, [x], [aten.tanh.default])
    assert str(GELU) not in report.op_counts
