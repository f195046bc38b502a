"""CUDA kernels of the pointwise layers (elementwise, unary, activation, cast) against the CPU
kernels: the same network built for both devices, over several shapes (odd sizes, broadcasts,
non-contiguous inputs) and every dtype, with the tolerances of layer_harness. Also the CUDA
runtime: PyTorch's current stream, device checks, file round trip, and the clear error for a layer
kind without a CUDA kernel yet."""

import pytest
import torch

import tensorforge as tf
from cuda_harness import both, close
from test_pointwise import ACTIVATIONS, ARITH, COMPARE, LOGICAL, UNARY_FLOAT, UNARY_NUMERIC, UNARY_PRED

pytestmark = pytest.mark.cuda

# then three take the 16-byte path with a repeated operand (b, a, and one not a multiple of a pack);
# the last three a stretched one (a channels-last squeeze-excite scale [N, 1, 1, C]: b, a, and one
# broadcast over a single middle dim)
SHAPES = [((7,), (7,)), ((2, 3, 5), (5,)), ((4, 1, 3), (1, 6, 1)), ((3, 4), ()), ((1000, 37), (37,)),
          ((6, 8, 32), (1, 8, 32)), ((32,), (5, 3, 32)), ((7, 9), (9,)),
          ((2, 5, 6, 48), (2, 1, 1, 48)), ((3, 1, 64), (3, 7, 64)), ((4, 3, 7, 16), (4, 3, 1, 16))]
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.int8)


def operands(dtype, sa, sb, positive=False):
    g = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        a, b = torch.randn(sa, generator=g).to(dtype), torch.randn(sb, generator=g).to(dtype)
        return (a.abs() + 0.5, b.abs()) if positive else (a, b)
    lo = 0 if positive else -5
    return torch.randint(lo, 6, sa, generator=g).to(dtype), torch.randint(1 if positive else lo, 6, sb, generator=g).to(dtype)


@pytest.mark.parametrize("op", sorted(ARITH) + sorted(COMPARE) + sorted(LOGICAL))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_elementwise(op, dtype, shapes):
    positive = op == "pow" or (not dtype.is_floating_point and op in ("floor_div", "mod", "div"))
    a, b = operands(dtype, *shapes, positive=positive)
    cpu, gpu = both(lambda n, x, y: n.add_elementwise(x, y, op), [a, b])
    close(gpu[0], cpu[0], f"{op} {dtype} {shapes}")


@pytest.mark.parametrize("op", sorted(UNARY_FLOAT) + sorted(UNARY_NUMERIC) + sorted(UNARY_PRED))
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16, torch.int32))
def test_unary(op, dtype):
    if op in UNARY_FLOAT and not dtype.is_floating_point:
        pytest.skip("float-only op")
    x = torch.randn(33, 17, generator=torch.Generator().manual_seed(1)) * 2
    if op in ("log", "log2", "log10", "sqrt", "rsqrt", "acosh"):
        x = x.abs() + 1.1
    if op in ("asin", "acos", "atanh"):
        x = x.clamp(-0.9, 0.9)
    x = x.to(dtype) if dtype.is_floating_point else x.round().to(dtype)
    cpu, gpu = both(lambda n, t: n.add_unary(t, op), [x])
    close(gpu[0], cpu[0], f"{op} {dtype}")


@pytest.mark.parametrize("op", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
def test_activation(op, dtype):
    _, kw = ACTIVATIONS[op]
    x = (torch.randn(4, 257, generator=torch.Generator().manual_seed(2)) * 3).to(dtype)
    cpu, gpu = both(lambda n, t: n.add_activation(t, op, **kw), [x])
    close(gpu[0], cpu[0], f"{op} {dtype}")


ALL = (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64, torch.bool, torch.uint8)


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_cast(src, dst):
    x = (torch.randn(3, 101, generator=torch.Generator().manual_seed(3)) * 50).to(src)
    cpu, gpu = both(lambda n, t: n.add_cast(t, dst), [x])
    close(gpu[0], cpu[0], f"{src}->{dst}")


def test_non_contiguous_input_and_constants():
    x = torch.randn(6, 4).t()
    c = torch.randn(6)
    cpu, gpu = both(lambda n, t: n.add_activation(n.add_elementwise(t, c, "mul"), "relu"), [x])
    close(gpu[0], cpu[0], "constant broadcast")


def test_runs_on_the_current_stream_and_round_trips():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (1 << 20,))
    net.mark_output(net.add_unary(net.add_activation(x, "silu"), "exp"), "y")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    assert engine.device == "cuda"
    again = tf.Engine.deserialize(engine.serialize())
    data = torch.randn(1 << 20, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())  # data is written on the default stream
    with torch.cuda.stream(side):
        (y,) = again(data)
    side.synchronize()
    torch.testing.assert_close(y, torch.exp(torch.nn.functional.silu(data)), atol=1e-5, rtol=1e-5)


def test_device_errors():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (4,))
    net.mark_output(net.add_unary(x, "neg"), "y")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    with pytest.raises(ValueError, match="runs on cuda"):
        engine(torch.randn(4))
    net2 = tf.Network()
    x2 = net2.add_input("x", torch.float32, (1, 3, 4))
    # output_padding >= stride (allowed by dilation 2) has no cuDNN equivalent: no CUDA kernel takes it
    net2.mark_output(net2.add_deconvolution(x2, torch.randn(3, 2, 2), stride=[1], output_padding=[1], dilation=[2]),
                     "y")
    with pytest.raises(tf.UnsupportedError, match="no kernel supports this layer on this device"):
        tf.Builder(tf.BuilderConfig(device="cuda")).build(net2)


def test_profile_times_cuda_layers():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (1 << 22,))
    net.mark_output(net.add_unary(net.add_activation(x, "gelu_erf"), "exp"), "y")
    x = torch.randn(1 << 22, device="cuda")
    engine = tf.Builder(tf.BuilderConfig(device="cuda", optimization_level=0)).build(net)  # no fusion
    rows = engine.profile(x, runs=3)
    assert sorted(r["kind"] for r in rows) == ["activation", "unary"]
    assert all(r["ms"] > 0.001 for r in rows)  # 16 MiB each way: microseconds, not zero
    assert {r["tactic"] for r in rows} == {"cuda.activation", "cuda.unary"}
    fused = tf.Builder(tf.BuilderConfig(device="cuda")).build(net).profile(x, runs=3)
    assert [(r["kind"], r["tactic"]) for r in fused] == [("pointwise", "cuda.pointwise.generated")]
    assert fused[0]["ms"] > 0.001
