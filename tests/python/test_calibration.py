"""INT8 calibration (tensorforge.calibration) and tensorforge.quantize: thresholds against
hand-computed values for each method; the quantized model's structure, scales and weights; the
compiled quantized model against the same model run by PyTorch; the calibration cache; layers
kept in float; clear errors; and a model trained here whose INT8 accuracy stays within a point of
float32's."""

import json

import pytest
import torch

import tensorforge as tf
from tensorforge import quantization
from tensorforge.calibration import BINS, RangeRecorder
from backend_util import Watch, compile_model, kept_ops

qd = torch.ops.quantized_decomposed


def _recorded(*batches):
    r = RangeRecorder()
    for b in batches:
        r.observe_max(b)
    for b in batches:
        r.observe_histogram(b)
    return r


def test_max_is_the_largest_finite_magnitude():
    r = _recorded(torch.tensor([0.5, -3.25, 1.0]), torch.tensor([2.0, float("inf"), float("nan")]))
    assert r.threshold("max") == 3.25


def test_percentile_ends_at_the_bin_holding_it():
    # 1..10000 / 10000: 99% of the values are <= 0.99, which lies in bin floor(0.99 * BINS) of [0, 1].
    r = _recorded(torch.arange(1, 10001, dtype=torch.float64) / 10000)
    assert r.threshold("percentile", 99.0) == pytest.approx((int(0.99 * BINS) + 1) / BINS, abs=1e-9)
    assert r.threshold("percentile", 50.0) == pytest.approx((int(0.5 * BINS) + 1) / BINS, abs=1e-9)
    assert r.threshold("percentile", 100.0) == pytest.approx(1.0)


def test_entropy_clips_an_outlier_and_keeps_a_uniform_range():
    torch.manual_seed(0)
    gauss = torch.randn(200_000)
    gauss[0] = 40.0  # one outlier sets amax
    t = _recorded(gauss).threshold("entropy")
    assert 2.5 < t < 6.0, t  # a few standard deviations, far below the outlier
    uniform = torch.rand(200_000)
    r = _recorded(uniform)
    assert r.threshold("entropy") == pytest.approx(r.amax, rel=1e-6)  # nothing to gain by clipping


def test_bad_method_and_percentile():
    r = _recorded(torch.randn(100))
    with pytest.raises(tf.InvalidArgumentError, match="must be one of"):
        r.threshold("mse")
    with pytest.raises(tf.InvalidArgumentError, match=r"percentile must be in \(0, 100\]"):
        r.threshold("percentile", 0)


def _cnn():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 10)).eval()


def _ops(gm, op):
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target == op]


def test_quantize_inserts_pairs_with_calibrated_scales():
    model = _cnn()
    cal = [torch.randn(4, 3, 8, 8) for _ in range(3)]
    q = tf.quantize(model, cal, method="max")
    acts = _ops(q, qd.quantize_per_tensor.default)
    weights = _ops(q, qd.dequantize_per_channel.default)
    assert len(acts) == 3 and len(weights) == 3  # two convolutions and the linear layer
    # The first convolution reads the model input: its scale is the calibration set's amax / 127.
    amax = max(b.abs().max().item() for b in cal)
    assert acts[0].args[0].op == "placeholder" and acts[0].args[1] == pytest.approx(amax / 127)
    # Weights: int8 per output channel, scale = the channel's amax / 127, within one step of the float.
    w_q, w_scale = (getattr(q, a.target) for a in weights[0].args[:2])
    w = model[0].weight.detach()
    assert w_q.dtype == torch.int8 and w_q.abs().max() <= 127
    torch.testing.assert_close(w_scale, w.abs().amax(dim=(1, 2, 3)) / 127)
    assert ((w_q.float() * w_scale[:, None, None, None] - w).abs() <= w_scale[:, None, None, None] / 2 + 1e-7).all()
    assert "0.weight" not in dict(q.named_parameters())  # the float copy went


@pytest.mark.parametrize("method", ["max", "percentile", "entropy"])
def test_compiled_quantized_model_matches_pytorch(method):
    model = _cnn()
    q = tf.quantize(model, [torch.randn(4, 3, 8, 8) for _ in range(3)], method=method)
    x = torch.randn(4, 3, 8, 8)
    with Watch() as w, torch.no_grad():
        got = compile_model(q, {"min_block_size": 1})(x)
        want, ref = q(x), model(x)
    assert w.engines == 1 and not [op for r in w.reports for op in kept_ops(r)]
    assert (got - want).abs().max().item() <= 1e-3 * want.abs().max().item()
    # Against float32: entropy clips the Gaussian test inputs at a few sigma, which costs a little more.
    cosine = torch.nn.functional.cosine_similarity(want.flatten(), ref.flatten(), dim=0).item()
    assert cosine > (0.98 if method == "entropy" else 0.99), cosine


def test_calibration_cache_skips_calibration(tmp_path):
    model, cache = _cnn(), tmp_path / "cal.json"
    cal = [torch.randn(2, 3, 8, 8) for _ in range(2)]
    first = tf.quantize(model, cal, cache=cache)
    runs = quantization.STATS["calibration_batches"]
    second = tf.quantize(model, cal, cache=cache)
    assert quantization.STATS["calibration_batches"] == runs
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(first(x), second(x))
    cache.write_text(json.dumps({"key": "another model", "thresholds": {}}))
    tf.quantize(model, cal, cache=cache)
    assert quantization.STATS["calibration_batches"] > runs  # not this model's: calibrated again
    assert json.loads(cache.read_text())["key"] != "another model"


def test_keep_float_and_errors():
    model = _cnn()
    cal = [torch.randn(2, 3, 8, 8)]
    q = tf.quantize(model, cal, keep_float=["5"], method="max")  # the linear layer
    assert len(_ops(q, qd.quantize_per_tensor.default)) == 2
    with pytest.raises(tf.InvalidArgumentError, match="INT8 activations need it"):
        tf.quantize(model, [])
    with pytest.raises(tf.UnsupportedError, match="int8 and float8_e4m3fn are"):
        tf.quantize(model, cal, dtype=torch.float16)
    with pytest.raises(tf.UnsupportedError, match="without weight_only or min_cosine yet"):
        tf.quantize(model, cal, dtype=torch.float8_e4m3fn, min_cosine=0.99)
    with pytest.raises(tf.UnsupportedError, match="nothing|no convolution"):
        tf.quantize(model, cal, keep_float=["0", "2", "5"])


class _Projections(torch.nn.Module):
    """Three linear layers side by side over one input (query, key and value)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.q, self.k, self.v = (torch.nn.Linear(16, n) for n in (8, 12, 8))

    def forward(self, x):
        return self.q(x) * 2, self.k(x) - 1, torch.relu(self.v(x))


def test_projections_of_one_activation_share_its_quantization_and_merge():
    """The three layers' input is quantized once (one calibrated range: one tensor), and the engine
    makes the int8 products of q and k one quantized_matmul and a split
    (merge_parallel_quantized_matmuls); v, whose product took the relu, stays apart."""
    from tensorforge.dynamo import engine_modules

    model, cal = _Projections().eval(), [torch.randn(4, 16) for _ in range(2)]
    q = tf.quantize(model, cal, method="max")
    assert len(_ops(q, qd.quantize_per_tensor.default)) == 1
    assert len(_ops(q, qd.dequantize_per_channel.default)) == 3
    x = torch.randn(4, 16)
    with torch.no_grad():
        want = q(x)
        got = compile_model(q, {"min_block_size": 1})(x)
    text = engine_modules()[-1].engine.inspect()
    assert text.count("[quantized_matmul]") == 2 and "[split]" in text, text
    assert "[quantized_matmul] tactic=cpu.quantized_matmul -> float32[4,20]" in text, text
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


def _outlier_mlp():
    """Three linear layers; the second's input has one channel 1000x larger than the others, which the
    next layer's weights scale back down: one per-tensor int8 scale for that input rounds every other
    channel to zero, while the outlier adds little to the output."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                                torch.nn.Linear(32, 4)).eval()
    with torch.no_grad():
        model[0].weight[0] = model[0].weight[0].abs() * 1000
        model[0].bias[0] = 1000.0
        model[2].weight[:, 0] /= 1000
    return model


def _cosine(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return (a @ b / (a.norm() * b.norm())).item()


def test_min_cosine_keeps_the_most_sensitive_layer_in_float():
    model = _outlier_mlp()
    cal = [torch.randn(8, 16) for _ in range(3)]
    with torch.no_grad():
        want = torch.cat([model(x) for x in cal])
        plain = tf.quantize(model, cal, method="max")
        assert _cosine(torch.cat([plain(x) for x in cal]), want) < 0.99  # every layer in int8: far off
        q = tf.quantize(model, cal, method="max", min_cosine=0.999)
        assert q.meta["tensorforge_kept_float"] == ["2"]
        assert len(_ops(q, qd.quantize_per_tensor.default)) == 2  # the other two layers stay int8
        assert _cosine(torch.cat([q(x) for x in cal]), want) >= 0.999  # the rewritten model reaches it
        got = compile_model(q, {"min_block_size": 1})(cal[0])
    torch.testing.assert_close(got, q(cal[0]), rtol=1e-5, atol=1e-5)


def test_min_cosine_met_already_keeps_nothing_and_bad_values_are_refused():
    model, cal = _mlp(), [torch.randn(4, 32) for _ in range(2)]
    q = tf.quantize(model, cal, method="max", min_cosine=0.9)
    assert q.meta["tensorforge_kept_float"] == []
    assert len(_ops(q, qd.quantize_per_tensor.default)) == 2
    for bad in (0.0, 1.5):
        with pytest.raises(tf.InvalidArgumentError, match="min_cosine must be in"):
            tf.quantize(model, cal, min_cosine=bad)
    with pytest.raises(tf.InvalidArgumentError, match="not weight_only"):
        tf.quantize(model, weight_only=True, example_inputs=(cal[0],), min_cosine=0.99)


def _digits(n, seed):
    """A 10-class task of 8x8 images: each class a fixed random stroke pattern, shifted by up to a
    pixel and drawn with noise."""
    g = torch.Generator().manual_seed(0)
    templates = (torch.rand(10, 1, 8, 8, generator=g) > 0.6).float()
    g.manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = templates[labels]
    shifts = torch.randint(-1, 2, (n, 2), generator=g)
    images = torch.stack([torch.roll(im, tuple(s.tolist()), dims=(1, 2)) for im, s in zip(images, shifts)])
    return images + 0.3 * torch.randn(images.shape, generator=g), labels


def _accuracies(model, train, test, epochs, options=None):
    """Trains `model` on `train` (inputs, labels) for `epochs` in batches of 100 with Adam; returns its
    accuracy on `test` and that of its INT8 form (entropy ranges from the first 800 training inputs),
    compiled with TensorForge."""
    x, y = train
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for i in range(0, len(x), 100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i:i + 100]), y[i:i + 100]).backward()
            opt.step()
    model.eval()
    tx, ty = test
    with torch.no_grad():
        float_acc = (model(tx).argmax(1) == ty).float().mean().item()
        q = tf.quantize(model, [x[i:i + 100] for i in range(0, 800, 100)], method="entropy")
        int8_acc = (compile_model(q, options)(tx).argmax(1) == ty).float().mean().item()
    return float_acc, int8_acc


def test_trained_model_keeps_its_accuracy_in_int8():
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(32 * 16, 10))
    float_acc, int8_acc = _accuracies(model, _digits(4000, 1), _digits(2000, 2), epochs=4)
    assert float_acc > 0.9, float_acc  # the task was learned
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)


def test_linear_layers_run_as_int8_matmuls_on_the_cpu():
    """On the CPU the optimizer turns each dequantize → linear of an int8 activation and an int8
    weight into one quantized_matmul (int32 accumulation); the result matches the quantized model
    PyTorch runs up to float rounding, which may move a value of the second layer's input by one
    quantum."""
    from tensorforge.dynamo import engine_modules

    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).eval()
    q = tf.quantize(model, [torch.randn(8, 16) for _ in range(2)], method="max")
    x = torch.randn(8, 16)
    with torch.no_grad():
        got = compile_model(q, {"min_block_size": 1})(x)
        want = q(x)
    text = engine_modules()[-1].engine.inspect()
    assert text.count("[quantized_matmul] tactic=cpu.quantized_matmul") == 2, text
    assert "[matmul]" not in text and "int8[" in text, text
    assert (got - want).abs().max().item() <= 0.02 * want.abs().max().item()
    # The inspector gives their arithmetic and how the scales apply; quantize layers' scales too.
    layers = engine_modules()[-1].engine.inspect(format="json")["layers"]
    products = [la for la in layers if la["kind"] == "quantized_matmul"]
    assert [la["precision"] for la in products] == ["int8", "int8"]
    assert all(la["scales"].startswith("weights per-channel, activations per-tensor") for la in products)
    assert any(la["kind"] == "quantize" and la["precision"] == "int8" and la["scales"] == "per-tensor"
               for la in layers), layers
    assert all(la["scales"] is None for la in layers if "quant" not in la["kind"])
    # Where the scales came from: tensorforge.quantize calibrated them (issue 13's scale source).
    assert [la["scale_source"] for la in products] == ["calibrated", "calibrated"], products
    assert text.count("scale_source=calibrated") == 2, text
    from tensorforge.dynamo.backend import REPORTS  # the compile report counts them per engine

    assert "2 quantized products (int8, calibrated)" in REPORTS[-1].to_text(), REPORTS[-1].to_text()
    # A linear layer over [batch, sequence, features] (viewed as rows by the decomposition) fuses too.
    x3 = torch.randn(2, 5, 16)
    q3 = tf.quantize(model, [torch.randn(2, 5, 16)], method="max")
    with torch.no_grad():
        got3 = compile_model(q3, {"min_block_size": 1})(x3)
        want3 = q3(x3)
    text = engine_modules()[-1].engine.inspect()
    assert text.count("[quantized_matmul]") == 2 and "[matmul]" not in text, text
    assert (got3 - want3).abs().max().item() <= 0.02 * want3.abs().max().item()


class _AttentionBlock(torch.nn.Module):
    """torchvision ViT's encoder block in small: nn.MultiheadAttention(batch_first=True) projects
    the [L, B, E] transpose of its input."""

    def __init__(self, d=32):
        super().__init__()
        self.ln = torch.nn.LayerNorm(d)
        self.attn = torch.nn.MultiheadAttention(d, 4, batch_first=True)
        self.fc = torch.nn.Linear(d, d)

    def forward(self, x):
        y = self.ln(x)
        a, _ = self.attn(y, y, y, need_weights=False)
        return self.fc(x + a)


def test_projection_of_a_transposed_input_runs_as_one_int8_matmul():
    """tensorforge.quantize exports the model: its linear layer over a non-contiguous 3-D input (the
    attention's input projection) is the weight expanded to each of the L entries and a batched
    product. The optimizer reads the weight once (fold_matmul_broadcasts), so the projection fuses
    into an int8 product like the others instead of L float products over L weight copies; and the
    transposes to [L, B, E] and back move past the quantize pairs into the attention's views
    (move_row_transposes), so none is copied and the residual add joins the out-projection."""
    from tensorforge.dynamo import engine_modules

    torch.manual_seed(6)
    model = _AttentionBlock().eval()
    q = tf.quantize(model, [torch.randn(2, 9, 32) for _ in range(2)], method="max")
    x = torch.randn(2, 9, 32)
    with torch.no_grad():
        got = compile_model(q, {"min_block_size": 1})(x)
        want = q(x)
    text = engine_modules()[-1].engine.inspect()
    assert text.count("[quantized_matmul]") == 3, text  # input projection, output projection, fc
    assert "[expand]" not in text and "[matmul]" not in text, text
    assert "[transpose]" not in text and "[elementwise]" not in text, text
    assert (got - want).abs().max().item() <= 0.02 * want.abs().max().item()


def test_int8_precision_needs_quantized_graphs():
    """enabled_precisions={torch.int8} compiles a quantized model; a float model gets an error saying
    how to calibrate it; so does one with torch.float8_e4m3fn."""
    model = _cnn()
    x = torch.randn(2, 3, 8, 8)
    q = tf.quantize(model, [x], method="max")
    with torch.no_grad():
        torch.testing.assert_close(compile_model(q, {"enabled_precisions": {torch.int8, torch.float32}})(x), q(x),
                                   rtol=1e-3, atol=1e-3)
        with pytest.raises(Exception, match="tensorforge.quantize"):
            compile_model(model, {"enabled_precisions": {"int8"}})(x)
    with pytest.raises(Exception, match="dtype=torch.float8_e4m3fn"):  # dynamo wraps the backend's error
        compile_model(model, {"enabled_precisions": {torch.float8_e4m3fn}})(x)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("int8_products", [False, True])
def test_cuda_quantized_model_matches_pytorch(dtype, int8_products, monkeypatch):
    """A model calibrated on the GPU compiles into one CUDA engine and matches the quantized model
    PyTorch runs: its linear layer an int8 product (the default), or with fuse_quantized_matmul
    switched off its dequantized weights folded into float constants."""
    if not int8_products:
        monkeypatch.setenv("TENSORFORGE_DISABLE_PASSES", "fuse_quantized_matmul")
    model = _cnn().cuda().to(dtype)
    cal = [torch.randn(4, 3, 8, 8, device="cuda", dtype=dtype) for _ in range(2)]
    q = tf.quantize(model, cal, method="percentile")
    x = torch.randn(4, 3, 8, 8, device="cuda", dtype=dtype)
    with Watch() as w, torch.no_grad():
        got = compile_model(q, {"min_block_size": 1})(x)
        want = q(x)
    assert w.engines == 1 and not [op for r in w.reports for op in kept_ops(r)]
    from tensorforge.dynamo import engine_modules

    assert ("[quantized_matmul]" in engine_modules()[-1].engine.inspect()) == int8_products
    tol = 2e-3 if dtype == torch.float32 else 3e-2
    assert (got.float() - want.float()).abs().max().item() <= tol * want.float().abs().max().item()


def test_bfloat16_model_keeps_its_dtype():
    """Dequantized activations come back in the model's own dtype (a float32 one met bfloat16 weights
    in the convolution before: the GPU run of 2026-12-05 found it for float16)."""
    model = _cnn().to(torch.bfloat16)
    q = tf.quantize(model, [torch.randn(4, 3, 8, 8, dtype=torch.bfloat16)], method="max")
    x = torch.randn(4, 3, 8, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        want = q(x)
        got = compile_model(q, {"min_block_size": 1})(x)
    assert want.dtype == got.dtype == torch.bfloat16
    assert (got.float() - want.float()).abs().max().item() <= 2e-2 * want.float().abs().max().item()


def _mlp():
    torch.manual_seed(7)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16)).eval()


def test_weight_only_quantizes_linear_weights_and_nothing_else():
    """weight_only=True: int8 weights per output channel, float activations, no calibration batch
    run; example_inputs alone capture the model; the compiled model matches the quantized one."""
    model, x = _mlp(), torch.randn(2, 32)
    before = quantization.STATS["calibration_batches"]
    q = tf.quantize(model, weight_only=True, example_inputs=(x,))
    assert quantization.STATS["calibration_batches"] == before
    targets = [n.target for n in q.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.ops.quantized_decomposed.dequantize_per_channel.default) == 2
    assert torch.ops.quantized_decomposed.quantize_per_tensor.default not in targets
    with torch.no_grad():
        want = q(x)
        got = compile_model(q, {"min_block_size": 1})(x)
        assert (want - model(x)).abs().max().item() < 0.05 * model(x).abs().max().item()  # int8 weights' error
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(tf.InvalidArgumentError, match="example_inputs"):
        tf.quantize(model, weight_only=True)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_weight_only_rows_read_int8_weights(dtype):
    """On CUDA a product of few rows becomes a weight-only
    quantized_matmul; the result matches the quantized model PyTorch runs up to the float sums'
    order."""
    from tensorforge.dynamo import engine_modules

    model = _mlp().to("cuda", dtype)
    x = torch.randn(2, 32, device="cuda", dtype=dtype)
    q = tf.quantize(model, weight_only=True, example_inputs=(x,))
    with torch.no_grad():
        want = q(x)
        got = compile_model(q, {"min_block_size": 1, "enabled_precisions": {dtype}})(x)
    text = engine_modules()[-1].engine.inspect()
    assert text.count("[quantized_matmul]") == 2 and "[matmul]" not in text, text
    assert "weight-only int8 matrix-vector" in text, text
    assert text.count("scale_source=weight-only") == 2, text
    torch.testing.assert_close(got.float(), want.float(), atol=2e-2, rtol=2e-2)


class _Conv1D(torch.nn.Module):
    """Hugging Face's GPT-2 projection: addmm by a [K, N] weight parameter."""

    def __init__(self, k, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(k, n) * 0.1)
        self.bias = torch.nn.Parameter(torch.randn(n) * 0.1)

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


def test_addmm_weights_quantize_per_column_and_run_as_int8_matmuls():
    """addmm by a [K, N] parameter (GPT-2's Conv1D) is quantized per output column (axis 1) and, on
    the CPU, becomes a quantized_matmul; the result matches the quantized model PyTorch runs."""
    from tensorforge.dynamo import engine_modules

    torch.manual_seed(5)
    model = torch.nn.Sequential(_Conv1D(16, 24), torch.nn.ReLU(), _Conv1D(24, 8)).eval()
    q = tf.quantize(model, [torch.randn(2, 5, 16) for _ in range(2)], method="max")
    per_channel = torch.ops.quantized_decomposed.dequantize_per_channel.default
    axes = [n.args[3] for n in q.graph.nodes if n.target == per_channel]
    assert axes == [1, 1], axes
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        got = compile_model(q, {"min_block_size": 1})(x)
        want = q(x)
    text = engine_modules()[-1].engine.inspect()
    assert text.count("[quantized_matmul]") == 2 and "[matmul]" not in text, text
    assert (got - want).abs().max().item() <= 0.02 * want.abs().max().item()


class _TinyTransformer(torch.nn.Module):
    """One pre-norm transformer block (4 heads over 32 features, GELU MLP) over token embeddings,
    mean-pooled into a classifier."""

    def __init__(self, vocab=8, d=32, heads=4, classes=4):
        super().__init__()
        self.heads = heads
        self.embed = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Parameter(torch.randn(16, d) * 0.1)
        self.norm1, self.norm2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.qkv, self.out = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(d, 2 * d), torch.nn.GELU(), torch.nn.Linear(2 * d, d))
        self.head = torch.nn.Linear(d, classes)

    def forward(self, ids):
        x = self.embed(ids) + self.pos
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
        x = x + self.out(a)
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(1))


def _majority(n, seed):
    """16 tokens of 8 kinds; the label is which of kinds 0-3 occurs most (the first on a tie)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 8, (n, 16), generator=g)
    counts = torch.stack([(ids == c).sum(1) for c in range(4)], 1)
    return ids, counts.argmax(1)


def test_trained_transformer_keeps_its_accuracy_in_int8():
    """A transformer block trained for a second, short of perfect (95.5% on 2026-12-05, INT8 95.65%),
    so that quantization errors could flip its borderline answers: INT8 (every linear layer an int8
    product on the CPU) within 1 point of float32's accuracy."""
    from tensorforge.dynamo import engine_modules

    torch.manual_seed(3)
    float_acc, int8_acc = _accuracies(_TinyTransformer(), _majority(1500, 1), _majority(2000, 2), epochs=2,
                                      options={"min_block_size": 1})
    assert engine_modules()[-1].engine.inspect().count("[quantized_matmul]") == 5
    assert float_acc > 0.9, float_acc  # the task was learned
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)


class _Bottleneck(torch.nn.Module):
    """A ResNet bottleneck: 1x1, 3x3, 1x1 with batch norms, a residual add (`out += identity`, as
    torchvision writes it) and, with `down`, a 1x1 shortcut convolution doubling the channels."""

    def __init__(self, cin, width, down):
        super().__init__()
        cout = cin * 2 if down else cin
        self.c1, self.b1 = torch.nn.Conv2d(cin, width, 1, bias=False), torch.nn.BatchNorm2d(width)
        self.c2, self.b2 = torch.nn.Conv2d(width, width, 3, padding=1, bias=False), torch.nn.BatchNorm2d(width)
        self.c3, self.b3 = torch.nn.Conv2d(width, cout, 1, bias=False), torch.nn.BatchNorm2d(cout)
        self.down = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, bias=False),
                                        torch.nn.BatchNorm2d(cout)) if down else None

    def forward(self, x):
        out = torch.relu(self.b1(self.c1(x)))
        out = torch.relu(self.b2(self.c2(out)))
        out = self.b3(self.c3(out))
        identity = self.down(x) if self.down is not None else x
        out += identity
        return torch.relu(out)


def _resnet_blocks():
    torch.manual_seed(2)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), _Bottleneck(16, 8, False),
                               _Bottleneck(16, 8, True), _Bottleneck(32, 8, False)).eval()


def test_residuals_quantize_the_skip_operands():
    """With residuals=True each residual add's skip operand is dequantize(quantize(...)): an identity
    block shares the pair its first convolution reads (the same tensor at the same scale), a
    downsampling block's shortcut result gets its own; the engine computes what the GraphModule does."""
    model = _resnet_blocks()
    cal = [torch.randn(2, 3, 8, 8) for _ in range(3)]
    plain = tf.quantize(model, cal, method="max")
    q = tf.quantize(model, cal, method="max", residuals=True)
    adds = [n for n in q.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.add_.Tensor]
    assert len(adds) == 3
    for add in adds:
        assert add.args[1].target == qd.dequantize_per_tensor.default, add.args
    convs = [n for n in q.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.conv2d.default]
    first_of_block = {convs[1]: adds[0], convs[8]: adds[2]}  # the stem, then 4 + 4 (with the shortcut) + 3
    for conv, add in first_of_block.items():
        assert conv.args[0] is add.args[1], (conv, add)  # one pair for both readers
    # One new pair: the downsampling block's shortcut.
    assert len(_ops(q, qd.quantize_per_tensor.default)) == len(_ops(plain, qd.quantize_per_tensor.default)) + 1
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref, flt = q(x), model(x)
    assert torch.nn.functional.cosine_similarity(ref.flatten(), flt.flatten(), 0) > 0.99
    torch._dynamo.reset()
    compiled = torch.compile(q, backend="tensorforge",
                             options={"enabled_precisions": {torch.float32, torch.int8}, "min_block_size": 1})
    torch.testing.assert_close(compiled(x), ref, atol=1e-4, rtol=1e-4)
    with pytest.raises(tf.UnsupportedError, match="residuals=True"):
        tf.quantize(model, cal, dtype=torch.float8_e4m3fn, residuals=True)
