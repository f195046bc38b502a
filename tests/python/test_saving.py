"""tensorforge.save / tensorforge.load: a compiled model written as an ExportedProgram (engines as
tensorforge::execute_engine calls, the ops kept in PyTorch around them) runs after loading, in
another process, without compiling; a one-engine model can be a plain engine file; bad requests and
damaged engines get clear errors."""

import os
import subprocess
import sys

import pytest
import torch

import tensorforge as tf
from tensorforge import saving
from tensorforge.dynamo import backend


class Split(torch.nn.Module):
    """Two engines around an op the engine does not run (special_zeta), with a graph break between
    the first linear layer and the rest, and two outputs (a tensor and a scalar)."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(8, 16)
        self.b = torch.nn.Linear(16, 4)

    def forward(self, x):
        y = torch.relu(self.a(x))
        torch._dynamo.graph_break()
        z = torch.special.zeta(y + 2.0, torch.ones_like(y))
        return self.b(y + z), y.sum()


class HalfSplit(Split):
    """Split for float16 on the GPU, whose special_zeta has no float16 kernel: computed in float32."""

    def forward(self, x):
        y = torch.relu(self.a(x))
        torch._dynamo.graph_break()
        z = torch.special.zeta(y.float() + 2.0, torch.ones_like(y, dtype=torch.float32)).half()
        return self.b(y + z), y.sum()


class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(6, 5)

    def forward(self, x):
        return torch.tanh(self.a(x)) * 2.0


def _model(cls):
    torch.manual_seed(0)
    return cls().eval()


def _passes_in_another_process(script: str) -> None:
    """Runs `script` in a new Python process (this one's import path); it must print "ok" last."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_round_trip_in_another_process(tmp_path):
    model, x = _model(Split), torch.randn(3, 8)
    path = tmp_path / "split.pt2"
    engines = backend.STATS["engines"]
    tf.save(model, path, (x,), options={"min_block_size": 1})
    assert backend.STATS["engines"] - engines == 2  # one engine on each side of special_zeta
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        expected = model(x)
    torch.save(expected, tmp_path / "expected.pt")
    script = f"""
import torch, tensorforge as tf
from tensorforge import saving
from tensorforge.dynamo import backend
m = tf.load({str(path)!r})
x = torch.load({str(tmp_path / 'x.pt')!r})
want = torch.load({str(tmp_path / 'expected.pt')!r})
with torch.no_grad():
    for _ in range(3):
        got = m(x)
assert isinstance(got, tuple) and len(got) == 2, type(got)
torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
torch.testing.assert_close(got[1], want[1], rtol=1e-5, atol=1e-4)
code = str(m.graph)
assert "tensorforge.execute_engine" in code and "special_zeta" in code, code
assert backend.STATS["engines"] == 0 and backend.STATS["graphs"] == 0, backend.STATS
assert saving.STATS["engines_deserialized"] == 2, saving.STATS
print("ok")
"""
    _passes_in_another_process(script)


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(16, 48)

    def forward(self, x):
        q, k, v = self.qkv(x).view(2, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v).sum(1)


class BackendOp(torch.nn.Module):
    """Calls one of the backend's own ops, which its lowering module defines."""

    def forward(self, q):
        return torch.ops.tensorforge.sdpa(q, q, q) * 2


def test_loading_imports_only_the_runtime_and_the_ops_a_program_keeps(tmp_path):
    """tensorforge.load imports no conversion or lowering code (a saved model's first output comes
    sooner), except to define the backend's own ops for a program that calls one."""
    from tensorforge.dynamo.lowering import custom_ops  # noqa: F401 - defines tensorforge::sdpa here

    model, x = _model(Attention), torch.randn(2, 5, 16)
    plain, own_op = tmp_path / "plain.pt2", tmp_path / "own_op.pt2"
    tf.save(model, plain, (x,), options={"min_block_size": 1})
    q = torch.randn(2, 3, 4, 8)
    torch.export.save(torch.export.export(BackendOp(), (q,)), own_op)
    torch.save((x, q), tmp_path / "x.pt")
    with torch.no_grad():
        torch.save((model(x), BackendOp()(q)), tmp_path / "expected.pt")
    script = f"""
import sys, torch, tensorforge as tf
(x, q), (want, want_q) = torch.load({str(tmp_path / 'x.pt')!r}), torch.load({str(tmp_path / 'expected.pt')!r})
heavy = lambda: sorted(m for m in sys.modules if m.startswith(("tensorforge.dynamo.conversion",
                                                                 "tensorforge.dynamo.lowering")))
with torch.no_grad():
    m = tf.load({str(plain)!r})
    torch.testing.assert_close(m(x), want, rtol=1e-4, atol=1e-5)
    assert heavy() == [], heavy()
    m = tf.load({str(own_op)!r})
    torch.testing.assert_close(m(q), want_q)
print("ok")
"""
    _passes_in_another_process(script)


def test_dynamic_round_trip_in_another_process(tmp_path):
    """Saved with a dynamic batch (1..64): both engines are dynamic engines, and the loaded program
    runs every batch in range in another process without compiling, matching eager; a batch above
    the range is refused by the program's own shape check."""
    model = _model(Split)
    path = tmp_path / "split_dynamic.pt2"
    dynamic = backend.STATS["dynamic_engines"]
    batch = torch.export.Dim("batch", min=1, max=64)
    tf.save(model, path, (torch.randn(3, 8),), options={"min_block_size": 1}, dynamic_shapes=({0: batch},))
    assert backend.STATS["dynamic_engines"] - dynamic == 2
    xs = [torch.randn(n, 8) for n in (1, 5, 64, 5)]
    with torch.no_grad():
        torch.save((xs, [model(x) for x in xs]), tmp_path / "data.pt")
    script = f"""
import torch, tensorforge as tf
from tensorforge import saving
from tensorforge.dynamo import backend
m = tf.load({str(path)!r})
xs, wants = torch.load({str(tmp_path / 'data.pt')!r})
with torch.no_grad():
    for x, want in zip(xs, wants):
        got = m(x)
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got[1], want[1], rtol=1e-5, atol=1e-4)
    try:
        m(torch.randn(65, 8))
        raise SystemExit("batch 65 ran")
    except (AssertionError, RuntimeError) as e:
        assert "64" in str(e), e
assert backend.STATS["graphs"] == 0, backend.STATS
assert saving.STATS["engines_deserialized"] == 2, saving.STATS
print("ok")
"""
    _passes_in_another_process(script)


def test_dynamic_plain_engine_file(tmp_path):
    """A one-engine model saved with dynamic dims as an engine file is a dynamic engine file, which
    C++ and DynamicEngine.load read, with the ranges torch.export was given."""
    model = _model(Plain)
    path = tmp_path / "plain_dynamic.tfengine"
    batch, rows = torch.export.Dim("batch", min=1, max=16), torch.export.Dim("rows", min=2, max=40)
    tf.save(model, path, (torch.randn(4, 3, 6),), options={"min_block_size": 1}, output_format="engine",
            dynamic_shapes=({0: batch, 1: rows},))
    engine = tf.DynamicEngine.load(path)
    assert sorted(engine.sizes.values()) == [(1, 4, 16), (2, 3, 40)]
    for shape in ((1, 2, 6), (16, 40, 6), (7, 11, 6)):
        x = torch.randn(shape)
        (got,) = engine(x)
        with torch.no_grad():
            torch.testing.assert_close(torch.as_tensor(got), model(x), rtol=1e-5, atol=1e-5)


class TwoOutputs(Plain):
    """Two outputs of one shape and dtype, which an EngineModule would allocate together."""

    def forward(self, x):
        y = self.a(x)
        return torch.tanh(y), torch.sigmoid(y)


def test_outputs_of_one_shape_are_separate_tensors(tmp_path):
    """A custom op's outputs must not alias: the loaded engine gives each output its own memory
    (64 rows of 5 floats: a size the torch.compile path would put in one allocation)."""
    model, x = _model(TwoOutputs), torch.randn(64, 6)
    path = tmp_path / "two.pt2"
    tf.save(model, path, (x,), options={"min_block_size": 1})
    got = tf.load(path)(x)
    with torch.no_grad():
        for g, w in zip(got, model(x)):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    assert got[0].untyped_storage().data_ptr() != got[1].untyped_storage().data_ptr()


def test_saved_file_holds_each_weight_once(tmp_path):
    """The engines took the weights: the program keeps no second copy of them as buffers."""
    model, x = _model(Split), torch.randn(3, 8)
    path = tmp_path / "split.pt2"
    tf.save(model, path, (x,), options={"min_block_size": 1})
    loaded = tf.load(path)
    names = [n for n, _ in loaded.named_buffers()]
    assert names and all("_tensorforge_engine_" in n for n in names), names


def test_plain_engine_file(tmp_path):
    model, x = _model(Plain), torch.randn(4, 6)
    path = tmp_path / "plain.tfengine"
    tf.save(model, path, (x,), options={"min_block_size": 1}, output_format="engine")
    engine = tf.Engine.load(path)
    (got,) = engine(x)
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(tf.InvalidArgumentError, match="plain engine file"):
        tf.load(path)
    with pytest.raises(tf.UnsupportedError, match="one engine and nothing else"):
        tf.save(_model(Split), tmp_path / "split.tfengine", (torch.randn(3, 8),),
                options={"min_block_size": 1}, output_format="engine")


def test_bad_requests(tmp_path):
    model, x = _model(Plain), torch.randn(4, 6)
    with pytest.raises(tf.InvalidArgumentError, match="output_format must be one of"):
        tf.save(model, tmp_path / "m", (x,), output_format="onnx")
    with pytest.raises(tf.InvalidArgumentError, match="example_inputs must be tensors"):
        tf.save(model, tmp_path / "m", (x, 3))
    with pytest.raises(tf.InvalidArgumentError, match="dry run"):
        tf.save(model, tmp_path / "m", (x,), options={"min_block_size": float("inf")})
    with pytest.raises(tf.InvalidArgumentError, match="no file at"):
        tf.load(tmp_path / "missing.pt2")


class _Cache:
    """An output type torch.export does not know (as Hugging Face's DynamicCache with use_cache=True)."""

    def __init__(self, t):
        self.t = t


class ReturnsCache(torch.nn.Module):
    def forward(self, x):
        return x * 2, _Cache(x + 1)


def test_unexportable_model_is_a_clear_error(tmp_path):
    with pytest.raises(tf.UnsupportedError, match="torch.export could not trace ReturnsCache.*use_cache") as info:
        tf.save(ReturnsCache(), tmp_path / "m.pt2", (torch.randn(3),))
    assert info.value.__cause__ is not None  # export's own error stays attached
    with pytest.raises(Exception, match="Constraints violated|specialized|Not all values") as info:
        tf.save(_model(Plain), tmp_path / "m.pt2", (torch.randn(4, 6),),
                dynamic_shapes=({1: torch.export.Dim("n", min=2, max=8)},))
    assert not isinstance(info.value, tf.UnsupportedError)  # export's advice on dynamic_shapes, as it wrote it


def test_damaged_engine_is_a_clear_error(tmp_path):
    model, x = _model(Plain), torch.randn(4, 6)
    path = tmp_path / "plain.pt2"
    tf.save(model, path, (x,), options={"min_block_size": 1})
    loaded = tf.load(path)
    (name, blob), = [(n, b) for n, b in loaded.named_buffers() if "_tensorforge_engine_" in n]
    blob[blob.numel() // 2:] = 0  # the engine's weights and checksum region
    with pytest.raises(tf.CorruptFileError):
        loaded(x)


@pytest.mark.cuda
def test_cuda_float16_round_trip(tmp_path):
    """A float16 model on the GPU: the saved CUDA engines run after loading (on PyTorch's stream,
    through their CUDA graphs) and match eager within float16's rounding."""
    model = _model(HalfSplit).cuda().half()
    x = torch.randn(3, 8, device="cuda", dtype=torch.float16)
    path = tmp_path / "split_cuda.pt2"
    tf.save(model, path, (x,), options={"min_block_size": 1})
    loaded = tf.load(path)
    with torch.no_grad():
        want = model(x)
        for _ in range(3):
            got = loaded(x)
    assert got[0].device.type == "cuda" and got[0].dtype == torch.float16
    torch.testing.assert_close(got[0], want[0], rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(got[1], want[1], rtol=2e-2, atol=5e-1)


@pytest.mark.cuda
def test_cuda_dynamic_round_trip(tmp_path):
    """Saved on the GPU with a dynamic batch: the loaded program's dynamic CUDA engines run batches
    they were not built at and match eager within float16's rounding."""
    model = _model(HalfSplit).cuda().half()
    path = tmp_path / "split_cuda_dynamic.pt2"
    batch = torch.export.Dim("batch", min=1, max=32)
    tf.save(model, path, (torch.randn(8, 8, device="cuda", dtype=torch.float16),), options={"min_block_size": 1},
            dynamic_shapes=({0: batch},))
    loaded = tf.load(path)
    for n in (1, 8, 13, 32):
        x = torch.randn(n, 8, device="cuda", dtype=torch.float16)
        with torch.no_grad():
            want = model(x)
            for _ in range(2):
                got = loaded(x)
        torch.testing.assert_close(got[0], want[0], rtol=2e-2, atol=2e-2)
        torch.testing.assert_close(got[1], want[1], rtol=2e-2, atol=5e-1)


def test_loaded_model_from_several_threads(tmp_path):
    """One loaded module called from several threads at once: the engines are deserialized once and
    every call matches eager."""
    import concurrent.futures

    model = _model(Split)
    path = tmp_path / "split.pt2"
    tf.save(model, path, (torch.randn(3, 8),), options={"min_block_size": 1})
    loaded = tf.load(path)
    xs = [torch.randn(3, 8) for _ in range(24)]
    before = saving.STATS["engines_deserialized"]
    with torch.no_grad(), concurrent.futures.ThreadPoolExecutor(6) as pool:
        outs = list(pool.map(loaded, xs))
        for x, (a, b) in zip(xs, outs):
            want_a, want_b = model(x)
            torch.testing.assert_close(a, want_a, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(b, want_b, rtol=1e-5, atol=1e-4)
    assert saving.STATS["engines_deserialized"] - before <= 2 * 6  # at most once per engine per racing thread
