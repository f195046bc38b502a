"""Channels-last ("nhwc") convolution and pooling on CUDA against the CPU kernels (which run them
through a channels-first adapter), and the channels_last pass in CUDA builds: a float16/bfloat16
convolutional network keeps its activations NHWC (transposes only at its edges) and matches the
CPU engine of the unchanged network."""

import pytest
import torch

import tensorforge as tf
from cuda_harness import both, check, close

pytestmark = pytest.mark.cuda

FLOATS = [torch.float32, torch.float16, torch.bfloat16]


def rand(shape, dtype, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) * scale).to(dtype)


def to_last(t):
    return t.permute(0, 2, 3, 1).contiguous()


def exact(build, inputs, msg):
    """check() with float32 convolutions kept exact (no TF32), so the CPU tolerances hold."""
    cpu, gpu = both(build, inputs, allow_tf32=False)
    for i, (g, c) in enumerate(zip(gpu, cpu)):
        close(g, c, f"{msg} [out{i}]")


def timed_candidate(build, inputs, msg, candidate, capfd, also=(), absent=()):
    """exact(), with the info log showing that the convolution timed `candidate` (one of ours beside
    cuDNN's plans) and those in `also` but none in `absent`, and that no candidate disagreed with
    cuDNN's first plan."""
    tf.set_log_level("info")
    try:
        exact(build, inputs, msg)
    finally:
        tf.set_log_level("warning")
    err = capfd.readouterr().err
    for name in (candidate, *also):
        assert name in err, err[-2000:]
    for name in absent:
        assert name not in err, err[-2000:]
    assert "disagrees" not in err, err[-2000:]


def small_channel_layer(dtype, case):
    """A channels-last convolution of few input channels, its inputs random: case is ((N, C, H, W), Cout,
    kernel, stride, padding, dilation, activation, bias, residual)."""
    (n, c, h, w), cout, k, stride, pad, dil, act, with_bias, with_residual = case
    oh = (h + 2 * pad[0] - dil[0] * (k[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * pad[1] - dil[1] * (k[1] - 1) - 1) // stride[1] + 1
    inputs = [to_last(rand((n, c, h, w), dtype, 1)), to_last(rand((cout, c) + k, dtype, 2, (c * k[0] * k[1]) ** -0.5))]
    inputs += [rand((cout,), dtype, 3)] if with_bias else []
    inputs += [rand((n, oh, ow, cout), dtype, 4)] if with_residual else []

    def build(net, x, wt, *rest):
        b = rest[0] if with_bias else None
        r = rest[-1] if with_residual else None
        return net.add_convolution(x, wt, b, stride=stride, padding=pad, dilation=dil, activation=act,
                                   layout="nhwc", residual=r)

    return build, inputs


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", [
    # (N, C, H, W), kernel, stride, padding, dilation, activation, residual
    ((1, 72, 28, 28), (3, 3), (1, 1), (1, 1), (1, 1), "relu", False),       # MobileNetV3 b1
    ((2, 40, 15, 13), (5, 5), (2, 2), (2, 2), (1, 1), "hardswish", False),  # 5x5 stride 2, odd extents
    ((2, 12, 9, 9), (3, 3), (1, 1), (2, 2), (2, 2), "silu", True),          # dilated, residual
    ((1, 6, 7, 5), (3, 1), (1, 1), (1, 0), (1, 1), "none", False),          # 6 channels: the element path
    ((2, 16, 9, 9), (3, 3), (2, 2), (1, 1), (1, 1), "none", True),          # 3x3 stride 2, residual
    ((1, 24, 6, 6), (7, 7), (1, 1), (3, 3), (1, 1), "relu", False),         # 7x7 tiles: one short strip a row
    ((2, 96, 14, 13), (7, 7), (1, 1), (3, 3), (1, 1), "none", True),        # ConvNeXt's, residual, a strip of 1
    ((3, 192, 9, 7), (7, 7), (1, 1), (3, 3), (1, 1), "relu", False),        # several channel slices
    ((1, 768, 7, 7), (7, 7), (1, 1), (3, 3), (1, 1), "none", True),         # 8 x 8 tiles, weights over 48 KB
    ((2, 40, 37, 21), (7, 7), (1, 1), (3, 3), (1, 1), "silu", True),        # odd channel packs, partial tiles
    ((1, 32, 12, 10), (7, 7), (1, 1), (1, 0), (1, 1), "none", False),       # other padding: 8 x 4 outputs
    ((1, 24, 11, 11), (7, 7), (2, 2), (3, 3), (1, 1), "relu", False),       # stride 2: weights in shared memory
])
def test_depthwise_convolution_direct_kernel(dtype, case, capfd, monkeypatch):
    """A channels-last depthwise layer times our direct kernel, in every pack width (these layers are
    small) but the tiled 7x7 kernel's one, among cuDNN's plans; each must agree with cuDNN's first plan (no 'disagrees' warning)
    and, whichever wins, the layer matches the CPU."""
    monkeypatch.setenv("TENSORFORGE_KERNEL_CACHE", "off")  # a stored plan would skip the timing
    (n, c, h, w), k, stride, pad, dil, act, with_residual = case
    x = to_last(rand((n, c, h, w), dtype, 1))
    wt = to_last(rand((c, 1) + k, dtype, 2, 0.3))
    oh = (h + 2 * pad[0] - dil[0] * (k[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * pad[1] - dil[1] * (k[1] - 1) - 1) // stride[1] + 1
    inputs = [x, wt, rand((c,), dtype, 3)] + ([rand((n, oh, ow, c), dtype, 4)] if with_residual else [])

    def build(net, x, w, b, r=None):
        return net.add_convolution(x, w, b, stride=stride, padding=pad, dilation=dil, groups=c, activation=act,
                                   layout="nhwc", residual=r)

    # The tiled 7x7 kernel (stride 1, whole 16-byte channel packs) has one form, timed once.
    tiled = k == (7, 7) and stride == (1, 1) and dil == (1, 1) and c * dtype.itemsize % 16 == 0
    narrow = ("our depthwise kernel (4-byte packs)",)
    timed_candidate(build, inputs, f"depthwise {case} {dtype}", "our depthwise kernel",
                    capfd, also=() if tiled else narrow, absent=narrow if tiled else ())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", [
    # (N, C, H, W), Cout, kernel, stride, padding, dilation, activation, bias, residual
    ((2, 3, 33, 31), 64, (7, 7), (2, 2), (3, 3), (1, 1), "relu", True, False),     # ResNet's stem, odd extents
    ((3, 1, 12, 11), 16, (3, 3), (1, 1), (2, 2), (2, 2), "silu", True, True),      # one channel, dilated, residual
    ((1, 4, 16, 20), 32, (4, 4), (4, 4), (0, 0), (1, 1), "hardswish", False, False),  # ConvNeXt's patchify stem
    ((2, 2, 9, 9), 48, (5, 5), (1, 1), (2, 2), (1, 1), "none", True, True),        # 3 fragments of 16 channels
    ((2, 3, 15, 17), 80, (3, 3), (2, 2), (1, 1), (1, 1), "relu6", True, False),    # 64 + 16 output channels
    ((1, 3, 5, 300), 16, (3, 3), (1, 2), (1, 1), (1, 1), "relu", True, True),      # rows of 150: two tiles a row
])
def test_small_channel_convolution_kernel(dtype, case, capfd, monkeypatch):
    """A channels-last layer of 1-4 input channels (a stem) times our small-channel kernel (the window
    as the reduction of a tensor-core matrix multiply) among cuDNN's plans, and a stride-2 one with a
    window of 3x3 or more cuDNN's plans of its space-to-depth form too; they must agree with cuDNN's
    first plan and, whichever wins, the layer matches the CPU."""
    monkeypatch.setenv("TENSORFORGE_KERNEL_CACHE", "off")  # a stored plan would skip the timing
    build, inputs = small_channel_layer(dtype, case)
    _, _, k, stride, _, dil, act, _, _ = case
    fused = act in ("none", "relu", "silu")  # the activations cuDNN's graph applies (the form is fused only)
    s2d = ("NHWC space-to-depth engine",) if stride == (2, 2) and min(k) >= 3 and dil == (1, 1) and fused else ()
    timed_candidate(build, inputs, f"small-channel {case} {dtype}", "our small-channel kernel", capfd, also=s2d)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", [
    # (N, C, H, W), Cout, kernel, stride, padding, activation, bias, residual
    ((2, 3, 33, 31), 64, (7, 7), (3, 3), "relu", True, False),     # ResNet's stem, partial tiles
    ((6, 3, 224, 224), 64, (7, 7), (3, 3), "relu", True, False),   # more tiles than blocks: the loop
    ((1, 3, 70, 45), 128, (7, 7), (3, 3), "silu", False, False),   # two blocks of 64 channels
    ((2, 4, 20, 18), 64, (3, 3), (1, 1), "hardswish", True, False),  # 4 channels, a 2x2 window of blocks
    ((1, 3, 16, 16), 64, (5, 5), (2, 2), "relu6", True, False),    # a 3x3 window of blocks
    ((2, 3, 17, 19), 64, (7, 7), (3, 3), "relu", True, True),      # a residual
    ((2, 3, 17, 19), 80, (7, 7), (3, 3), "none", True, False),     # 80 channels: not this kernel's
])
def test_stem_space_to_depth_mma_kernel(dtype, case, capfd, monkeypatch):
    """A stride-2 stem of 3-4 channels with output channels a multiple of 64 times our warp-MMA kernel
    of its space-to-depth form (conv_mma.cu) among cuDNN's plans; it must agree with cuDNN's first
    plan and, whichever wins, the layer matches the CPU. Other stems never time it."""
    monkeypatch.setenv("TENSORFORGE_KERNEL_CACHE", "off")  # a stored plan would skip the timing
    shape, cout, k, pad, act, with_bias, with_residual = case
    build, inputs = small_channel_layer(dtype, (shape, cout, k, (2, 2), pad, (1, 1), act, with_bias, with_residual))
    mma = ("NHWC space-to-depth, our MMA kernel",)
    takes = cout % 64 == 0
    timed_candidate(build, inputs, f"stem {case} {dtype}", "our small-channel kernel", capfd,
                    also=mma if takes else (), absent=() if takes else mma)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", [
    # (N, Cin, H, W), Cout, activation, bias, residual
    ((1, 160, 7, 7), 960, "hardswish", True, False),  # MobileNetV3's last 1x1 at batch 1
    ((2, 24, 5, 3), 40, "relu", True, True),          # odd positions, residual and relu in the epilogue
    ((1, 12, 4, 4), 20, "none", False, True),         # no bias
    ((3, 16, 3, 5), 8, "silu", True, True),           # our pass after the matmul
])
def test_pointwise_convolution_as_matmul(dtype, case, capfd, monkeypatch):
    """A channels-last 1x1 layer times its matrix multiply form (cuBLASLt) among cuDNN's plans; it
    must agree with cuDNN's first plan and, whichever wins, the layer matches the CPU."""
    monkeypatch.setenv("TENSORFORGE_KERNEL_CACHE", "off")  # a stored plan would skip the timing
    (n, cin, h, w), cout, act, with_bias, with_residual = case
    inputs = [to_last(rand((n, cin, h, w), dtype, 1)), to_last(rand((cout, cin, 1, 1), dtype, 2, cin ** -0.5))]
    inputs += [rand((cout,), dtype, 3)] if with_bias else []
    inputs += [rand((n, h, w, cout), dtype, 4)] if with_residual else []

    def build(net, x, wt, *rest):
        b = rest[0] if with_bias else None
        r = rest[-1] if with_residual else None
        return net.add_convolution(x, wt, b, activation=act, layout="nhwc", residual=r)

    timed_candidate(build, inputs, f"1x1 {case} {dtype}", "1x1 as cuBLASLt matmul", capfd)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", [
    # (N, Cin, H, W), Cout, kernel, stride, padding, dilation, groups, bias, activation
    ((2, 8, 9, 7), 16, (3, 3), (1, 1), (1, 1), (1, 1), 1, True, "relu"),
    ((1, 3, 17, 15), 8, (7, 7), (2, 2), (3, 3), (1, 1), 1, True, "none"),      # a stem: 3 channels
    ((2, 16, 10, 10), 16, (3, 3), (2, 2), (1, 1), (1, 1), 16, True, "relu"),  # depthwise
    ((2, 16, 10, 10), 16, (5, 5), (1, 1), (2, 2), (1, 1), 16, True, "hardswish"),  # MobileNetV3
    ((2, 24, 7, 7), 40, (1, 1), (1, 1), (0, 0), (1, 1), 1, True, "silu"),     # EfficientNet
    ((3, 12, 6, 5), 6, (1, 3), (1, 2), (0, 1), (1, 2), 3, False, "none"),     # grouped, odd geometry
    ((2, 24, 7, 7), 40, (1, 1), (1, 1), (0, 0), (1, 1), 1, True, "none"),     # pointwise 1x1
])
def test_channels_last_convolution(dtype, case):
    (n, cin, h, w), cout, k, stride, pad, dil, groups, has_bias, act = case
    x = to_last(rand((n, cin, h, w), dtype, 1))
    wt = to_last(rand((cout, cin // groups) + k, dtype, 2, 0.3))
    inputs = [x, wt] + ([rand((cout,), dtype, 3)] if has_bias else [])

    def build(net, x, w, b=None):
        return net.add_convolution(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups,
                                   activation=act, layout="nhwc")

    exact(build, inputs, f"nhwc conv {case} {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("bias", [True, False])
def test_convolution_with_a_residual(dtype, layout, bias):
    """y = relu(conv(x) + bias + residual) in cuDNN's epilogue (or our pass after it)."""
    x, r = rand((2, 16, 9, 9), dtype, 6), rand((2, 24, 9, 9), dtype, 7)
    w, b = rand((24, 16, 3, 3), dtype, 8, 0.2), rand((24,), dtype, 9)
    if layout == "nhwc":
        x, r, w = to_last(x), to_last(r), to_last(w)

    def build(net, x, w, r, b=None):
        return net.add_convolution(x, w, b, padding=(1, 1), activation="relu", layout=layout, residual=r)

    exact(build, [x, w, r] + ([b] if bias else []), f"conv + residual {layout} {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("pool", [
    dict(mode="max", kernel=(3, 3), stride=(2, 2), padding=(1, 1)),
    dict(mode="max", kernel=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),
    dict(mode="avg", kernel=(3, 3), stride=(2, 2), padding=(1, 1), count_include_pad=False),
    dict(mode="avg", kernel=(2, 2), ceil_mode=True, divisor_override=3),
])
def test_channels_last_pooling(dtype, pool):
    x = to_last(rand((2, 13, 11, 9), dtype, 4))
    check(lambda net, x: net.add_pooling(x, layout="nhwc", **pool), [x], f"nhwc pooling {pool} {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("size", [(1, 1), (3, 4)])
def test_channels_last_adaptive_pooling(dtype, mode, size):
    x = to_last(rand((2, 37, 7, 10), dtype, 5))
    check(lambda net, x: net.add_adaptive_pooling(x, size, mode=mode, layout="nhwc"), [x],
          f"nhwc adaptive {mode} {size} {dtype}")


def small_convnet(net, x, dtype):
    """Stem, max pool, a residual block with batch norm, a depthwise conv with squeeze-excite, a
    concat, global pooling and a flatten: the shapes of ResNet and MobileNet in miniature."""
    def const(shape, seed, scale=0.3):
        return net.add_constant(rand(shape, dtype, seed, scale))

    c1 = net.add_convolution(x, const((16, 3, 3, 3), 10), const((16,), 11), stride=(2, 2), padding=(1, 1))
    r1 = net.add_activation(c1, "relu")
    p = net.add_pooling(r1, "max", (3, 3), stride=(2, 2), padding=(1, 1))
    c2 = net.add_convolution(p, const((16, 16, 3, 3), 12), None, padding=(1, 1))
    bn = net.add_layer("batch_norm", [c2, const((16,), 13), net.add_constant(rand((16,), dtype, 14).abs() + 0.5),
                                      const((16,), 15), const((16,), 16)], {"eps": 1e-5})[0]
    res = net.add_activation(net.add_elementwise(bn, p, "add"), "relu")
    dw = net.add_convolution(res, const((16, 1, 3, 3), 17), const((16,), 18), padding=(1, 1), groups=16)
    se = net.add_adaptive_pooling(dw, (1, 1))
    se = net.add_activation(net.add_convolution(se, const((4, 16, 1, 1), 19), const((4,), 20)), "relu")
    se = net.add_activation(net.add_convolution(se, const((16, 4, 1, 1), 21), const((16,), 22)), "sigmoid")
    scaled = net.add_elementwise(dw, se, "mul")
    biased = net.add_elementwise(scaled, const((16, 1, 1), 23), "add")  # a lower-rank broadcast operand
    cat = net.add_concat([biased, res], axis=1)
    pooled = net.add_adaptive_pooling(cat, (1, 1))
    flat = net.add_reshape(pooled, (x.shape[0], 32))
    return [flat, res]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_pass_keeps_a_convnet_channels_last(dtype):
    x = rand((2, 3, 32, 32), dtype, 30)
    cpu, gpu = both(lambda net, x: small_convnet(net, x, dtype), [x])
    tol = 3e-2 if dtype == torch.float16 else 1e-1
    for g, c in zip(gpu, cpu):
        torch.testing.assert_close(g.float(), torch.as_tensor(c).float(), atol=tol, rtol=tol)
    net = tf.Network()
    xi = net.add_input("x", dtype, tuple(x.shape))
    for i, o in enumerate(small_convnet(net, xi, dtype)):
        net.mark_output(o, f"out{i}")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    kinds = [kind for _, kind, _ in engine._engine.layers()]
    # One transpose for the input, one for the NCHW output `res`; the pooled [N, 1, 1, C] tensor
    # reaches the flatten through a reshape (no copy).
    assert kinds.count("transpose") == 2, engine.inspect()
    assert kinds.count("convolution") == 5
    text = engine.network_text()
    assert text.count('layout="nhwc"') == 8, text  # 5 convolutions, the max pool, 2 adaptive pools
