"""Quantize and dequantize layers, and the pre-quantized graphs PyTorch's PT2E flow makes: the layers
match torch.ops.quantized_decomposed bit for bit (per tensor and per channel, int8 and uint8, a
narrow range, float16 data); graphs with quantize/dequantize pairs compile into engines with
those ops inside; a CNN quantized with torchao's convert_pt2e runs in one engine and matches the
quantized model run by PyTorch."""

import pytest
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401 - torch.ops.quantized_decomposed

import tensorforge as tf
from backend_util import Watch, compile_model, kept_ops

qd = torch.ops.quantized_decomposed
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _engine(net, device):
    return tf.Builder(tf.BuilderConfig(device=device)).build(net)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype,qmin,qmax,zero", [(torch.int8, -128, 127, 3), (torch.int8, -127, 127, 0),
                                                   (torch.uint8, 0, 255, 128)])
@pytest.mark.parametrize("data", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", [(4, 33), (3, 1000)])  # CUDA: eight elements a thread and a tail; whole packs
def test_per_tensor_layers_match_pytorch(device, dtype, qmin, qmax, zero, data, shape):
    torch.manual_seed(0)
    x = (torch.randn(shape) * 3).to(data)
    x[0, :6] = torch.tensor([0.25, 0.75, -0.25, 1e6, -1e6, 1.25])  # ties at scale 0.5 and saturation
    scale = 0.5
    net = tf.Network()
    xi = net.add_input("x", data, x.shape)
    s = net.add_constant(torch.tensor(scale, dtype=torch.float32))
    z = net.add_constant(torch.tensor(zero, dtype=torch.int32))
    q = net.add_quantize(xi, s, z, dtype=dtype, qmin=qmin, qmax=qmax)
    net.mark_output(q, "q")
    net.mark_output(net.add_dequantize(q, s, z, dtype=data), "y")
    got_q, got_y = _engine(net, device)(x.to(device))
    want_q = qd.quantize_per_tensor(x.float(), scale, zero, qmin, qmax, dtype)
    want_y = qd.dequantize_per_tensor(want_q, scale, zero, qmin, qmax, dtype).to(data)
    assert torch.equal(torch.as_tensor(got_q).cpu(), want_q)
    assert torch.equal(torch.as_tensor(got_y).cpu(), want_y)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("axis", [0, 1, 3])
def test_per_channel_layers_match_pytorch(device, axis):
    torch.manual_seed(1)
    x = torch.randn(3, 4, 5, 6) * 2
    channels = x.shape[axis]
    scales = torch.rand(channels) * 0.1 + 0.01
    zeros = torch.randint(-5, 5, (channels,))
    shape = [1] * 4
    shape[axis] = channels
    net = tf.Network()
    xi = net.add_input("x", torch.float32, x.shape)
    s = net.add_constant(scales.reshape(shape))
    z = net.add_constant(zeros.to(torch.int32).reshape(shape))
    q = net.add_quantize(xi, s, z, dtype=torch.int8)
    net.mark_output(q, "q")
    net.mark_output(net.add_dequantize(q, s, z), "y")
    got_q, got_y = _engine(net, device)(x.to(device))
    want_q = qd.quantize_per_channel(x, scales, zeros, axis, -128, 127, torch.int8)
    assert torch.equal(torch.as_tensor(got_q).cpu(), want_q)
    assert torch.equal(torch.as_tensor(got_y).cpu(),
                       qd.dequantize_per_channel(want_q, scales, zeros, axis, -128, 127, torch.int8))


class FakeQuantLinear(torch.nn.Module):
    """A linear layer between quantize/dequantize pairs, written with the ops themselves: activations
    uint8 per tensor (Python numbers), weights int8 per channel (constant tensors)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        w = torch.randn(16, 32) * 0.2
        self.register_buffer("w_scale", w.abs().amax(1) / 127)
        self.register_buffer("w_zero", torch.zeros(16, dtype=torch.int64))
        self.register_buffer("w_q", qd.quantize_per_channel(w, self.w_scale, self.w_zero, 0, -127, 127, torch.int8))
        self.bias = torch.nn.Parameter(torch.randn(16) * 0.1, requires_grad=False)

    def forward(self, x):
        xq = qd.quantize_per_tensor(x, 0.05, 128, 0, 255, torch.uint8)
        xd = qd.dequantize_per_tensor(xq, 0.05, 128, 0, 255, torch.uint8)
        w = qd.dequantize_per_channel(self.w_q, self.w_scale, self.w_zero, 0, -127, 127, torch.int8)
        y = torch.nn.functional.linear(xd, w, self.bias).relu()
        yq = qd.quantize_per_tensor.tensor(y, torch.tensor(0.02), torch.tensor(0), 0, 255, torch.uint8)
        return qd.dequantize_per_tensor.tensor(yq, torch.tensor(0.02), torch.tensor(0), 0, 255, torch.uint8)


def test_quantize_dequantize_pairs_compile_into_the_engine():
    model = FakeQuantLinear().eval()
    x = torch.randn(8, 32)
    with Watch() as w, torch.no_grad():
        got = compile_model(model, {"min_block_size": 1})(x)
        want = model(x)
    assert w.engines == 1
    assert not [op for r in w.reports for op in kept_ops(r) if "quantized_decomposed" in op]
    # The graph's own scales: the inspector says they were given (not calibrated by tensorforge).
    from tensorforge.dynamo import engine_modules

    text = engine_modules()[-1].engine.inspect()
    assert "[quantized_matmul]" in text and "scale_source=given" in text, text
    assert "scale_source=calibrated" not in text, text
    # One output quantum (0.02) where float32 matmul rounding moves a value across a rounding boundary.
    assert (got - want).abs().max().item() <= 0.02 + 1e-6
    assert (got != want).float().mean().item() < 0.01


def test_scale_source_follows_the_scale_constant():
    """tensorforge.quantize's scale buffers (by the frozen constant's dynamo source) are calibrated or
    weight-only, other constant tensors given; a Python number (an activation's scale) says nothing."""
    from tensorforge.dynamo.conversion.aten_ops.quantize import scale_source
    from tensorforge.dynamo.lowering.freeze import SOURCE

    g = torch.fx.Graph()
    x, s = g.placeholder("x"), g.get_attr("s")
    number = g.call_function(qd.dequantize_per_tensor.default, (x, 0.05, 0, -128, 127, torch.int8))
    tensor = g.call_function(qd.dequantize_per_tensor.tensor, (x, s, s, -128, 127, torch.int8))
    assert scale_source(number) == ""
    assert scale_source(tensor) == "given"
    for source, want in (("L['self']._tf_quant_3_scale", "calibrated"), ("L['self']._tf_wonly_0_scale", "weight-only"),
                         ("L['self']._tf_quant_3_scales", "given"), ("L['self'].w_scale", "given")):
        s.meta[SOURCE] = source
        assert scale_source(tensor) == want, source


def test_runtime_scales_stay_in_pytorch():
    """A scale an engine input would give at run time is not a constant: the op stays in PyTorch."""
    def f(x, scale):
        q = qd.quantize_per_tensor.tensor(x, scale, torch.tensor(0), -128, 127, torch.int8)
        return qd.dequantize_per_tensor.tensor(q, scale, torch.tensor(0), -128, 127, torch.int8) * 2

    x, scale = torch.randn(4, 8), torch.tensor(0.1)
    with Watch() as w:
        got = compile_model(f, {"min_block_size": 1})(x, scale)
    torch.testing.assert_close(got, f(x, scale))
    assert any("quantized_decomposed" in op for r in w.reports for op in kept_ops(r))


def _pt2e_cnn(device):
    """A small CNN quantized by torchao's PT2E flow with the X86 quantizer (uint8 activations per
    tensor, int8 weights per channel), calibrated on random batches."""
    ao = pytest.importorskip("torchao.quantization.pt2e.quantize_pt2e",
                            reason="torchao's PT2E flow makes the pre-quantized graph (scripts/install_deps.sh)")
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq

    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 10)).eval()
    x = torch.randn(4, 3, 8, 8)
    exported = torch.export.export(model, (x,)).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = ao.prepare_pt2e(exported, quantizer)
    for _ in range(4):
        prepared(torch.randn(4, 3, 8, 8))
    return ao.convert_pt2e(prepared).to(device), x.to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_pt2e_quantized_cnn_runs_in_one_engine(device):
    quantized, x = _pt2e_cnn(device)
    with torch.no_grad():
        want = quantized(x)
    with Watch() as w, torch.no_grad():
        got = compile_model(quantized, {"min_block_size": 1})(x)
    assert w.engines == 1
    assert not [op for r in w.reports for op in kept_ops(r) if "quantized_decomposed" in op]
    if device == "cpu":  # the linear layer's uint8 activation (zero point folded into the bias) and int8 weight
        from tensorforge.dynamo import engine_modules

        assert engine_modules()[-1].engine.inspect().count("[quantized_matmul]") == 1
    # The same quantized arithmetic; float rounding inside convolutions may move a value by one
    # quantum of an activation, which the layers after it carry on a little.
    err = (got - want).abs().max().item()
    assert err <= 0.05 * want.abs().max().item(), err
