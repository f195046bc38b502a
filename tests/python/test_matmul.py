"""matmul through the Python API against torch.matmul: transposes, broadcast batch dims on either
side, 2-D to 4-D operands, empty and unit sizes, float32/float16/bfloat16 (reference in float32)
and int32/int64 (exact)."""

import pytest
import torch

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, reference, run_network

# (a shape, b shape, transpose_a, transpose_b)
CASES = [
    ((3, 4), (4, 5), False, False),
    ((1, 1), (1, 1), False, False),
    ((7, 5), (7, 9), True, False),
    ((5, 7), (9, 7), False, True),
    ((7, 5), (9, 7), True, True),
    ((2, 3, 17, 33), (2, 3, 33, 9), False, False),
    ((3, 5, 4), (4, 6), False, False),            # b broadcast
    ((3, 4, 5), (1, 4, 6), True, False),          # b broadcast, a transposed
    ((5, 4), (2, 3, 4, 6), False, False),         # a broadcast
    ((2, 1, 3, 4), (5, 6, 4), False, True),       # both broadcast
    ((4, 1, 2, 3), (1, 3, 3, 2), False, False),   # extents of 1 on both sides
    ((0, 3), (3, 4), False, False),               # M = 0
    ((2, 0), (0, 3), False, False),               # K = 0 gives zeros
    ((64, 96), (96, 80), False, False),           # large enough for a blocked BLAS path
]


def _operands(dtype, sa, sb, seed):
    if dtype.is_floating_point:
        return randn(*sa, dtype=dtype, seed=seed), randn(*sb, dtype=dtype, seed=seed + 1)
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-7, 8, sa, generator=g).to(dtype), torch.randint(-7, 8, sb, generator=g).to(dtype)


def _torch_matmul(ta, tb):
    return lambda a, b: torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("sa,sb,ta,tb", CASES)
def test_matmul(dtype, sa, sb, ta, tb):
    a, b = _operands(dtype, sa, sb, seed=len(sa) * 10 + sb[-1])
    (out,) = run_network(lambda n, x, y: n.add_matmul(x, y, ta, tb), [a, b], roundtrip=ta)
    expected = reference(_torch_matmul(ta, tb), a, b) if dtype.is_floating_point else _torch_matmul(ta, tb)(a, b)
    assert_close(out, expected, dtype, msg=f"matmul {dtype} {sa}{'T' if ta else ''} x {sb}{'T' if tb else ''}")


def test_int64_large_values_exact():
    a = torch.tensor([[3_000_000_000, -5], [7, 2**40]], dtype=torch.int64)
    b = torch.tensor([[11, 2**20], [-3, 9]], dtype=torch.int64)
    (out,) = run_network(lambda n, x, y: n.add_matmul(x, y), [a, b])
    assert_close(out, torch.matmul(a, b), torch.int64, msg="int64")


def test_errors_name_the_layer():
    net = tf.Network()
    a = net.add_input("a", torch.float32, (3, 4))
    b = net.add_input("b", torch.float32, (5, 4))
    v = net.add_input("v", torch.float32, (4,))
    with pytest.raises(tf.InvalidNetworkError, match=r"layer 'mm' \(matmul\).*K of a is 4, K of b is 5.*transpose_a=0"):
        net.add_matmul(a, b, name="mm")
    assert tuple(net.add_matmul(a, b, transpose_b=True).shape) == (3, 5)
    with pytest.raises(tf.InvalidNetworkError, match="rank >= 2"):
        net.add_matmul(v, b)
    c = net.add_input("c", torch.float32, (2, 3, 4))
    d = net.add_input("d", torch.float32, (3, 4, 5))
    with pytest.raises(tf.InvalidNetworkError, match=r"batch dims \[2\] and \[3\] do not broadcast"):
        net.add_matmul(c, d)


_ACTIVATIONS = {
    "none": lambda x: x,
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
}


@pytest.mark.parametrize("activation", sorted(_ACTIVATIONS))
@pytest.mark.parametrize("with_bias", (False, True))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("sa,sb,ta,tb", [CASES[2], CASES[6], CASES[9], CASES[12]])
def test_matmul_bias_activation(dtype, sa, sb, ta, tb, with_bias, activation):
    """The epilogue runs on the float32 product before rounding: torch's matmul + bias + activation in float32."""
    a, b = _operands(dtype, sa, sb, seed=7)
    n = sb[-2] if tb else sb[-1]
    bias = randn(n, dtype=dtype, seed=9)
    inputs = [a, b, bias] if with_bias else [a, b]
    (out,) = run_network(lambda net, x, y, *z: net.add_matmul(x, y, ta, tb, bias=z[0] if z else None,
                                                               activation=activation), inputs)
    mm = _torch_matmul(ta, tb)
    expected = reference(lambda x, y, *z: _ACTIVATIONS[activation](mm(x, y) + (z[0] if z else 0)), *inputs)
    assert_close(out, expected, dtype, msg=f"matmul {dtype} {sa} x {sb} bias={with_bias} {activation}")


@pytest.mark.parametrize("dtype", (torch.int32, torch.int64))
def test_integer_bias_relu(dtype):
    a, b = _operands(dtype, (3, 5, 4), (4, 6), seed=3)
    bias = torch.arange(-3, 3, dtype=dtype)
    (out,) = run_network(lambda n, x, y, z: n.add_matmul(x, y, bias=z, activation="relu"), [a, b, bias])
    assert_close(out, torch.relu(torch.matmul(a, b) + bias), dtype, msg=f"{dtype} bias relu")


def test_epilogue_errors():
    net = tf.Network()
    a = net.add_input("a", torch.float32, (3, 4))
    b = net.add_input("b", torch.float32, (4, 5))
    with pytest.raises(tf.InvalidNetworkError, match=r"layer 'mm' \(matmul\).*bias must be 1-D \[N\] = \[5\].*not \[4\]"):
        net.add_matmul(a, b, bias=net.add_input("b4", torch.float32, (4,)), name="mm")
    with pytest.raises(tf.InvalidNetworkError, match=r"bias must have the output's dtype \(float32\), not float16"):
        net.add_matmul(a, b, bias=net.add_input("h5", torch.float16, (5,)))
    with pytest.raises(tf.InvalidNetworkError, match=r'activation must be .*not "tanh"'):
        net.add_matmul(a, b, activation="tanh")
    i = net.add_input("i", torch.int32, (3, 4))
    j = net.add_input("j", torch.int32, (4, 5))
    with pytest.raises(tf.InvalidNetworkError, match=r'activation "gelu_tanh" needs floating-point operands, not int32'):
        net.add_matmul(i, j, activation="gelu_tanh")
    net.add_matmul(a, b, name="plain")
    assert 'activation="none"' in net.to_text()
