"""float8_e4m3fn, a storage type (docs/quantization.md), against PyTorch: casts to and from it,
quantize and dequantize with scales per tensor and per channel, float8 constants, and the refusal
of arithmetic on it. On the CPU and, marked cuda, on the GPU."""

import pytest
import torch

import tensorforge as tf

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
F8 = torch.float8_e4m3fn


def _values() -> torch.Tensor:
    """Random magnitudes up to past the format's range, every code's value and values between codes,
    ties, subnormals, infinities and NaN (float32, 8192 of them)."""
    g = torch.Generator().manual_seed(0)
    special = torch.tensor([0.0, -0.0, 448.0, -448.0, 464.0, 464.5, -470.0, 480.0, 1e6, float("inf"), -float("inf"),
                            float("nan"), 2.0 ** -9, 2.0 ** -10, 3 * 2.0 ** -10, 2.0 ** -6, 1.0625, 1.1875, 1e-30])
    codes = torch.arange(256, dtype=torch.uint8).view(F8).float()
    rest = 8192 - special.numel() - 2 * codes.numel() - 2048
    return torch.cat([special, codes, codes * 1.03, torch.rand(2048, generator=g) * 0.03,
                      torch.randn(rest, generator=g) * 150])


def _engine(net, device):
    return tf.Builder(tf.BuilderConfig(device=device)).build(net)


def _same(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal values, NaN where the other has NaN."""
    got = torch.as_tensor(got).cpu()
    assert torch.equal(torch.isnan(got), torch.isnan(want))
    keep = ~torch.isnan(want)
    assert torch.equal(got[keep], want[keep]), (got[keep] - want[keep]).abs().max()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_casts_match_pytorch(device, dtype):
    x = _values().to(dtype)
    net = tf.Network()
    f8 = net.add_cast(net.add_input("x", dtype, tuple(x.shape)), F8)
    net.mark_output(net.add_cast(f8, dtype), "y")
    (y,) = _engine(net, device)(x.to(device))
    # Saturating (past 448 and infinities to +-448, as PyTorch 2.13 converts; older versions gave NaN,
    # so the reference clamps first and compares only in-range conversions with PyTorch's).
    _same(y, x.float().clamp(-448, 448).to(F8).to(dtype))
    assert torch.as_tensor(y).cpu()[x.float() == float("inf")].eq(448).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_dequantize_match_the_formula(device, per_channel):
    """q = float8(clamp(x * (1 / scale), -448, 448)), y = q * scale: saturated, so large values give
    448 * scale rather than NaN."""
    x = _values().reshape(8, -1)
    scale = (torch.rand(8, 1, generator=torch.Generator().manual_seed(1)) + 0.05) if per_channel \
        else torch.tensor(0.37)
    net = tf.Network()
    s = net.add_constant(scale.float())
    q = net.add_quantize(net.add_input("x", torch.float32, tuple(x.shape)), s, None, dtype=F8)
    net.mark_output(net.add_dequantize(q, s, None, dtype=torch.float32), "y")
    (y,) = _engine(net, device)(x.to(device))
    want = (x * (1.0 / scale)).clamp(-448, 448).to(F8).float() * scale
    _same(y, want)
    assert torch.isfinite(torch.as_tensor(y).cpu()[torch.isinf(x)]).all()  # saturated, not NaN


@pytest.mark.parametrize("device", DEVICES)
def test_float8_constants(device):
    w = (torch.randn(16, 8, generator=torch.Generator().manual_seed(2)) * 40).to(F8)
    net = tf.Network()
    c = net.add_constant(w)
    assert c.dtype == tf.DataType.float8_e4m3fn
    net.mark_output(net.add_dequantize(c, net.add_constant(torch.tensor(0.5)), None, dtype=torch.float16), "y")
    (y,) = _engine(net, device)()
    _same(y, (w.float() * 0.5).half())


def test_arithmetic_on_float8_is_refused():
    net = tf.Network()
    f8 = net.add_cast(net.add_input("x", torch.float32, (4,)), F8)
    with pytest.raises(tf.InvalidNetworkError, match="float8_e4m3fn tensors are storage only"):
        net.add_elementwise(f8, f8, "add")
    with pytest.raises(tf.InvalidNetworkError, match="casts only to and from"):
        net.add_cast(f8, torch.int32)


@pytest.mark.parametrize("device", DEVICES)
def test_quantize_to_float8_compiles_to_float8_products(device):
    """tensorforge.quantize(dtype=torch.float8_e4m3fn) writes float8 round trips (custom ops that run
    in PyTorch too); compiled, each linear layer becomes one quantized_matmul of float8 rows and
    weights (float32 sums), its scales marked calibrated; the output matches the quantized model
    PyTorch runs up to the sums' order (a value near a float8 rounding boundary may move one step).
    On CUDA the first layer (16 x 32 x 16) runs cuBLASLt's float8 product, the second (8 columns)
    the tiled kernel."""
    from backend_util import compile_model
    from tensorforge.dynamo import engine_modules

    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).eval()
    q = tf.quantize(model, [torch.randn(8, 16) for _ in range(2)], method="max", dtype=F8)
    targets = {n.target for n in q.graph.nodes}
    assert torch.ops.tensorforge.fake_quantize_float8.default in targets
    assert torch.ops.tensorforge.dequantize_float8.default in targets
    q, model, x = q.to(device), model.to(device), torch.randn(16, 16).to(device)
    with torch.no_grad():
        got = compile_model(q, {"min_block_size": 1, "enabled_precisions": {torch.float32, F8}})(x)
        want, exact = q(x), model(x)
    text = engine_modules()[-1].engine.inspect()
    if device == "cuda":
        assert "cuBLASLt float8 product" in text and "tiled float8 kernel" in text, text
    assert text.count("[quantized_matmul]") == 2 and "[matmul]" not in text, text
    assert "float8_e4m3fn[32,16]" in text and text.count("scale_source=calibrated") == 2, text
    assert (got - want).abs().max().item() <= 0.05 * want.abs().max().item()
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), exact.flatten(), dim=0).item()
    assert cosine > 0.99, cosine


@pytest.mark.cuda
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("m,n,k", [(1, 8, 16), (37, 24, 64), (256, 96, 128), (128, 64, 256)])
@pytest.mark.parametrize("activation,residual", [("gelu", True), ("relu", False), ("relu", True), ("none", False)])
def test_cuda_float8_matmul_matches_the_cpu(out_dtype, m, n, k, activation, residual):
    """quantize(x) to float8 times a float8 weight [N, K] with per-column scales, bias, a residual and
    an activation, against the CPU's reference. Sizes that are multiples of 16 run cuBLASLt's float8
    product (with a 16-bit result, the whole epilogue inside it; with float32, sums and our epilogue
    kernel), others the tiled kernel. Hopper's float8 products accumulate in less than float32's
    precision: the tolerance is 2e-3 of the largest result, and bias and residual are large enough
    (about 20) that leaving either out, or scaling the wrong column, fails it."""
    g = torch.Generator().manual_seed(m + n + k)
    x = torch.randn(m, k, generator=g) * 3
    w = (torch.randn(n, k, generator=g) * 50).to(F8)
    scale = torch.rand(n, generator=g) * 0.01 + 0.001
    bias = torch.randn(n, generator=g) * 20
    res = (torch.randn(m, n, generator=g) * 20).to(out_dtype)

    def build():
        net = tf.Network()
        xi = net.add_input("x", torch.float32, (m, k))
        ri = net.add_input("r", out_dtype, (m, n)) if residual else None
        q = net.add_quantize(xi, net.add_constant(torch.tensor(0.05)), None, dtype=F8)
        y = net.add_quantized_matmul(q, net.add_constant(w), net.add_constant(scale), net.add_constant(bias), True,
                                     activation, out_dtype, residual=ri)
        net.mark_output(y, "y")
        return net

    inputs = (x, res) if residual else (x,)
    (want,) = _engine(build(), "cpu")(*inputs)
    engine = _engine(build(), "cuda")
    lt = m % 16 == 0 and n % 16 == 0 and k % 16 == 0
    assert ("cuBLASLt float8 product" if lt else "tiled float8 kernel") in engine.inspect()
    if lt and out_dtype != torch.float32:  # the bias is a constant: converted once, not each call
        assert "column scales, bias and residual in its epilogue" in engine.inspect()
        assert "(row scales and bias prepared once)" in engine.inspect()
    (got,) = engine(*(t.cuda() for t in inputs))
    want = torch.as_tensor(want).float()
    rtol = {torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[out_dtype]  # a rounding of the result
    torch.testing.assert_close(torch.as_tensor(got).cpu().float(), want, rtol=rtol,
                               atol=rtol + 2e-3 * want.abs().max().item())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_quantize_applies_its_activation_first(device, dtype, activation):
    """quantize's activation (set by move_activation_into_quantize): float8(act(x) rounded to x's
    dtype, / scale), as PyTorch computes it. The erf of two libraries may differ in its last bit, which
    can move a value across a rounding boundary of x's dtype and then of float8: all within one float8
    step and almost all equal; relu exactly."""
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(4096, generator=g) * 3).to(dtype)
    scale = torch.tensor(0.02)
    net = tf.Network()
    q = net.add_quantize(net.add_input("x", dtype, (4096,)), net.add_constant(scale), None, dtype=F8,
                         activation=activation)
    net.mark_output(net.add_cast(q, torch.float32), "q")
    (got,) = _engine(net, device)(x.to(device))
    act = torch.relu if activation == "relu" else torch.nn.functional.gelu
    want = (act(x.float()).to(dtype).float() * (1.0 / scale)).clamp(-448, 448).to(F8)
    got = torch.as_tensor(got).cpu()
    if activation == "relu":
        _same(got.float(), want.float())
        return
    torch.testing.assert_close(got.float(), want.float(), rtol=0.13, atol=2.0 ** -9)
    assert (got.float() == want.float()).float().mean().item() > 0.995


@pytest.mark.cuda
def test_cuda_float8_gelu_moves_into_the_next_quantize():
    """A float8 MLP (Linear, GELU, Linear) on CUDA: the first product's GELU, which cuBLASLt's epilogue
    does not take, moves into the quantize of the second product's rows (one pass over the hidden
    activations instead of two); the output matches the quantized model PyTorch runs."""
    from backend_util import compile_model
    from tensorforge.dynamo import engine_modules

    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 64)).eval()
    model = model.cuda().half()
    q = tf.quantize(model, [torch.randn(32, 64, device="cuda", dtype=torch.float16) for _ in range(2)],
                    method="max", dtype=F8)
    x = torch.randn(32, 64, device="cuda", dtype=torch.float16)
    with torch.no_grad():
        got = compile_model(q, {"min_block_size": 1, "enabled_precisions": {torch.float16, F8}})(x)
        want = q(x)
    text = engine_modules()[-1].engine.inspect()
    assert "(gelu applied first)" in text and "and the activation after it" not in text, text
    assert text.count("cuBLASLt float8 product") == 2, text
    assert (got - want).abs().max().item() <= 0.05 * want.abs().max().item()


def test_quantize_activation_names_are_checked():
    """An activation quantize does not know is an error that names it and the ones it takes."""
    net = tf.Network()
    x = net.add_input("x", torch.float16, (4,))
    with pytest.raises(tf.InvalidNetworkError, match='activation must be "none", "relu", "gelu" or "gelu_tanh", '
                                                     'not "swish"'):
        net.add_quantize(x, net.add_constant(torch.tensor(0.1)), None, dtype=F8, activation="swish")
