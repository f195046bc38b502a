"""CUDA quantized_matmul against the CPU kernel (docs/layers.md): int8 and uint8 rows, b as [K, N]
and [N, K], bias, residual, relu and both GELUs, float32/float16/bfloat16 outputs, rows of any rank; sizes cuBLASLt's
int8 product takes (the int32 sums in the workspace, then scale/bias/relu) and odd ones the tiled
kernel takes; the sums exact against PyTorch's integer product; CUDA graph replay (cuda_harness)."""

import pytest
import torch

import tensorforge as tf
from cuda_harness import both, check
from tensorforge.testing.networks import network_of

pytestmark = pytest.mark.cuda

OUT_DTYPES = ["float32", "float16", "bfloat16"]


def _inputs(a_dtype, rows, k, n, transpose_b, seed):
    g = torch.Generator().manual_seed(seed)
    lo, hi = (0, 256) if a_dtype == torch.uint8 else (-128, 128)
    a = torch.randint(lo, hi, (*rows, k), generator=g, dtype=torch.int32).to(a_dtype)
    b = torch.randint(-127, 128, (n, k) if transpose_b else (k, n), generator=g, dtype=torch.int32).to(torch.int8)
    scale = torch.rand(n, generator=g) * 1e-3 + 1e-4
    bias = torch.randn(n, generator=g)
    return a, b, scale, bias


def _build(transpose_b, activation, dtype, with_bias):
    def build(net, a, b, scale, bias):
        return net.add_quantized_matmul(a, b, scale, bias if with_bias else None, transpose_b, activation, dtype)
    return build


@pytest.mark.parametrize("a_dtype", [torch.int8, torch.uint8])
@pytest.mark.parametrize("transpose_b", [True, False])
@pytest.mark.parametrize("dtype", OUT_DTYPES)
@pytest.mark.parametrize("rows,k,n", [((5,), 7, 3), ((64,), 64, 32), ((2, 3, 16), 48, 20), ((33,), 128, 96)])
def test_matches_the_cpu_kernel(a_dtype, transpose_b, dtype, rows, k, n):
    a, b, scale, bias = _inputs(a_dtype, rows, k, n, transpose_b, seed=k + n)
    for activation, with_bias in [("none", True), ("relu", True), ("relu", False)]:
        check(_build(transpose_b, activation, dtype, with_bias), [a, b, scale, bias],
              f"{a_dtype} {tuple(rows)}x{k}x{n} tb={transpose_b} {dtype} {activation} bias={with_bias}")


@pytest.mark.parametrize("rows,k,n,library", [((64,), 512, 64, True), ((48,), 512, 40, True), ((7,), 509, 13, False)])
def test_sums_are_exact(rows, k, n, library):
    """With scale 1 and no bias, float32 outputs are the int32 sums themselves (below 2^24 here)."""
    a, b, _, _ = _inputs(torch.int8, rows, k, n, True, seed=3)
    scale = torch.ones(n)
    net = network_of(lambda nw, x, w, s: nw.add_quantized_matmul(x, w, s, None, True, "none", "float32"), [a, b, scale])
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    got = engine(a.cuda(), b.cuda(), scale.cuda())[0].cpu()
    want = (a.to(torch.int64) @ b.to(torch.int64).T).to(torch.float32)
    assert torch.equal(got, want)
    assert ("cuBLASLt int8" in engine.inspect()) == library, engine.inspect()


def test_misaligned_rows_take_the_tiled_kernel():
    """A view starting one byte into its buffer cannot go to cuBLASLt; the result stays right."""
    a, b, scale, bias = _inputs(torch.int8, (32,), 64, 32, True, seed=4)
    net = network_of(_build(True, "none", "float32", True), [a, b, scale, bias])
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    flat = torch.empty(a.numel() + 1, dtype=torch.int8, device="cuda")
    shifted = flat[1:].view(a.shape)
    shifted.copy_(a.cuda())
    cpu = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(a, b, scale, bias)[0]
    got = engine(shifted, b.cuda(), scale.cuda(), bias.cuda())[0].cpu()
    torch.testing.assert_close(got, torch.as_tensor(cpu), atol=0, rtol=0)


def test_replays_in_a_cuda_graph():
    a, b, scale, bias = _inputs(torch.int8, (64,), 64, 64, True, seed=5)
    cpu, gpu = both(_build(True, "relu", "float16", True), [a, b, scale, bias])
    torch.testing.assert_close(gpu[0], torch.as_tensor(cpu[0]), atol=0, rtol=0)


@pytest.mark.parametrize("a_dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("rows,k,n,gemv", [((1,), 256, 40, True), ((4,), 128, 7, True), ((2, 8), 64, 33, True),
                                           ((1,), 8192, 10, True), ((3,), 4112, 9, True),
                                           ((17,), 64, 8, False), ((3,), 24, 5, False)])
def test_weight_only_float_rows(a_dtype, rows, k, n, gemv):
    """Float rows (weight only): the matrix-vector kernel for at most 16 rows with K a multiple of 16
    (1, 2-4 and 5-16 rows, N not a multiple of its column groups, K longer than a block's one pass),
    the tiled kernel otherwise; float32 sums in another order than the CPU's, so the results
    agree to the output dtype's rounding (2 ulp) rather than bit for bit."""
    g = torch.Generator().manual_seed(k + n)
    a = torch.randn(*rows, k, generator=g).to(a_dtype)
    b = torch.randint(-127, 128, (n, k), generator=g, dtype=torch.int32).to(torch.int8)
    scale, bias = torch.rand(n, generator=g) * 1e-2 + 1e-3, torch.randn(n, generator=g)
    out = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}[a_dtype]
    net = network_of(_build(True, "relu", out, True), [a, b, scale, bias])
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    got = engine(a.cuda(), b.cuda(), scale.cuda(), bias.cuda())[0].cpu()
    want = torch.as_tensor(tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(a, b, scale, bias)[0])
    rtol = 1e-4 if a_dtype == torch.float32 else 8e-3
    torch.testing.assert_close(got.float(), want.float(), rtol=rtol, atol=rtol * want.float().abs().max().item())
    assert ("weight-only int8 matrix-vector" in engine.inspect()) == gemv, engine.inspect()


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh", "relu"])
@pytest.mark.parametrize("rows,k,n", [((64,), 64, 32), ((5,), 7, 3)])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_residual_and_activations(activation, rows, k, n, dtype):
    """act(acc * scale + bias + residual): the cuBLASLt path's scale_sums kernel and the tiled one."""
    a, b, scale, bias = _inputs(torch.int8, rows, k, n, True, seed=n)
    res = torch.randn(*rows, n, generator=torch.Generator().manual_seed(11)).to(getattr(torch, dtype))

    def build(net, a, b, scale, bias, r):
        return net.add_quantized_matmul(a, b, scale, bias, True, activation, dtype, residual=r)
    check(build, [a, b, scale, bias, res], f"{activation} {dtype} {tuple(rows)}x{k}x{n}")
