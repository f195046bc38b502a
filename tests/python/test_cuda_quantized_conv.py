"""CUDA quantized_convolution against the CPU kernel (docs/layers.md): cuDNN's int8 convolution for
channels-last layers of 4k channels (bias, residual (float, or int8 with its scale), relu,
float32/float16/bfloat16/int8 outputs, stride,
padding, dilation; our MMA kernel timed beside it for 64 input channels at stride 1), the
small-channel kernel for stems of 1-3 channels, the direct kernel for the
rest (NCHW, groups, other odd channel counts); the int32 sums exact
against PyTorch's integer convolution; CUDA graph replay (cuda_harness); and a model quantized by
tensorforge.quantize whose convolutions become int8 layers on the GPU."""

import pytest
import torch

import tensorforge as tf
from cuda_harness import check
from tensorforge.testing.networks import network_of

pytestmark = pytest.mark.cuda


def _inputs(n, c, h, w, k, kh, groups, nhwc, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, (n, h, w, c) if nhwc else (n, c, h, w), generator=g, dtype=torch.int32)
    wt = torch.randint(-127, 128, (k, kh, kh, c // groups) if nhwc else (k, c // groups, kh, kh), generator=g,
                       dtype=torch.int32)
    scale = torch.rand(k, generator=g) * 1e-3 + 1e-4
    bias = torch.randn(k, generator=g)
    return x.to(torch.int8), wt.to(torch.int8), scale, bias


def _output_shape(n, h, w, k, kh, stride, pad, dil, nhwc):
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    return (n, oh, ow, k) if nhwc else (n, k, oh, ow)


CASES = [  # n, c, h, w, k, kh, stride, pad, dil, groups, nhwc, the kernel (cuda.quantized_conv.*)
    (2, 16, 9, 7, 8, 3, 1, 1, 1, 1, True, "cudnn"),
    (3, 32, 8, 8, 64, 1, 1, 0, 1, 1, True, "cudnn"),
    (1, 8, 11, 10, 12, 3, 2, 1, 1, 1, True, "cudnn"),
    (2, 8, 9, 9, 8, 3, 1, 2, 2, 1, True, "cudnn"),
    (2, 6, 7, 5, 5, 3, 1, 1, 1, 1, True, "direct"),   # channels not multiples of 4
    (2, 8, 7, 5, 8, 3, 2, 1, 1, 2, True, "direct"),   # grouped
    (2, 8, 7, 5, 4, 3, 1, 1, 1, 1, False, "direct"),  # NCHW
    (2, 3, 9, 9, 8, 3, 1, 1, 1, 1, True, "direct"),   # 3 channels, but 8 outputs (the small kernel takes 16k)
    (2, 3, 17, 15, 64, 7, 2, 3, 1, 1, True, "small_channels"),  # ResNet's stem, odd extents
    (3, 1, 9, 11, 16, 3, 1, 2, 2, 1, True, "small_channels"),   # one channel, dilated
    (2, 2, 8, 8, 80, 5, 1, 2, 1, 1, True, "small_channels"),    # 64 + 16 output channels
    (1, 3, 5, 300, 16, 3, 2, 1, 1, 1, True, "small_channels"),  # rows of 150 positions: two tiles a row
    # 64 input channels at stride 1 (a ResNet's first stage): our MMA kernel timed beside cuDNN's plans
    (2, 64, 19, 21, 64, 3, 1, 1, 1, 1, True, "cudnn"),   # 3x3, partial tiles
    (2, 64, 9, 33, 128, 1, 1, 0, 1, 1, True, "cudnn"),   # 1x1, two groups of 64 output channels
    (6, 64, 56, 56, 256, 1, 1, 0, 1, 1, True, "cudnn"),  # more tiles than blocks: each block loops
]
MMA_CASES = [case for case in CASES if case[1] == 64]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int8"])
@pytest.mark.parametrize("case", CASES)
def test_matches_the_cpu_kernel(dtype, case):
    """int8 outputs (the next quantize folded in: rounded half to even, saturated) must be equal."""
    n, c, h, w, k, kh, stride, pad, dil, groups, nhwc, _ = case
    x, wt, scale, bias = _inputs(n, c, h, w, k, kh, groups, nhwc, seed=c + k)
    if dtype == "int8":
        scale = scale * 40  # results spread over the int8 range, some saturating
    residual = torch.randn(_output_shape(n, h, w, k, kh, stride, pad, dil, nhwc)).to(
        torch.float16 if dtype == "int8" else getattr(torch, dtype))
    combos = [("none", True, False), ("relu", True, True), ("relu", False, False)]
    for activation, with_bias, with_residual in [co for co in combos if dtype != "int8" or not co[2]]:
        def build(net, x_, w_, s_, b_, *r_):
            return net.add_quantized_convolution(x_, w_, s_, b_ if with_bias else None, [stride] * 2, [pad] * 2,
                                                 [dil] * 2, groups, activation, "nhwc" if nhwc else "nchw", dtype,
                                                 residual=r_[0] if r_ else None)
        check(build, [x, wt, scale, bias] + ([residual] if with_residual else []),
              f"{case} {dtype} {activation} bias={with_bias} residual={with_residual}")


@pytest.mark.parametrize("dtype", ["float16", "int8"])
@pytest.mark.parametrize("case", CASES)
def test_an_int8_residual_with_its_scale(dtype, case):
    """An int8 residual times residual_scale (what fuse_quantized_conv makes of a dequantized residual),
    into float16 and into int8 outputs: equal to the CPU kernel."""
    n, c, h, w, k, kh, stride, pad, dil, groups, nhwc, _ = case
    x, wt, scale, bias = _inputs(n, c, h, w, k, kh, groups, nhwc, seed=c * k)
    if dtype == "int8":
        scale = scale * 40
    g = torch.Generator().manual_seed(k)
    residual = torch.randint(-128, 128, _output_shape(n, h, w, k, kh, stride, pad, dil, nhwc), generator=g,
                             dtype=torch.int32).to(torch.int8)
    rs = torch.tensor(0.0625 if dtype == "int8" else 0.003)

    def build(net, x_, w_, s_, b_, r_, rs_):
        return net.add_quantized_convolution(x_, w_, s_, b_, [stride] * 2, [pad] * 2, [dil] * 2, groups, "relu",
                                             "nhwc" if nhwc else "nchw", dtype, residual=r_, residual_scale=rs_)
    inputs = [x, wt, scale, bias, residual, rs]
    check(build, inputs, f"{case} {dtype} int8 residual")
    # cuDNN's graph and the small-channel kernel take the int8 residual and its scale where they take
    # the layer (no silent fallback to the direct kernel).
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(network_of(build, inputs))
    assert f"cuda.quantized_conv.{case[-1]}" in engine.inspect(), engine.inspect()


@pytest.mark.parametrize("case", CASES)
def test_sums_are_exact_and_the_kernel_is_the_expected_one(case):
    """With scale 1 and no bias, float32 outputs are the int32 sums themselves (below 2^24 here)."""
    n, c, h, w, k, kh, stride, pad, dil, groups, nhwc, kernel = case
    x, wt, _, _ = _inputs(n, c, h, w, k, kh, groups, nhwc, seed=11)
    scale = torch.ones(k)
    layout = "nhwc" if nhwc else "nchw"
    net = network_of(lambda nw, x_, w_, s_: nw.add_quantized_convolution(
        x_, w_, s_, None, [stride] * 2, [pad] * 2, [dil] * 2, groups, "none", layout, "float32"), [x, wt, scale])
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    got = engine(x.cuda(), wt.cuda(), scale.cuda())[0].cpu()
    xf = x.permute(0, 3, 1, 2) if nhwc else x
    wf = wt.permute(0, 3, 1, 2) if nhwc else wt
    want = torch.nn.functional.conv2d(xf.double(), wf.double(), None, stride, pad, dil, groups).float()
    if nhwc:
        want = want.permute(0, 2, 3, 1)
    assert torch.equal(got, want)
    assert f"cuda.quantized_conv.{kernel}" in engine.inspect(), engine.inspect()


@pytest.mark.parametrize("dtype", ["float16", "int8"])
@pytest.mark.parametrize("case", MMA_CASES)
def test_first_stage_layers_time_the_mma_kernel(dtype, case):
    """Layers of 64 int8 input channels at stride 1 time our MMA kernel (conv_mma.cu) beside cuDNN's
    plans (the choice lists it), which is kept only where it writes what cuDNN's plan writes on the
    timing data, and either way the layer equals the CPU kernel (an int8 residual with its scale too)."""
    n, c, h, w, k, kh, stride, pad, dil, groups, nhwc, _ = case
    x, wt, scale, bias = _inputs(n, c, h, w, k, kh, groups, nhwc, seed=5)
    if dtype == "int8":
        scale = scale * 40
    g = torch.Generator().manual_seed(6)
    residual = torch.randint(-128, 128, _output_shape(n, h, w, k, kh, stride, pad, dil, nhwc), generator=g,
                             dtype=torch.int32).to(torch.int8)
    rs = torch.tensor(0.0625)

    def build(net, x_, w_, s_, b_, r_, rs_):
        return net.add_quantized_convolution(x_, w_, s_, b_, [stride] * 2, [pad] * 2, [dil] * 2, groups, "relu",
                                             "nhwc", dtype, residual=r_, residual_scale=rs_)
    inputs = [x, wt, scale, bias, residual, rs]
    check(build, inputs, f"{case} {dtype} mma")
    text = tf.Builder(tf.BuilderConfig(device="cuda")).build(network_of(build, inputs)).inspect()
    assert "our MMA kernel" in text and "differs from cuDNN's" not in text, text


def _conv_net():
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)
            self.c1 = torch.nn.Conv2d(16, 32, 1, bias=False)
            self.b1 = torch.nn.BatchNorm2d(32)
            self.c2 = torch.nn.Conv2d(32, 16, 3, padding=1, bias=False)
            self.b2 = torch.nn.BatchNorm2d(16)

        def forward(self, x):
            s = torch.relu(self.stem(x))
            y = torch.relu(self.b1(self.c1(s)))
            return torch.relu(self.b2(self.c2(y)) + s)

    net = Net().eval()
    for bn in (net.b1, net.b2):
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2)
    return net


def test_a_quantized_model_runs_int8_convolutions():
    """tensorforge.quantize's convolutions (batch norm folded into their weights) become int8 layers
    on the GPU; the result stays near PyTorch running the quantized model (the weights are quantized
    again per channel after folding: a second rounding, so not bit for bit)."""
    model = _conv_net().half().cuda()
    calibration = [(torch.randn(2, 3, 16, 16, device="cuda", dtype=torch.float16),) for _ in range(3)]
    quantized = tf.quantize(model, calibration, method="max")
    x = torch.randn(2, 3, 16, 16, device="cuda", dtype=torch.float16)
    torch._dynamo.reset()
    compiled = torch.compile(quantized, backend="tensorforge",
                             options={"enabled_precisions": {torch.float16, torch.int8}, "min_block_size": 1})
    with torch.no_grad():
        got, want = compiled(x).float(), quantized(x).float()
    from tensorforge.dynamo import engine_modules
    text = "\n".join(m.engine.inspect() for m in engine_modules())
    assert text.count("[quantized_convolution]") == 2, text  # c1 and c2 (the 3-channel stem stays float16)
    assert "cuda.quantized_conv.small_channels" not in text, text
    err = (got - want).abs().max().item() / want.abs().max().item()
    assert err < 0.05, f"largest difference {err:.4f} of the largest output"


def test_quantized_residuals_keep_the_blocks_int8():
    """tensorforge.quantize(residuals=True) on a 3-channel stem and three bottleneck blocks in float16:
    every convolution but the stem (float16, whose space-to-depth plans outrun an int8 kernel) becomes
    an int8 layer on cuDNN's kernels, and all of them but the last write int8 for the next (the
    quantizes fold into them; the residuals are read as int8); the engine stays near PyTorch running
    the quantized model."""
    from test_calibration import _resnet_blocks

    model = _resnet_blocks().half().cuda()
    calibration = [(torch.randn(2, 3, 8, 8, device="cuda", dtype=torch.float16),) for _ in range(3)]
    quantized = tf.quantize(model, calibration, method="max", residuals=True)
    x = torch.randn(2, 3, 8, 8, device="cuda", dtype=torch.float16)
    torch._dynamo.reset()
    compiled = torch.compile(quantized, backend="tensorforge",
                             options={"enabled_precisions": {torch.float16, torch.int8}, "min_block_size": 1})
    with torch.no_grad():
        got, want = compiled(x).float(), quantized(x).float()
    from tensorforge.dynamo import engine_modules
    lines = [line for m in engine_modules() for line in m.engine.inspect().splitlines()
             if "[quantized_convolution]" in line]
    assert len(lines) == 10, lines
    assert sum("-> int8[" in line for line in lines) == 9, lines
    assert sum("tactic=cuda.quantized_conv.cudnn" in line for line in lines) == 10, lines
    err = (got - want).abs().max().item() / want.abs().max().item()
    assert err < 0.05, f"largest difference {err:.4f} of the largest output"
