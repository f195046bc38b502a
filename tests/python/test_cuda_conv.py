"""CUDA convolution and transposed convolution (cuDNN) against the CPU kernels: the same network built
for both devices over 1-D/2-D/3-D shapes with odd sizes, strides, padding, dilation, groups
(depthwise included), with and without bias and fused relu, each float dtype, deconvolution with
output_padding; float32 with and without TF32, cuDNN's heuristic (optimization_level 0) and timed
algorithm choice, a workspace cap, constant weights, empty batches and engine files.

Weights are scaled by 1/sqrt(K) (K = input channels per group x kernel volume, the reduction length)
so outputs stay near 1 and one tolerance per precision holds for every K:
- float32 with TF32: products of inputs rounded to 10-bit mantissas, so each product is off by up to
  2^-10 relative and the sum by about 2^-10 sqrt(K) rms(product) = 2^-10 here: 5e-3 absolute and
  relative leaves room for the largest of thousands of outputs.
- float32 without TF32 (CUDNN_FMA_MATH): float32 arithmetic, but Winograd/FFT algorithms reassociate
  more than BLAS does: 1e-4, still 10x below what TF32 would give.
- float16: exact products and float32 sums, rounded once to float16 (twice when bias/relu run as a
  separate pass), Winograd transforms may round in float16: 1e-2 (about 5 ulp at 1.0).
- bfloat16: the same with 8-bit mantissas: 4e-2 (about 5 ulp at 1.0).
"""

import math

import pytest
import torch

import tensorforge as tf
from cuda_harness import both

pytestmark = pytest.mark.cuda

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
TOL = {"tf32": 5e-3, torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 4e-2}


def randn(shape, dtype, seed, scale=1.0):
    return (torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale).to(dtype)


def check(gpu, cpu, tol, msg):
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape, msg
    torch.testing.assert_close(gpu.float(), cpu.float(), atol=tol, rtol=tol, msg=lambda m: f"{msg}: {m}")


def tolerance(dtype, tf32=True):
    return TOL["tf32"] if dtype == torch.float32 and tf32 else TOL[dtype]


# (input shape, weight shape, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 3, 11), (4, 3, 3), (1,), (0,), (1,), 1),
    ((1, 4, 17), (6, 2, 4), (2,), (1,), (2,), 2),
    ((3, 5, 9), (5, 1, 3), (1,), (1,), (1,), 5),  # depthwise 1-D
    ((2, 3, 13, 11), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 6, 9, 10), (6, 1, 3, 3), (2, 1), (1, 0), (1, 2), 6),  # depthwise, dilated
    ((2, 16, 15, 15), (16, 1, 5, 5), (2, 2), (2, 2), (1, 1), 16),  # depthwise 5x5 (MobileNetV3)
    ((2, 8, 7, 9), (12, 8, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1
    ((1, 8, 10, 10), (8, 2, 3, 3), (1, 1), (2, 2), (2, 2), 4),  # grouped, dilated
    ((2, 3, 33, 31), (16, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1),  # ResNet stem
    ((2, 32, 14, 14), (64, 32, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 2, 5, 6, 7), (3, 2, 2, 3, 2), (1, 2, 1), (1, 0, 1), (2, 1, 1), 1),
    ((2, 4, 4, 5, 6), (4, 2, 1, 2, 3), (1, 1, 2), (0, 1, 1), (1, 1, 1), 2),
    ((1, 8, 6, 6, 6), (8, 1, 3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 8),  # depthwise 3-D
]


def conv_inputs(case, dtype, bias, seed=0):
    xs, ws, *_ = case
    k = math.prod(ws[1:])
    x = randn(xs, dtype, seed + 1)
    w = randn(ws, dtype, seed + 2, scale=1 / math.sqrt(k))
    return [x, w] + ([randn(ws[0], dtype, seed + 3, scale=0.5)] if bias else [])


def conv_build(case, activation):
    _, _, stride, padding, dilation, groups = case
    return lambda n, x, w, *b: n.add_convolution(x, w, b[0] if b else None, stride, padding, dilation, groups,
                                                 activation=activation)


@pytest.mark.parametrize("activation", ("none", "relu", "silu", "hardswish", "relu6"))
@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution(case, dtype, bias, activation):
    cpu, gpu = both(conv_build(case, activation), conv_inputs(case, dtype, bias))
    check(gpu[0], cpu[0], tolerance(dtype), f"conv {case} {dtype} bias={bias} {activation}")
    if activation == "relu":
        assert (gpu[0] >= 0).all()


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_float32_without_tf32(case):
    cpu, gpu = both(conv_build(case, "relu"), conv_inputs(case, torch.float32, True), allow_tf32=False)
    check(gpu[0], cpu[0], tolerance(torch.float32, tf32=False), f"conv fma {case}")


@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_heuristic_algorithm(case, dtype, bias):
    # optimization_level 0: the first plan of cuDNN's heuristic, nothing timed
    cpu, gpu = both(conv_build(case, "relu"), conv_inputs(case, dtype, bias), optimization_level=0)
    check(gpu[0], cpu[0], tolerance(dtype), f"conv heuristic {case} {dtype}")


@pytest.fixture
def info_log():
    tf.set_log_level("info")
    yield
    tf.set_log_level("warning")


def cuda_engine(case, dtype, bias, activation="relu", **config):
    x, w, *b = conv_inputs(case, dtype, bias)
    net = tf.Network()
    _, _, stride, padding, dilation, groups = case
    y = net.add_convolution(net.add_input("x", dtype, tuple(x.shape)), w, b[0] if b else None, stride, padding,
                            dilation, groups, activation=activation)
    net.mark_output(y, "y")
    return net, x, tf.Builder(tf.BuilderConfig(device="cuda", **config)).build(net)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("level", (0, 3))
def test_convolution_graph_tactic(dtype, level, info_log, capfd):
    # a typical 3x3 convolution with bias and relu runs through cuDNN's graph API, bias and relu in
    # the graph or in our pass, at every optimization level; the plan is logged
    net, x, engine = cuda_engine(CONV_CASES[9], dtype, True, optimization_level=level)
    assert "cuda.conv.cudnn_graph" in engine.inspect()
    assert "cuDNN graph N" in capfd.readouterr().err
    conv = next(layer for layer in engine.inspect(format="json")["layers"] if layer["kind"] == "convolution")
    assert conv["choice"] and conv["choice"].startswith("N"), conv  # "NCHW engine 12 fused (timed: ...)"
    expected = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(x)[0]
    ctx = engine.create_execution_context()
    out = torch.empty(tuple(expected.shape), dtype=dtype, device="cuda")
    for _ in range(3):  # runs, captures a CUDA graph around cudnnBackendExecute, replays it
        out.fill_(float("nan"))
        ctx.execute([x.cuda()], [out])
        check(out.cpu(), expected, tolerance(dtype), f"graph tactic {dtype} level {level}")
    assert ctx.cuda_graph_replays >= 1


@pytest.mark.parametrize("dtype", (torch.float16, torch.float32))
def test_convolution_graph_misaligned_pointers(dtype):
    # input and output views 2 bytes past an allocation: the kernel switches to its plan declared
    # only element-aligned (the first call runs on the caller's pointers, before any CUDA graph)
    case = CONV_CASES[9]
    net, x, engine = cuda_engine(case, dtype, True)
    assert "cuda.conv.cudnn_graph" in engine.inspect()
    expected = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(x)[0]
    step = 2 // x.element_size() or 1
    xs = torch.empty(x.numel() + step, dtype=dtype, device="cuda")[step:]
    xs.copy_(x.reshape(-1))
    ys = torch.empty(expected.numel() + step, dtype=dtype, device="cuda")[step:]
    ctx = engine.create_execution_context()
    ctx.set_cuda_graphs(False)
    ctx.execute([xs.view(x.shape)], [ys.view(expected.shape)])
    check(ys.view(expected.shape).cpu(), expected, tolerance(dtype), f"misaligned {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_convolution_workspace_cap(dtype):
    case = CONV_CASES[9]  # 3x3, 32 -> 64 channels: the fastest algorithms want workspace
    cpu, gpu = both(conv_build(case, "relu"), conv_inputs(case, dtype, True), workspace_size=1)
    check(gpu[0], cpu[0], tolerance(dtype), f"conv capped {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_convolution_constant_weights_and_engine_file(dtype):
    case = CONV_CASES[3]
    x, w, b = conv_inputs(case, dtype, True, seed=10)
    net = tf.Network()
    y = net.add_convolution(net.add_input("x", dtype, tuple(x.shape)), w, b, (1, 1), (1, 1), activation="relu")
    net.mark_output(y, "y")
    expected = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(x)[0]
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    assert "cuda.conv.cudnn" in engine.inspect()
    again = tf.Engine.deserialize(engine.serialize())
    check(engine(x.cuda())[0].cpu(), expected, tolerance(dtype), f"conv constant weights {dtype}")
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        (y,) = again(x.cuda())
    side.synchronize()
    check(y.cpu(), expected, tolerance(dtype), f"conv from an engine file, side stream {dtype}")


def test_convolution_relu_keeps_nan():
    # 1x1, so every algorithm confines a NaN input to its own position (Winograd/FFT tiles would not)
    x, w, b = randn((1, 2, 5, 5), torch.float32, 20), randn((3, 2, 1, 1), torch.float32, 21), randn(3, torch.float32, 22)
    x[0, 1, 2, 3] = float("nan")
    cpu, gpu = both(lambda n, *t: n.add_convolution(*t, activation="relu"), [x, w, b])
    assert gpu[0][0, :, 2, 3].isnan().all() and torch.equal(gpu[0].isnan(), cpu[0].isnan())
    check(gpu[0].nan_to_num(), cpu[0].nan_to_num(), TOL["tf32"], "relu nan")


@pytest.mark.parametrize("bias", (False, True))
def test_convolution_empty_batch(bias):
    case = CONV_CASES[3]
    inputs = conv_inputs(case, torch.float32, bias)
    inputs[0] = inputs[0][:0]
    cpu, gpu = both(conv_build(case, "relu"), inputs)
    assert gpu[0].shape == cpu[0].shape == (0, 5, 13, 11)


# (input shape, weight shape, stride, padding, output_padding, dilation, groups)
DECONV_CASES = [
    ((2, 3, 7), (3, 4, 3), (1,), (0,), (0,), (1,), 1),
    ((1, 4, 5), (4, 3, 4), (3,), (1,), (2,), (1,), 2),
    ((2, 3, 4, 5), (3, 2, 3, 3), (2, 2), (1, 1), (1, 0), (1, 1), 1),
    ((1, 4, 5, 4), (4, 1, 2, 3), (1, 2), (0, 1), (0, 1), (2, 1), 4),
    ((2, 16, 7, 7), (16, 8, 4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1),  # 2x upsampling
    ((1, 6, 5, 5), (6, 1, 3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 6),  # depthwise
    ((1, 2, 3, 4, 3), (2, 3, 2, 2, 3), (2, 1, 2), (0, 1, 1), (1, 0, 0), (1, 2, 1), 1),
]


def deconv_inputs(case, dtype, bias):
    xs, ws, stride, padding, opad, dilation, groups = case
    # each output sums about (Cin/groups) * kernel volume / stride volume products
    k = max(1.0, ws[0] / groups * math.prod(ws[2:]) / math.prod(stride))
    x = randn(xs, dtype, 31)
    w = randn(ws, dtype, 32, scale=1 / math.sqrt(k))
    return [x, w] + ([randn(ws[1] * groups, dtype, 33, scale=0.5)] if bias else [])


def deconv_build(case):
    _, _, stride, padding, opad, dilation, groups = case
    return lambda n, x, w, *b: n.add_deconvolution(x, w, b[0] if b else None, stride, padding, opad, dilation, groups)


@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", DECONV_CASES)
def test_deconvolution(case, dtype, bias):
    cpu, gpu = both(deconv_build(case), deconv_inputs(case, dtype, bias))
    check(gpu[0], cpu[0], tolerance(dtype), f"deconv {case} {dtype} bias={bias}")


@pytest.mark.parametrize("case", DECONV_CASES)
def test_deconvolution_float32_without_tf32(case):
    cpu, gpu = both(deconv_build(case), deconv_inputs(case, torch.float32, True), allow_tf32=False)
    check(gpu[0], cpu[0], tolerance(torch.float32, tf32=False), f"deconv fma {case}")


@pytest.mark.parametrize("case", DECONV_CASES[::2])
def test_deconvolution_heuristic_algorithm(case):
    cpu, gpu = both(deconv_build(case), deconv_inputs(case, torch.float16, True), optimization_level=0)
    check(gpu[0], cpu[0], tolerance(torch.float16), f"deconv heuristic {case}")


def test_deconvolution_output_padding_past_stride_is_refused():
    # PyTorch allows output_padding < dilation even when it is >= stride; cuDNN cannot express that
    # output size, so the CUDA build names the layer and says no kernel takes it.
    case = ((1, 2, 5), (2, 3, 3), (1,), (0,), (1,), (2,), 1)
    net = tf.Network()
    x, w = net.add_input("x", torch.float32, (1, 2, 5)), net.add_input("w", torch.float32, (2, 3, 3))
    net.mark_output(deconv_build(case)(net, x, w), "y")
    tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
    with pytest.raises(tf.Error, match="deconvolution.*no kernel supports this layer"):
        tf.Builder(tf.BuilderConfig(device="cuda")).build(net)


PLAN_CACHE_SCRIPT = """
import torch, tensorforge as tf
tf.set_log_level("info")
g = torch.Generator().manual_seed(0)
x = torch.randn(2, 32, 14, 14, generator=g).half()
w = (torch.randn(64, 32, 3, 3, generator=g) / 17).half()
b = torch.randn(64, generator=g).half()
net = tf.Network()
y = net.add_convolution(net.add_input("x", torch.float16, tuple(x.shape)), w, b, (1, 1), (1, 1), (1, 1), 1,
                        activation="relu")
net.mark_output(y, "y")
engine = tf.Builder(tf.BuilderConfig(device="cuda", optimization_level=3)).build(net)
got = engine(x.cuda())[0].float().cpu()
want = torch.relu(torch.nn.functional.conv2d(x.float(), w.float(), b.float(), padding=1))
print("MAXDIFF", (got - want).abs().max().item())
"""


def test_convolution_plans_come_back_from_the_disk_cache(tmp_path):
    """A second process building the same layer restores the timed plan from the disk cache (no
    heuristic query, no timing) and computes the same; damaged entries read as misses."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TENSORFORGE_KERNEL_CACHE=str(tmp_path))

    def build():
        r = subprocess.run([sys.executable, "-c", PLAN_CACHE_SCRIPT], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        diff = float(next(line for line in r.stdout.splitlines() if line.startswith("MAXDIFF")).split()[1])
        assert diff < 2e-2, r.stderr[-3000:]
        return r.stderr

    first = build()
    assert "(timed: " in first and "from the plan cache" not in first, first[-3000:]
    entries = list(tmp_path.glob("*.convplan"))
    assert len(entries) == 1
    second = build()
    assert "from the plan cache" in second and "(timed: " not in second, second[-3000:]
    entries[0].write_bytes(entries[0].read_bytes()[:-9])  # truncated: a miss, timed and stored again
    third = build()
    assert "(timed: " in third and "from the plan cache" not in third, third[-3000:]
    assert "from the plan cache" in build()


PREPARED_SCRIPT = """
import sys, torch, tensorforge as tf
tf.set_log_level("info")
threads, channels = int(sys.argv[1]), int(sys.argv[2])
g = torch.Generator().manual_seed(channels)
x = torch.randn(2, channels, 15, 15, generator=g).half()
net = tf.Network()
h = net.add_input("x", torch.float16, tuple(x.shape))
ref = x.float()
for i, (cout, k, groups) in enumerate([(channels * 2, 3, 1), (channels * 2, 3, channels * 2), (channels * 3, 1, 1),
                                        (channels, 5, 1)]):
    cin = ref.shape[1]
    w = (torch.randn(cout, cin // groups, k, k, generator=g) / (cin // groups * k * k) ** 0.5).half()
    b = torch.randn(cout, generator=g).half()
    h = net.add_convolution(h, w, b, (1, 1), (k // 2, k // 2), (1, 1), groups, activation="relu")
    ref = torch.relu(torch.nn.functional.conv2d(ref, w.float(), b.float(), padding=k // 2, groups=groups))
# a pointwise chain: one generated kernel after fuse_pointwise
h = net.add_elementwise(net.add_unary(h, "tanh"), net.add_constant(torch.tensor([0.5]).half()), "mul")
ref = torch.tanh(ref) * 0.5
net.mark_output(h, "y")
engine = tf.Builder(tf.BuilderConfig(device="cuda", optimization_level=3, build_threads=threads)).build(net)
got = engine(x.cuda())[0].float().cpu()
print("MAXDIFF", (got - ref).abs().max().item())
print("PARTS", sorted(engine.build_times))
print("KINDS", sorted(kind for _, kind, _ in engine._engine.layers()))
"""


def test_kernels_prepared_on_helper_threads(tmp_path):
    """A build on four threads prepares the cuDNN plans and the generated kernel ahead (the build
    says so in build_times) and computes what PyTorch does; one thread prepares nothing ahead and
    computes the same; a new process restores every plan from the disk cache on its helper
    threads."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TENSORFORGE_KERNEL_CACHE=str(tmp_path))

    def build(threads, channels):
        r = subprocess.run([sys.executable, "-c", PREPARED_SCRIPT, str(threads), str(channels)], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        lines = {ln.split()[0]: ln.split(None, 1)[1] for ln in r.stdout.splitlines() if ln[:1].isupper()}
        assert float(lines["MAXDIFF"]) < 2e-2, r.stdout + r.stderr[-3000:]
        assert "'pointwise'" in lines["KINDS"], lines["KINDS"]
        return lines["PARTS"], r.stderr

    parts, log = build(4, 24)
    assert "kernel preparation" in parts and "(timed: " in log and "from the plan cache" not in log, parts
    parts, log = build(1, 40)
    assert "kernel preparation" not in parts and "(timed: " in log, parts
    parts, log = build(4, 24)  # warm: every plan from the disk cache
    assert "kernel preparation" in parts, parts
    assert log.count("from the plan cache") >= 4 and "(timed: " not in log, log[-3000:]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", [
    # (N, C, H, W), Cout, window = stride, bias, activation
    ((2, 3, 32, 48), 24, (16, 16), True, "none"),  # ViT's patch embedding, a 2 x 3 grid of patches
    ((1, 1, 24, 16), 8, (8, 8), False, "relu"),    # one channel, no bias, relu in the product
    ((3, 4, 12, 20), 16, (4, 4), True, "none"),    # 4 channels of 4x4 windows: 64 values, the least taken
])
def test_patch_embedding_becomes_a_product(dtype, case):
    """An NCHW convolution of a few channels whose window is its stride (optimizer pass
    patchify_convolutions) runs as a transpose and one matmul on CUDA, not as a convolution, and
    matches the CPU convolution; followed by ViT's flatten and transpose to tokens."""
    (n, c, h, w), cout, k, with_bias, act = case
    x = randn((n, c, h, w), dtype, 1)
    wt = randn((cout, c) + k, dtype, 2, (c * k[0] * k[1]) ** -0.5)
    b = randn((cout,), dtype, 3)
    tokens = (h // k[0]) * (w // k[1])

    def build(net, x):
        y = net.add_convolution(x, net.add_constant(wt), net.add_constant(b) if with_bias else None, stride=k,
                                activation=act)
        return net.add_transpose(net.add_reshape(y, (n, cout, tokens)), (0, 2, 1))

    cpu, gpu = both(build, [x])
    tol = TOL["tf32"] if dtype == torch.float32 else TOL[dtype]
    check(gpu[0], torch.as_tensor(cpu[0]), tol, f"patch embedding {case} {dtype}")
    net = tf.Network()
    net.mark_output(build(net, net.add_input("x", dtype, (n, c, h, w))), "y")
    kinds = [kind for _, kind, _ in tf.Builder(tf.BuilderConfig(device="cuda")).build(net)._engine.layers()]
    assert "convolution" not in kinds and kinds.count("matmul") == 1, kinds
