"""CUDA matmul (cuBLASLt for float32/float16/bfloat16, a tiled kernel for int32/int64) against the
CPU kernel: odd M/N/K, every transpose, broadcast batch dims (stride-0 batches, several calls, the
stacked-rows fold), bias and every activation, every dtype, empty sizes, pointers that are not
16-byte aligned, capped workspaces.

Tolerances (the CPU result is float32 BLAS, rounded once to the output dtype):
- float32 with TF32 (the default): TF32 keeps 10 mantissa bits, so each product is off by up to
  about 2^-10 relatively; over K random products of size ~1 the error grows like sqrt(K) (the
  outputs' own scale), so atol = 5e-3 * sqrt(K), rtol = 1e-3.
- float32 with allow_tf32=False: both sides are float32 sums in different orders; the difference
  grows at most like K * 2^-24 per unit of |a*b|, so atol = 1e-5 + 2.5e-7 * K, rtol = 1e-5.
- float16/bfloat16: both sides read the same exact inputs and accumulate in float32, so they differ
  by the final rounding (1 ulp) plus float32 reassociation (~K * 2^-24, far below an ulp): the
  layer_harness TOLERANCE (2 ulp) needs no K scaling. The erf GELU rounds twice on the GPU (after
  the bias epilogue and after the GELU kernel), still within 1 ulp; the tanh GELU runs in
  cuBLASLt's epilogue where rows are whole 16-byte words (N, K multiples of 8; within 0.5 ulp of the
  exact value there), after the product otherwise (cuBLASLt's kernels for N = 7 and 65 were 8 ulp off).
- integers: exact (wrapping sums on both sides).
"""

import math

import pytest
import torch

import tensorforge as tf
from cuda_harness import both
from layer_harness import TOLERANCE

pytestmark = pytest.mark.cuda

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
INTS = (torch.int32, torch.int64)
ACTIVATIONS = ("none", "relu", "gelu", "gelu_tanh")


def operand(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-9, 10, shape, generator=g).to(dtype)


def check(gpu, cpu, k, msg, tf32=True):
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape, msg
    if not cpu.dtype.is_floating_point:
        assert torch.equal(gpu, cpu), msg
        return
    if cpu.dtype == torch.float32:
        atol, rtol = (5e-3 * math.sqrt(max(k, 1)), 1e-3) if tf32 else (1e-5 + 2.5e-7 * k, 1e-5)
    else:
        atol, rtol = TOLERANCE[cpu.dtype]
    torch.testing.assert_close(gpu, cpu, atol=atol, rtol=rtol, equal_nan=True, msg=lambda m: f"{msg}: {m}")


def shapes(m, n, k, ta, tb, batch_a=(), batch_b=()):
    return tuple(batch_a) + ((k, m) if ta else (m, k)), tuple(batch_b) + ((n, k) if tb else (k, n))


def run_both(sa, sb, dtype, ta=False, tb=False, bias=False, activation="none", seed=0, residual=False):
    a, b = operand(sa, dtype, seed), operand(sb, dtype, seed + 1)
    n = sb[-2] if tb else sb[-1]
    inputs = [a, b] + ([operand((n,), dtype, seed + 2)] if bias else [])
    if not residual:
        cpu, gpu = both(lambda net, x, y, *z: net.add_matmul(x, y, ta, tb, bias=z[0] if z else None,
                                                             activation=activation), inputs)
        return gpu[0], cpu[0]
    # The residual (input 3, of the output's shape): cuBLASLt's C with beta = 1 on CUDA.
    out_shape = torch.matmul(torch.zeros(sa).transpose(-1, -2) if ta else torch.zeros(sa),
                             torch.zeros(sb).transpose(-1, -2) if tb else torch.zeros(sb)).shape
    inputs.append(operand(tuple(out_shape), dtype, seed + 3))

    def build(net, x, y, *rest):
        z = rest[0] if bias else None
        attrs = dict(transpose_a=int(ta), transpose_b=int(tb), activation=activation)
        return net.add_layer("matmul", [x, y, z, rest[-1]], attrs)[0]

    cpu, gpu = both(build, inputs)
    return gpu[0], cpu[0]


SIZES = [(1, 1, 1), (7, 5, 3), (33, 7, 255), (255, 33, 7), (1, 255, 33), (64, 80, 96), (7, 1, 1000), (2, 3, 0)]


@pytest.mark.parametrize("tb", (False, True))
@pytest.mark.parametrize("ta", (False, True))
@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("m,n,k", SIZES)
def test_matmul_2d(m, n, k, dtype, ta, tb):
    sa, sb = shapes(m, n, k, ta, tb)
    gpu, cpu = run_both(sa, sb, dtype, ta, tb, seed=m + n + k)
    check(gpu, cpu, k, f"{dtype} {m}x{n}x{k} ta={ta} tb={tb}")


# (batch of a, batch of b): same batch, b shared (stacked rows fold when a is not transposed),
# a shared, stride-0 broadcast inside one strided batch, batch dims needing several calls.
BATCHES = [((2, 3), (2, 3)), ((3,), ()), ((3,), (1,)), ((), (2, 3)), ((2, 1), (5,)), ((4, 1), (1, 3)),
           ((3, 1), (1, 4)), ((2, 1, 3), (1, 4, 3)), ((0,), (1,))]


@pytest.mark.parametrize("ta,tb", ((False, False), (True, False), (False, True), (True, True)))
@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("batch_a,batch_b", BATCHES)
def test_matmul_batched(batch_a, batch_b, dtype, ta, tb):
    m, n, k = 17, 9, 33
    sa, sb = shapes(m, n, k, ta, tb, batch_a, batch_b)
    gpu, cpu = run_both(sa, sb, dtype, ta, tb, seed=len(batch_a) * 7 + len(batch_b))
    check(gpu, cpu, k, f"{dtype} {sa} x {sb} ta={ta} tb={tb}")


# The last: more rows than a grid's y extent (the bias/activation kernel loops over rows), N = 1; the
# one before: N a multiple of 8 (the 16-byte bias/activation kernel).
EPILOGUE_SHAPES = [((33, 255), (255, 7)), ((2, 3, 17, 40), (40, 65)), ((4, 1, 9, 8), (3, 8, 255)), ((3, 0), (0, 5)),
                   ((2, 33, 40), (40, 96)), ((70000, 3), (3, 1)), ((96, 256), (256, 128))]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sa,sb", EPILOGUE_SHAPES)
def test_bias_activation(sa, sb, dtype, bias, activation):
    gpu, cpu = run_both(sa, sb, dtype, bias=bias, activation=activation, seed=len(sa))
    check(gpu, cpu, sa[-1], f"{dtype} {sa} x {sb} bias={bias} {activation}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sa,sb", EPILOGUE_SHAPES)
def test_residual(sa, sb, dtype, bias, activation):
    """act(a b + bias + residual): the residual through cuBLASLt's C (beta = 1), the activation after it."""
    gpu, cpu = run_both(sa, sb, dtype, bias=bias, activation=activation, seed=len(sa) + 5, residual=True)
    check(gpu, cpu, sa[-1], f"{dtype} {sa} x {sb} bias={bias} {activation} + residual")


@pytest.mark.parametrize("dtype", FLOATS)
def test_residual_batched_and_transposed(dtype):
    """Batch dims that take several cuBLASLt calls (each call's C at its own offset), transposes."""
    for ta, tb in ((False, False), (True, True)):
        sa, sb = shapes(17, 9, 33, ta, tb, (2, 1, 3), (1, 4, 3))
        gpu, cpu = run_both(sa, sb, dtype, ta, tb, bias=True, seed=11, residual=True)
        check(gpu, cpu, 33, f"{dtype} {sa} x {sb} ta={ta} tb={tb} + residual")


@pytest.mark.parametrize("activation", ("none", "relu"))
@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("sa,sb", EPILOGUE_SHAPES)
def test_integer_bias_relu(sa, sb, dtype, activation):
    gpu, cpu = run_both(sa, sb, dtype, bias=True, activation=activation, seed=3)
    check(gpu, cpu, sa[-1], f"{dtype} {sa} x {sb} bias {activation}")


def test_integer_wraps_like_the_cpu():
    a = torch.tensor([[2**31 - 1, 2**31 - 1]], dtype=torch.int32)
    b = torch.tensor([[2**31 - 1], [2**31 - 1]], dtype=torch.int32)
    cpu, gpu = both(lambda n, x, y: n.add_matmul(x, y), [a, b])
    assert torch.equal(gpu[0], cpu[0])
    big = torch.tensor([[3_000_000_000, -5], [7, 2**40]], dtype=torch.int64)
    cpu, gpu = both(lambda n, x, y: n.add_matmul(x, y), [big, big])
    assert torch.equal(gpu[0], cpu[0])


def build_and_run(net_fn, inputs, **config):
    net = tf.Network()
    xs = [net.add_input(f"in{i}", t.dtype, tuple(t.shape)) for i, t in enumerate(inputs)]
    net.mark_output(net_fn(net, *xs), "out")
    engine = tf.Builder(tf.BuilderConfig(**config)).build(net)
    data = [t.cuda() for t in inputs] if config.get("device") == "cuda" else inputs
    return engine, engine(*data)[0]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_allow_tf32_false_is_float32_accurate(activation):
    m, n, k = 96, 80, 1024
    a, b, c = operand((m, k), torch.float32, 1), operand((k, n), torch.float32, 2), operand((n,), torch.float32, 3)
    fn = lambda net, x, y, z: net.add_matmul(x, y, bias=z, activation=activation)  # noqa: E731
    _, cpu = build_and_run(fn, [a, b, c], device="cpu")
    _, exact = build_and_run(fn, [a, b, c], device="cuda", allow_tf32=False)
    check(exact.cpu(), cpu, k, f"allow_tf32=False {activation}", tf32=False)
    _, fast = build_and_run(fn, [a, b, c], device="cuda")
    check(fast.cpu(), cpu, k, f"TF32 {activation}")
    # TF32 really is on by default: its error is far above full float32's.
    err_exact, err_fast = (exact.cpu() - cpu).abs().max().item(), (fast.cpu() - cpu).abs().max().item()
    assert err_fast > 10 * err_exact, f"TF32 error {err_fast} vs float32 error {err_exact}"


@pytest.mark.parametrize("dtype", FLOATS)
def test_unaligned_pointers(dtype):
    """Inputs one element past an aligned address: the kernel switches to its any-alignment algorithm."""
    m, n, k = 33, 40, 64
    a_store, b_store, c_store = (operand((1 + s,), dtype, i) for i, s in enumerate((m * k, k * n, n)))
    a, b, bias = a_store[1:].view(m, k), b_store[1:].view(k, n), c_store[1:]
    fn = lambda net, x, y, z: net.add_matmul(x, y, bias=z, activation="relu")  # noqa: E731
    _, cpu = build_and_run(fn, [a.clone(), b.clone(), bias.clone()], device="cpu")
    net = tf.Network()
    xs = [net.add_input(f"in{i}", t.dtype, tuple(t.shape)) for i, t in enumerate((a, b, bias))]
    net.mark_output(fn(net, *xs), "out")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    ga, gb, gc = a_store.cuda()[1:].view(m, k), b_store.cuda()[1:].view(k, n), c_store.cuda()[1:]
    assert ga.data_ptr() % 16 != 0
    (out,) = engine(ga, gb, gc)
    check(out.cpu(), cpu, k, f"unaligned {dtype}")


@pytest.mark.parametrize("workspace", (1024, 1 << 20, 0))
def test_workspace_cap(workspace):
    m, n, k = 128, 256, 4096  # large K: split-K algorithms would like a workspace
    a, b = operand((m, k), torch.float16, 1), operand((k, n), torch.float16, 2)
    fn = lambda net, x, y: net.add_matmul(x, y)  # noqa: E731
    _, cpu = build_and_run(fn, [a, b], device="cpu")
    _, out = build_and_run(fn, [a, b], device="cuda", workspace_size=workspace)
    check(out.cpu(), cpu, k, f"workspace_size={workspace}")


def test_chain_constants_tactics_and_round_trip():
    """Weights and bias as constants, an arena intermediate, int and float kernels; the engine file
    keeps the tactics."""
    x = operand((2, 7, 33), torch.float16, 1)
    w1, b1 = operand((33, 64), torch.float16, 2), operand((64,), torch.float16, 3)
    w2, b2 = operand((40, 64), torch.float16, 4), operand((40,), torch.float16, 5)
    i = operand((5, 6), torch.int64, 6)
    j = operand((6, 3), torch.int64, 7)

    def build(net, xt, it, jt):
        h = net.add_matmul(xt, w1, bias=b1, activation="gelu")
        return [net.add_matmul(h, w2, transpose_b=True, bias=b2, activation="gelu_tanh"), net.add_matmul(it, jt)]

    # The first layer's float16 output may differ by an ulp (2^-10 relative at most) between the
    # devices; the second layer sums those differences weighted by |w2|, then a GELU of slope < 1.13.
    h = torch.nn.functional.gelu(x.float() @ w1.float() + b1.float())
    spread = 1.13 * 2.0**-10 * (h.abs() @ w2.float().abs().t())
    atol, rtol = TOLERANCE[torch.float16]

    def check_chain(out, ref, msg):
        assert out.dtype == ref.dtype and out.shape == ref.shape, msg
        diff = (out.float() - ref.float()).abs()
        assert torch.all(diff <= spread + atol + rtol * ref.float().abs()), f"{msg}: largest difference {diff.max()}"

    cpu, gpu = both(build, [x, i, j])
    check_chain(gpu[0], cpu[0], "chain")
    assert torch.equal(gpu[1], cpu[1])

    net = tf.Network()
    xs = [net.add_input(f"in{k}", t.dtype, tuple(t.shape)) for k, t in enumerate((x, i, j))]
    for k, o in enumerate(build(net, *xs)):
        net.mark_output(o, f"out{k}")
    engine = tf.Engine.deserialize(tf.Builder(tf.BuilderConfig(device="cuda")).build(net).serialize())
    rows = engine.profile(x.cuda(), i.cuda(), j.cuda(), runs=2)
    assert sorted(r["tactic"] for r in rows if r["kind"] == "matmul") == [
        "cuda.matmul.cublaslt", "cuda.matmul.cublaslt", "cuda.matmul.int_tiled"]
    out = engine(x.cuda(), i.cuda(), j.cuda())
    check_chain(out[0].cpu(), cpu[0], "round trip")
    assert torch.equal(out[1].cpu(), cpu[1])
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        again = engine(x.cuda(), i.cuda(), j.cuda())
    side.synchronize()
    check_chain(again[0].cpu(), cpu[0], "side stream")


@pytest.mark.parametrize("level", (1, 3))
def test_algorithm_timing_follows_the_optimization_level(level, monkeypatch):
    """At level 3 the aligned algorithm is the fastest of the heuristic's first few, timed at build
    (the build's times show it; the sizes are this test's own, so no earlier layer of the process
    shares its choice); at level 1 the heuristic's first is taken untimed. Either way the result
    matches the CPU, through the CUDA graph's replay too."""
    monkeypatch.setenv("TENSORFORGE_KERNEL_CACHE", "off")  # a stored choice would skip the timing
    dtype = torch.float16
    a, b, bias = operand((3, 200, 136), dtype, 1), operand((136, 264), dtype, 2), operand((264,), dtype, 3)
    cpu, gpu = both(lambda net, x, y, z: net.add_matmul(x, y, bias=z, activation="relu"), [a, b, bias],
                    optimization_level=level)
    atol, rtol = TOLERANCE[dtype]
    torch.testing.assert_close(gpu[0].float(), cpu[0].float(), atol=atol, rtol=rtol)
    net = tf.Network()
    x = net.add_input("x", dtype, (3, 200, 136))
    net.mark_output(net.add_matmul(x, net.add_constant(b)), "y")
    engine = tf.Builder(tf.BuilderConfig(device="cuda", optimization_level=level)).build(net)
    assert ("of which matmul timing" in engine.build_times) == (level >= 3), engine.build_times
    choice = next(layer["choice"] for layer in engine.inspect(format="json")["layers"] if layer["kind"] == "matmul")
    assert (choice is not None and "cuBLASLt algorithm" in choice and "timed:" in choice) == (level >= 3), choice


CHOICE_SCRIPT = """
import torch, tensorforge as tf
g = torch.Generator().manual_seed(0)
a = torch.randn(3, 104, 72, generator=g).half()
b = (torch.randn(72, 152, generator=g) / 9).half()
net = tf.Network()
net.mark_output(net.add_matmul(net.add_input("a", torch.float16, tuple(a.shape)), net.add_constant(b),
                               activation="relu"), "y")
engine = tf.Builder(tf.BuilderConfig(device="cuda", optimization_level=3)).build(net)
got = engine(a.cuda())[0].float().cpu()
print("MAXDIFF", (got - torch.relu(a.float() @ b.float())).abs().max().item())
print("TIMED", "of which matmul timing" in engine.build_times)
print("CHOICE", next(l["choice"] for l in engine.inspect(format="json")["layers"] if l["kind"] == "matmul"))
"""


def test_algorithm_choices_come_back_from_the_disk_cache(tmp_path):
    """A second process building the same matmul takes the timed algorithm from the disk cache
    (nothing timed) and computes the same; a damaged entry reads as a miss and is timed again."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TENSORFORGE_KERNEL_CACHE=str(tmp_path))

    def build():
        r = subprocess.run([sys.executable, "-c", CHOICE_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        lines = {ln.split()[0]: ln.split(None, 1)[1] for ln in r.stdout.splitlines() if ln[:1].isupper()}
        assert float(lines["MAXDIFF"]) < 0.05, lines
        return lines["TIMED"] == "True", lines["CHOICE"]

    timed, choice = build()
    assert timed and "from the timing cache" not in choice, choice
    entries = list(tmp_path.glob("*.choice"))
    assert len(entries) == 1
    timed, choice = build()
    assert not timed and "from the timing cache" in choice and "cuBLASLt algorithm" in choice, choice
    entries[0].write_bytes(entries[0].read_bytes()[:-5])  # truncated: a miss, timed and stored again
    timed, choice = build()
    assert timed and "from the timing cache" not in choice, choice
    assert not build()[0]


@pytest.mark.parametrize("activation", ("relu", "gelu_tanh"))
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
def test_bias_activation_keeps_nan(dtype, activation):
    """relu and GELU keep NaN (docs/layers.md) with the bias and activation in cuBLASLt's epilogue as
    on the CPU: a NaN in a row of a makes that row of the product NaN before the activation, and
    after it."""
    a, b, bias = operand((40, 64), dtype, 1), operand((64, 48), dtype, 2), operand((48,), dtype, 3)
    a[7, 5] = float("nan")
    cpu, gpu = both(lambda net, x, y, z: net.add_matmul(x, y, bias=z, activation=activation), [a, b, bias])
    assert cpu[0][7].isnan().all()
    assert torch.equal(gpu[0].isnan(), cpu[0].isnan()), f"NaN rows differ: {gpu[0].isnan().any(dim=1).nonzero()}"
