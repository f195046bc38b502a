"""CUDA attention against the CPU kernel (the reference): the flash kernel (float16/bfloat16, E == Ev,
E % 8 == 0, E <= 128: E in {8, 64, 80, 128}) and the rows kernel (float32, and E = 33, E = 136,
E != Ev, misaligned operands) over odd L and S (L != S, S = 1, S = 0, several key tiles), causal,
explicit scales, grouped-query heads, bool and additive masks of broadcast shapes with fully masked
rows, in each float dtype.

Tolerances: float32 atol = rtol = 3e-5 (layer_harness has 1e-5): the scores are dot products of up to
136 terms summed in another order than the CPU's sgemm, and with scale 2 (|scores| ~ 20) the softmax
turns their rounding into relative errors near 1e-5 on the output. float16 and bfloat16 compare the CUDA output with the
CPU kernel's, which computes in float32 from the same half-precision inputs and rounds once at the
end; the flash kernel also rounds the softmax probabilities to the input dtype before p·v on tensor
cores (as FlashAttention does), so the bound is a few output ulps: float16 atol = rtol = 5e-3 (ulp
at 1: 9.8e-4), bfloat16 atol = rtol = 3e-2 (ulp at 1: 7.8e-3)."""

import pytest
import torch

import tensorforge as tf
from cuda_harness import both

pytestmark = pytest.mark.cuda

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
TOL = {torch.float32: (3e-5, 3e-5), torch.float16: (5e-3, 5e-3), torch.bfloat16: (3e-2, 3e-2)}


def randn(shape, dtype, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def check(gpu, cpu, msg):
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape, msg
    atol, rtol = TOL[cpu.dtype]
    torch.testing.assert_close(gpu, cpu, atol=atol, rtol=rtol, equal_nan=True, msg=lambda m: f"{msg}: {m}")


# Each numeric test runs twice: "ours" disables cuDNN's fused attention so our flash and rows kernels
# take every layer; "cudnn" is the default choice, where cuDNN's takes the half-precision layers it
# supports (the rest fall to ours; test_cudnn_kernel_choice says which).
KERNELS = ("ours", "cudnn")
OURS = ["cuda.attention.cudnn"]


def disabled(kernels):
    if kernels == "cudnn" and not tf.built_with_cudnn_attention():
        pytest.skip("built without cuDNN's frontend (nvidia-cudnn-frontend): no cuda.attention.cudnn")
    return OURS if kernels == "ours" else []


def attention(q, k, v, mask=None, kernels="ours", **kw):
    inputs = [q, k, v] + ([mask] if mask is not None else [])
    cpu, gpu = both(lambda n, *xs: n.add_attention(*xs, **kw), inputs, disabled_tactics=disabled(kernels))
    return cpu[0], gpu[0]


def build(shapes, dtype, kernels="ours", **kw):
    """A CUDA engine of one attention layer over inputs of `shapes` (and `dtype`)."""
    net = tf.Network()
    xs = [net.add_input(f"in{i}", dtype, tuple(s)) for i, s in enumerate(shapes)]
    net.mark_output(net.add_attention(*xs, **kw), "out")
    return tf.Builder(tf.BuilderConfig(device="cuda", disabled_tactics=disabled(kernels))).build(net)


# (query, key, value shapes); the comment names the CUDA kernel float16/bfloat16 take
SHAPES = [
    ((1, 2, 37, 64), (1, 2, 53, 64), (1, 2, 53, 64)),      # flash, L < S, odd
    ((2, 3, 70, 8), (2, 3, 70, 8), (2, 3, 70, 8)),         # flash E = 8, two query tiles, two key tiles
    ((1, 2, 129, 80), (1, 2, 65, 80), (1, 2, 65, 80)),     # flash E = 80 (padded to 96), L > S
    ((1, 1, 100, 128), (1, 1, 131, 128), (1, 1, 131, 128)),  # flash E = 128, three key tiles
    ((1, 4, 19, 64), (1, 4, 1, 64), (1, 4, 1, 64)),        # S = 1
    ((2, 8, 45, 64), (2, 2, 77, 64), (2, 2, 77, 64)),      # grouped-query: 4 query heads per kv head
    ((6, 21, 16), (2, 30, 16), (2, 30, 16)),               # grouped-query on 3-D inputs
    ((40, 16), (72, 16), (72, 16)),                        # 2-D
    ((2, 12, 128, 64), (2, 12, 128, 64), (2, 12, 128, 64)),  # BERT-base sized
    ((2, 4, 3, 49, 32), (2, 4, 3, 49, 32), (2, 4, 3, 49, 32)),  # flash, rank 5 (Swin's [B, windows, heads])
    ((3, 17, 33), (3, 9, 33), (3, 9, 20)),                 # rows: E = 33, Ev != E
    ((1, 2, 200, 33), (1, 2, 300, 33), (1, 2, 300, 33)),   # rows: several key chunks
    ((2, 5, 64), (2, 7, 64), (2, 7, 32)),                  # rows: Ev != E
    ((1, 3, 11, 136), (1, 3, 14, 136), (1, 3, 14, 136)),   # rows: E > 128
]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "x".join(map(str, s[0])) + "-" + "x".join(map(str, s[1])))
@pytest.mark.parametrize("causal,scale", [(False, 0.0), (True, 0.0), (False, 0.3), (True, 2.0)])
def test_attention(shapes, dtype, causal, scale, kernels):
    if kernels == "cudnn" and dtype == torch.float32:
        pytest.skip("cuDNN's fused attention takes float16/bfloat16 only: float32 is the 'ours' case")
    q, k, v = (randn(s, dtype, seed=i) for i, s in enumerate(shapes))
    cpu, gpu = attention(q, k, v, kernels=kernels, causal=causal, scale=scale)
    check(gpu, cpu, f"attention {shapes} {dtype} causal={causal} scale={scale}")


def _scores(shapes):
    return shapes[0][:-1] + (shapes[1][-2],)


# mask shapes from the scores' shape [..., L, S]
MASKS = {
    "full": lambda s: s,
    "LS": lambda s: s[-2:],
    "key_padding": lambda s: (s[0],) + (1,) * (len(s) - 2) + (s[-1],),
    "per_head": lambda s: s[-3:],
    "row": lambda s: s[:-1] + (1,),
    "scalar": lambda s: (1,),
}


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("kind", ("bool", "additive"))
@pytest.mark.parametrize("mask", sorted(MASKS))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", [SHAPES[0], SHAPES[2], SHAPES[5], SHAPES[9]], ids=("E64", "E80", "gqa", "E33"))
def test_attention_mask(shapes, dtype, mask, kind, kernels):
    if kernels == "cudnn" and dtype == torch.float32:
        pytest.skip("cuDNN's fused attention takes float16/bfloat16 only: float32 is the 'ours' case")
    q, k, v = (randn(s, dtype, seed=10 + i) for i, s in enumerate(shapes))
    ms = MASKS[mask](_scores(shapes))
    g = torch.Generator().manual_seed(3)
    if kind == "bool":
        m = torch.rand(ms, generator=g) > 0.3
        if mask != "scalar":
            m.view(-1, ms[-1])[0] = False  # a fully masked row (a whole column of rows for "row")
    else:
        m = (torch.randn(ms, generator=g) * 2).to(dtype)
        m.view(-1, ms[-1])[0, 0] = float("-inf")
        if ms[-1] > 1:
            m.view(-1, ms[-1])[-1] = float("-inf")  # a fully masked row
    cpu, gpu = attention(q, k, v, m, kernels=kernels)
    check(gpu, cpu, f"attention {shapes} {dtype} {kind} mask {ms}")


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_fully_masked_rows_are_zero(dtype, kernels):
    if kernels == "cudnn" and dtype == torch.float32:
        pytest.skip("cuDNN's fused attention takes float16/bfloat16 only: float32 is the 'ours' case")
    q, k, v = (randn((1, 2, 70, 64), dtype, seed=i) for i in range(3))
    m = torch.rand(70, 70, generator=torch.Generator().manual_seed(1)) > 0.5
    m[[0, 33, 69]] = False
    cpu, gpu = attention(q, k, v, m, kernels=kernels)
    assert torch.equal(gpu[..., [0, 33, 69], :], torch.zeros_like(gpu[..., [0, 33, 69], :]))
    check(gpu, cpu, f"fully masked rows {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_empty_keys_give_zeros(dtype):
    q = randn((2, 5, 64), dtype, seed=0)
    k, v = torch.zeros(2, 0, 64, dtype=dtype), torch.zeros(2, 0, 64, dtype=dtype)
    cpu, gpu = attention(q, k, v)
    assert torch.equal(gpu, torch.zeros_like(gpu))
    check(gpu, cpu, f"S = 0 {dtype}")


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
def test_misaligned_operands_take_the_rows_kernel(dtype, kernels):
    """Contiguous inputs whose data starts 2 bytes past a 16-byte boundary: the flash kernel's 16-byte
    loads (and cuDNN's) cannot take them, so the same engine runs the rows kernel."""
    shapes = ((1, 2, 37, 64), (1, 2, 53, 64), (1, 2, 53, 64))
    q, k, v = (randn(s, dtype, seed=i) for i, s in enumerate(shapes))
    net = tf.Network()
    xs = [net.add_input(f"in{i}", t.dtype, tuple(t.shape)) for i, t in enumerate((q, k, v))]
    net.mark_output(net.add_attention(*xs, causal=True), "out")
    expected = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(q, k, v)[0]
    engine = tf.Builder(tf.BuilderConfig(device="cuda", disabled_tactics=disabled(kernels))).build(net)
    assert ("cuda.attention.flash" if kernels == "ours" else "cuda.attention.cudnn") in engine.inspect()

    def shifted(t):
        flat = torch.zeros(t.numel() + 1, dtype=dtype, device="cuda")
        flat[1:] = t.reshape(-1).cuda()
        view = flat[1:].view(t.shape)
        assert view.data_ptr() % 16 == 2 and view.is_contiguous()
        return view

    for args in ((shifted(q), k.cuda(), v.cuda()), (q.cuda(), shifted(k), shifted(v))):
        check(engine(*args)[0].cpu(), expected, f"misaligned {dtype}")
    check(engine(q.cuda(), k.cuda(), v.cuda())[0].cpu(), expected, f"aligned {dtype}")


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
def test_flash_against_pytorch(dtype, kernels):
    """The flash kernel (and cuDNN's) against PyTorch's own CUDA scaled_dot_product_attention (causal,
    GQA)."""
    F = torch.nn.functional
    q = randn((2, 8, 97, 64), dtype, seed=0).cuda()
    k = randn((2, 2, 97, 64), dtype, seed=1).cuda()
    v = randn((2, 2, 97, 64), dtype, seed=2).cuda()
    engine = build((q.shape, k.shape, v.shape), dtype, kernels, causal=True)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    check(engine(q, k, v)[0].cpu(), expected.cpu(), f"vs torch {dtype}")


def _tactic(engine):
    (layer,) = [x for x in engine.inspect(format="json")["layers"] if x["kind"] == "attention"]
    return layer["tactic"].removeprefix("cuda.attention.")


def test_kernel_choice():
    """Our kernels (cuDNN's disabled): float16/bfloat16 with E == Ev, E % 8 == 0, E <= 128 take the
    flash kernel; the rest the rows one."""
    def tactic(dtype, e, ev):
        return _tactic(build(((2, 5, e), (2, 5, e), (2, 5, ev)), dtype))

    assert tactic(torch.float16, 64, 64) == "flash"
    assert tactic(torch.bfloat16, 128, 128) == "flash"
    assert tactic(torch.float16, 8, 8) == "flash"
    assert tactic(torch.float32, 64, 64) == "rows"
    assert tactic(torch.float16, 33, 33) == "rows"
    assert tactic(torch.float16, 64, 32) == "rows"
    assert tactic(torch.float16, 136, 136) == "rows"


def test_cudnn_kernel_choice():
    """By default cuDNN's fused attention takes float16/bfloat16 layers with 16-byte aligned rows and an
    additive mask of their dtype, a bool mask or none; float32, a mask broadcast over the keys and rows
    of 33 elements fall to ours."""
    if not tf.built_with_cudnn_attention():
        pytest.skip("built without cuDNN's frontend (nvidia-cudnn-frontend): no cuda.attention.cudnn")

    def tactic(dtype, q, k, v, mask=None, causal=False):
        shapes = (q, k, v) + ((mask[0],) if mask else ())
        net = tf.Network()
        xs = [net.add_input(f"in{i}", mask[1] if mask and i == 3 else dtype, s) for i, s in enumerate(shapes)]
        net.mark_output(net.add_attention(*xs, causal=causal), "out")
        return _tactic(tf.Builder(tf.BuilderConfig(device="cuda")).build(net))

    bert = (2, 12, 128, 64)
    assert tactic(torch.float16, bert, bert, bert) == "cudnn"
    assert tactic(torch.bfloat16, bert, bert, bert, causal=True) == "cudnn"
    assert tactic(torch.float16, (2, 8, 45, 64), (2, 2, 77, 64), (2, 2, 77, 64)) == "cudnn"  # grouped-query
    assert tactic(torch.float16, bert, bert, bert, mask=((2, 1, 1, 128), torch.float16)) == "cudnn"
    assert tactic(torch.float32, bert, bert, bert) == "rows"
    assert tactic(torch.float16, bert, bert, bert, mask=((2, 1, 1, 128), torch.bool)) == "cudnn"
    with pytest.raises(tf.InvalidNetworkError, match="mask and causal"):  # as in PyTorch: one or the other
        tactic(torch.float16, bert, bert, bert, mask=((128, 128), torch.bool), causal=True)
    assert tactic(torch.float16, bert, bert, bert, mask=((2, 12, 128, 1), torch.float16)) == "flash"  # over keys
    assert tactic(torch.float16, (3, 17, 33), (3, 9, 33), (3, 9, 33)) == "rows"


def window_attention(net, q, k, v, windows, bias, mask):
    """Swin's shifted-window attention written out: q [B * windows, heads, S, E] scaled, q·kᵀ, a
    position bias [heads, S, S] added, the shift mask [1, windows, 1, S, S] added over
    [B, windows, heads], softmax, then p·v."""
    g, h, s, e = q.shape
    scale = net.add_constant(torch.tensor(e ** -0.5, dtype=bias.dtype))
    qs = net.add_elementwise(q, scale, "mul")
    kt = net.add_transpose(k, (0, 1, 3, 2))
    scores = net.add_matmul(net.add_reshape(qs, (g * h, s, e)), net.add_reshape(kt, (g * h, e, s)))
    scores = net.add_elementwise(net.add_reshape(scores, (g, h, s, s)), net.add_constant(bias), "add")
    scores = net.add_elementwise(net.add_reshape(scores, (g // windows, windows, h, s, s)),
                                 net.add_constant(mask), "add")
    p = net.add_softmax(net.add_reshape(scores, (g, h, s, s)), axis=-1)
    out = net.add_matmul(net.add_reshape(p, (g * h, s, s)), net.add_reshape(v, (g * h, s, e)))
    return net.add_reshape(out, (g, h, s, e))


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16))
def test_written_out_window_attention_runs_as_one_attention_layer(dtype):
    """recognize_attention (CUDA pipeline) against the CPU engine, which computes the written-out form."""
    gen = torch.Generator().manual_seed(3)
    b, windows, h, s, e = 2, 4, 3, 49, 32
    q, k, v = (torch.randn(b * windows, h, s, e, generator=gen).to(dtype) for _ in range(3))
    bias = (torch.randn(h, s, s, generator=gen) * 0.5).to(dtype)
    mask = torch.where(torch.rand(1, windows, 1, s, s, generator=gen) < 0.3, -100.0, 0.0).to(dtype)

    def build(net, *xs):
        return window_attention(net, *xs, windows, bias, mask)

    cpu, gpu = both(build, [q, k, v])
    # float16: the CPU engine rounds the scores, the biased scores and the probabilities to float16
    # on the way (the written-out form); the attention layer keeps them in float32: a few ulps more.
    tol = 3e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(gpu[0], torch.as_tensor(cpu[0]), atol=tol, rtol=tol)
    net = tf.Network()
    xs = [net.add_input(f"in{i}", dtype, tuple(t.shape)) for i, t in enumerate((q, k, v))]
    net.mark_output(build(net, *xs), "out")
    kinds = [x["kind"] for x in tf.Builder(tf.BuilderConfig(device="cuda")).build(net).inspect(format="json")["layers"]]
    assert kinds.count("attention") == 1 and "softmax" not in kinds


@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
def test_level_4_times_the_attention_kernels_against_each_other(dtype):
    """At optimization_level 4 the builder times every kernel that accepts the layer (cuDNN's
    fused attention, our flash and rows kernels) on the same data, keeps the fastest that agrees
    with the first, says so in the inspector, and computes what the CPU does."""
    shapes = ((2, 4, 96, 64), (2, 4, 96, 64), (2, 4, 96, 64))
    inputs = [randn(s, dtype, i) for i, s in enumerate(shapes)]
    cpu, gpu = both(lambda n, *xs: n.add_attention(*xs), inputs, optimization_level=4)
    check(gpu[0], torch.as_tensor(cpu[0]), f"level 4 {dtype}")
    net = tf.Network()
    xs = [net.add_input(f"in{i}", dtype, s) for i, s in enumerate(shapes)]
    net.mark_output(net.add_attention(*xs), "out")
    engine = tf.Builder(tf.BuilderConfig(device="cuda", optimization_level=4)).build(net)
    (layer,) = [x for x in engine.inspect(format="json")["layers"] if x["kind"] == "attention"]
    assert layer["choice"].startswith("kernels timed: "), layer["choice"]
    assert "cuda.attention.flash" in layer["choice"] and "cuda.attention.rows" in layer["choice"], layer["choice"]
    assert layer["tactic"] in layer["choice"], layer
