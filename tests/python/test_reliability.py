"""Reliability: one engine or compiled model called from many threads, handles that outlive their
owners, corrupt and hostile engine files and paths, tensorforge-exec on bad arguments, integer
overflow in shape inference and attributes, and the smaller mismatches with eager PyTorch. Each
test is a reproduction from the reliability issue (docs/reliability.md lists them)."""

import gc
import os
import pathlib
import subprocess
import sys
import threading
import weakref

import numpy as np
import pytest
import torch

import tensorforge as tf
from backend_util import compile_model

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools" / "fuzz"))
from engine_format import with_checksum  # noqa: E402 - the fuzzer's copy of the file checksum

THREADS = 8
CALLS_PER_THREAD = 400  # 3,200 calls in all, as in the report that found the race


def conv_network(batch=2):
    """A network heavy enough (BLAS convolution, then pointwise and a reduction) that calls overlap
    when the GIL is released, with one output per input element row so a mix-up shows."""
    g = torch.Generator().manual_seed(0)
    net = tf.Network()
    x = net.add_input("x", torch.float32, (batch, 4, 16, 16))
    y = net.add_convolution(x, torch.randn(8, 4, 3, 3, generator=g), torch.randn(8, generator=g), padding=(1, 1))
    y = net.add_activation(y, "relu")
    net.mark_output(net.add_reduce(y, "mean", axes=(2, 3)), "features")
    return net


def run_threads(fn, inputs, threads=THREADS):
    """Calls fn(inputs[i]) from `threads` threads, each taking every threads-th input; returns the
    outputs by input index and the exceptions raised."""
    results, errors = [None] * len(inputs), []
    barrier = threading.Barrier(threads)

    def work(t):
        barrier.wait()
        try:
            for i in range(t, len(inputs), threads):
                results[i] = fn(inputs[i])
        except Exception as e:  # noqa: BLE001 - collected and asserted on below
            errors.append(e)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return results, errors


def distinct_inputs(n, shape, device="cpu", dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(shape, generator=g).to(device, dtype) for _ in range(n)]


def check_concurrent_engine(device):
    engine = tf.Builder(tf.BuilderConfig(device=device)).build(conv_network())
    inputs = distinct_inputs(THREADS * CALLS_PER_THREAD, (2, 4, 16, 16), device)
    expected = [engine(x)[0].clone() for x in inputs]  # one thread
    got, errors = run_threads(lambda x: engine(x)[0], inputs)
    assert not errors, errors[:3]
    wrong = sum(not torch.equal(a, b) for a, b in zip(got, expected))
    assert wrong == 0, f"{wrong} of {len(inputs)} outputs differ from the single-threaded ones"
    assert 1 <= engine._contexts.size <= THREADS


def check_concurrent_compiled_model(device, dtype=torch.float32):
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5))
    model = model.eval().to(device, dtype)
    compiled = compile_model(model, {"min_block_size": 1, "disable_tf32": True})
    check_threads_match_one(compiled, distinct_inputs(THREADS * CALLS_PER_THREAD, (2, 4, 16, 16), device, dtype))


def check_threads_match_one(compiled, inputs):
    """compiled(x) from THREADS threads at once gives what one thread got for every input."""
    with torch.no_grad():
        expected = [compiled(x).clone() for x in inputs]

    def call(x):
        with torch.no_grad():
            return compiled(x)

    got, errors = run_threads(call, inputs)
    assert not errors, errors[:3]
    wrong = sum(not torch.equal(a, b) for a, b in zip(got, expected))
    assert wrong == 0, f"{wrong} of {len(inputs)} outputs differ from the single-threaded ones"


def test_repeated_graph_breaking_layers_from_eight_threads():
    """A graph dynamo calls with several modules' parameters (one layer per graph-breaking module;
    backend._FrozenGuard picks their engines): threads calling it at once, each switching the
    parameter set several times per call, give the single-threaded results."""
    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)

        def forward(self, x):
            y = torch.relu(self.a(x))
            torch._dynamo.graph_break()
            return self.b(y) + x

    torch.manual_seed(0)
    model = torch.nn.Sequential(*[Layer() for _ in range(4)]).eval()
    compiled = compile_model(model, {"min_block_size": 1})
    inputs = distinct_inputs(THREADS * 25, (3, 16))
    with torch.no_grad():
        torch.testing.assert_close(compiled(inputs[0]), model(inputs[0]), atol=1e-5, rtol=1e-5)
    check_threads_match_one(compiled, inputs)


def test_one_engine_from_eight_threads():
    check_concurrent_engine("cpu")


def test_one_compiled_model_from_eight_threads():
    check_concurrent_compiled_model("cpu")


def test_one_cpu_engine_of_split_layers_from_eight_threads():
    """The CPU layers that split over the thread pool in several ways (a product split by columns
    with a fused GELU epilogue, attention's heads each with a workspace slot, a convolution's unfold
    by channel, the planar max pooling): eight threads calling one engine at once (all but one find
    the pool busy and run alone) get what one thread got, products within float32 rounding."""
    g = torch.Generator().manual_seed(2)
    net = tf.Network()
    x = net.add_input("x", torch.float32, (128, 256))
    q = net.add_input("q", torch.float32, (1, 4, 128, 64))
    im = net.add_input("im", torch.float32, (1, 8, 40, 40))
    h = net.add_matmul(x, torch.randn(256, 512, generator=g) * 0.05, bias=torch.randn(512, generator=g),
                       activation="gelu")
    net.mark_output(h, "mlp")
    net.mark_output(net.add_attention(q, q, q), "attention")
    c = net.add_convolution(im, torch.randn(16, 8, 3, 3, generator=g), None, padding=(1, 1), activation="relu")
    net.mark_output(net.add_pooling(c, "max", (3, 3), stride=(2, 2), padding=(1, 1)), "pooled")
    engine = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
    gi = torch.Generator().manual_seed(3)
    inputs = [(torch.randn(128, 256, generator=gi), torch.randn(1, 4, 128, 64, generator=gi),
               torch.randn(1, 8, 40, 40, generator=gi)) for _ in range(THREADS * 12)]
    expected = [[t.clone() for t in engine(*a)] for a in inputs]
    got, errors = run_threads(lambda a: engine(*a), inputs)
    assert not errors, errors[:3]
    for i, (outs, refs) in enumerate(zip(got, expected)):
        for o, r, name in zip(outs, refs, ("mlp", "attention", "pooled")):
            torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5, msg=lambda m: f"input {i} {name}: {m}")


@pytest.mark.cuda
def test_one_cuda_engine_from_eight_threads():
    check_concurrent_engine("cuda")
    torch.cuda.synchronize()


@pytest.mark.cuda
def test_one_compiled_cuda_model_from_eight_threads():
    check_concurrent_compiled_model("cuda", torch.float16)
    torch.cuda.synchronize()


def quantized_mlp(dtype, out_dtype):
    """x -> quantize -> product (bias, GELU) -> quantize -> product (bias, relu): the int8 or float8
    layers (sizes multiples of 16: cuBLASLt's paths on CUDA, with their per-kernel constants and
    workspaces)."""
    g = torch.Generator().manual_seed(4)
    net = tf.Network()
    x = net.add_input("x", out_dtype, (32, 64))
    h = x
    for i, (k, n, act) in enumerate(((64, 128, "gelu"), (128, 64, "relu"))):
        q = net.add_quantize(h, net.add_constant(torch.tensor(0.05)), None, dtype=dtype)
        w = torch.randn(n, k, generator=g) * 40
        w = w.to(dtype) if dtype == torch.float8_e4m3fn else w.clamp(-127, 127).round().to(torch.int8)
        h = net.add_quantized_matmul(q, net.add_constant(w), net.add_constant(torch.rand(n, generator=g) * 1e-3),
                                     net.add_constant(torch.randn(n, generator=g)), True, act, out_dtype, name=f"fc{i}")
    net.mark_output(h, "y")
    return net


def quantized_convs(out_dtype):
    """x (NHWC) -> quantize -> int8 3x3 convolution writing int8 -> int8 1x1 convolution with x's int8
    as its residual (and its scale), relu: the int8 convolution layers (cuDNN's graphs on CUDA, one
    plan shared by the process's layers of a signature)."""
    g = torch.Generator().manual_seed(5)
    net = tf.Network()
    x = net.add_input("x", out_dtype, (4, 8, 8, 16))
    q = net.add_quantize(x, net.add_constant(torch.tensor(0.05)), None, dtype=torch.int8)
    h = q
    for i, (kh, dtype) in enumerate(((3, "int8"), (1, out_dtype))):
        w = torch.randint(-127, 128, (16, kh, kh, 16), generator=g, dtype=torch.int32).to(torch.int8)
        residual = {} if i == 0 else {"residual": q, "residual_scale": net.add_constant(torch.tensor(0.05))}
        h = net.add_quantized_convolution(h, net.add_constant(w), net.add_constant(torch.rand(16, generator=g) * 1e-3),
                                          net.add_constant(torch.randn(16, generator=g)), padding=[kh // 2] * 2,
                                          activation="relu", layout="nhwc", dtype=dtype, name=f"conv{i}", **residual)
    net.mark_output(h, "y")
    return net


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("dtype", [torch.int8, torch.float8_e4m3fn, "int8 convolutions"])
def test_one_quantized_engine_from_eight_threads(device, dtype):
    """The int8 and float8 products (cuBLASLt's on CUDA, with the constants their kernels prepare once
    and the sums in the context's workspace) and the int8 convolutions from eight threads at once:
    what one thread got."""
    out_dtype = torch.float16 if device == "cuda" else torch.float32
    convs = dtype == "int8 convolutions"
    net = quantized_convs(out_dtype) if convs else quantized_mlp(dtype, out_dtype)
    engine = tf.Builder(tf.BuilderConfig(device=device)).build(net)
    inputs = distinct_inputs(THREADS * (10 if convs and device == "cpu" else 50), (4, 8, 8, 16) if convs else (32, 64),
                             device, out_dtype)
    expected = [engine(x)[0].clone() for x in inputs]
    got, errors = run_threads(lambda x: engine(x)[0], inputs)
    if device == "cuda":
        torch.cuda.synchronize()
    assert not errors, errors[:3]
    wrong = sum(not torch.equal(a, b) for a, b in zip(got, expected))
    assert wrong == 0, f"{wrong} of {len(inputs)} outputs differ from the single-threaded ones"
    assert len({float(e.abs().sum()) for e in expected}) > 1  # distinct inputs, distinct outputs


@pytest.mark.cuda
def test_a_context_moved_between_streams_waits_for_its_last_call():
    """One context, calls alternating between two streams: the second stream's call must not reuse
    the arena while the first stream's call may still read it."""
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(conv_network(batch=64))
    ctx = engine.create_execution_context()
    inputs = distinct_inputs(40, (64, 4, 16, 16), "cuda")
    expected = [engine(x)[0] for x in inputs]
    streams = [torch.cuda.Stream(), torch.cuda.Stream()]
    torch.cuda.synchronize()  # the inputs and expected outputs are ready before the side streams read them
    outs = []
    for i, x in enumerate(inputs):
        with torch.cuda.stream(streams[i % 2]):
            y = torch.empty(64, 8, device="cuda")
            ctx.execute([x], [y])
            outs.append((y, streams[i % 2]))
    torch.cuda.synchronize()
    assert all(torch.equal(y, e) for (y, _), e in zip(outs, expected))


def test_a_shared_context_refuses_concurrent_calls_instead_of_mixing_them():
    """An ExecutionContext serves one call at a time: a second thread gets a clear error, never a
    wrong answer."""
    engine = tf.Builder().build(conv_network(batch=8))
    ctx = engine.create_execution_context()
    inputs = distinct_inputs(400, (8, 4, 16, 16))
    expected = [engine(x)[0] for x in inputs]

    def call(x):
        y = torch.empty(8, 8)
        try:
            ctx.execute([x], [y])
        except tf.InvalidArgumentError as e:
            assert "already running" in str(e)
            return None
        return y

    got, errors = run_threads(call, inputs, threads=4)
    assert not errors, errors[:3]
    ran = [(y, e) for y, e in zip(got, expected) if y is not None]
    assert ran and all(torch.equal(y, e) for y, e in ran)


def test_tensor_handles_outlive_their_network():
    def make():
        net = tf.Network()
        return net.add_input("x", torch.float32, (2, 3))

    t = make()
    gc.collect()
    assert t.name == "x" and t.shape == [2, 3] and t.dtype == tf.DataType.float32

    def make_layer():
        net = tf.Network()
        x = net.add_input("x", torch.float32, (2, 3))
        return net.add_activation(x, "relu"), net.inputs

    y, ins = make_layer()
    gc.collect()
    assert y.shape == [2, 3] and [i.name for i in ins] == ["x"]


def test_engine_info_outlives_the_engine():
    infos = tf.Builder().build(conv_network()).io_tensors
    gc.collect()
    assert [i.name for i in infos] == ["x", "features"]


# ---- engine files ----------------------------------------------------------------------------


def named_network(name):
    net = tf.Network()
    x = net.add_input(name, torch.float32, (2, 3))
    net.mark_output(net.add_activation(x, "relu", name="layer_" + name), "out")
    return net


@pytest.mark.parametrize("where", ["tensor", "layer kind", "tactic"])
def test_non_utf8_strings_in_files_are_corrupt_file_errors(where):
    data = tf.Builder().build(named_network("inputname")).serialize()
    body = bytearray(data[:-8])
    needle = {"tensor": b"inputname", "layer kind": b"activation", "tactic": b"cpu.activation"}[where]
    at = body.find(needle) if where != "layer kind" else body.find(b"\x0a\x00\x00\x00activation") + 4
    assert at > 0
    body[at:at + 3] = b"\xff\xfe\x80"
    with pytest.raises(tf.CorruptFileError, match=r"not valid UTF-8: '\\xff\\xfe\\x80"):
        tf.Engine.deserialize(with_checksum(bytes(body)))


def test_load_of_a_directory_and_of_a_device(tmp_path):
    with pytest.raises(tf.InvalidArgumentError, match="is a directory"):
        tf.Engine.load(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(tf.InvalidArgumentError, match="not a regular file"):
            tf.Engine.load("/dev/zero")  # refused before reading: it never ends
    with pytest.raises(tf.InvalidArgumentError, match="No such file"):
        tf.Engine.load(tmp_path / "missing.tfengine")
    with pytest.raises(tf.InvalidArgumentError, match="is a directory"):
        tf.Builder().build(conv_network()).save(tmp_path)


def test_paths_with_nul_bytes_are_refused(tmp_path):
    engine = tf.Builder().build(conv_network())
    engine.save(tmp_path / "e")
    with pytest.raises(tf.InvalidArgumentError, match="NUL byte"):
        tf.Engine.load(str(tmp_path / "e") + "\0.tfengine")  # would have loaded the file "e"
    with pytest.raises(tf.InvalidArgumentError, match="NUL byte"):
        engine.save(str(tmp_path / "f") + "\0.tfengine")
    assert not (tmp_path / "f").exists()


def test_bytes_and_undecodable_paths(tmp_path):
    engine = tf.Builder().build(conv_network())
    raw = os.fsencode(tmp_path) + b"/caf\xe9.tfengine"  # not UTF-8: Latin-1 bytes of a name
    engine.save(raw)
    assert tf.Engine.load(raw).network_text() == engine.network_text()
    with pytest.raises(tf.CorruptFileError, match=r"caf\\xe9\.tfengine"):
        open(raw, "wb").write(b"TFENGINE garbage")
        tf.Engine.load(raw)
    with pytest.raises(tf.InvalidArgumentError, match="str, bytes or os.PathLike"):
        tf.Engine.load(42)


# ---- tensorforge-exec ------------------------------------------------------------------------


def exec_tool():
    tool = pathlib.Path(tf.__file__).parent / "bin" / "tensorforge-exec"
    if not tool.exists():
        pytest.skip("tensorforge-exec is not installed next to this package (TENSORFORGE_BUILD_TOOLS=OFF)")
    return str(tool)


def test_exec_tool_on_a_directory_and_bad_numbers(tmp_path):
    tool = exec_tool()
    r = subprocess.run([tool, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and "is a directory" in r.stderr, r
    path = tmp_path / "e.tfengine"
    tf.Builder().build(conv_network()).save(path)
    for bad in ["abc", "-1", "3x", "", "99999999999999"]:
        r = subprocess.run([tool, str(path), "--iterations", bad], capture_output=True, text=True)
        assert r.returncode == 2 and "--iterations takes a whole number" in r.stderr, (bad, r)
    r = subprocess.run([tool, str(path), "--warmup"], capture_output=True, text=True)
    assert r.returncode == 2 and "needs a value" in r.stderr
    r = subprocess.run([tool, str(path), "--iterations", "0"], capture_output=True, text=True)
    assert r.returncode == 0 and "over 0 calls" in r.stdout


def test_exec_tool_on_an_engine_too_large_to_run(tmp_path):
    """Builds fine (nothing is allocated at build), but no machine holds its 16 TiB arena."""
    net = tf.Network()
    big = net.add_fill((1 << 42,), 1.0, "float32")
    net.mark_output(net.add_reduce(big, "sum"), "total")
    path = tmp_path / "huge.tfengine"
    tf.Builder().build(net).save(path)
    r = subprocess.run([exec_tool(), str(path)], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot allocate" in r.stderr, r


# ---- overflow and attribute ranges ------------------------------------------------------------


def test_deconvolution_size_overflow_is_an_inference_error():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (0, 1, 1 << 40))  # empty, so the huge extent is allowed
    with pytest.raises(tf.InvalidNetworkError, match="overflows 64-bit integer arithmetic"):
        net.add_deconvolution(x, np.ones((1, 1, 1), np.float32), stride=(1 << 30,), dilation=(1 << 30,))


@pytest.mark.parametrize("scale", [1e300, 1e-300, float("nan"), -1.0, 2.0**31])
def test_resize_scales_out_of_range_are_refused(scale):
    net = tf.Network()
    x = net.add_input("x", torch.float32, (1, 1, 4, 4))
    with pytest.raises(tf.InvalidNetworkError, match=r"scales must be input/output ratios in \[2\^-30, 2\^30\]"):
        net.add_resize(x, (8, 8), scales=(scale, 0.5))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**200, [1, 2**64], [1.5, 10**400]])
def test_attribute_numbers_beyond_64_bits_are_invalid_arguments(value):
    net = tf.Network()
    x = net.add_input("x", torch.float32, (2, 3))
    with pytest.raises(tf.InvalidArgumentError, match="attribute 'axis'"):
        net.add_layer("softmax", [x], {"axis": value})


def test_layers_with_empty_outputs_do_no_work():
    """An empty tensor with huge leading extents (3 * 2^40 rows of nothing): found by the network
    fuzzer as a hang, since the cumsum kernel looped over every empty row. Run in a child process so
    that a regression fails by its time limit instead of hanging the suite."""
    code = """
import numpy as np, tensorforge as tf
net = tf.Network()
x = net.add_input("x", "int8", (0, 2, 0, 5))
big = net.add_reshape(x, (1, 1 << 20, 3, 1 << 20, 1, 1, 1, 0))
net.mark_output(net.add_cumsum(big, axis=7), "y")
(y,) = tf.Builder().build(net)(np.zeros((0, 2, 0, 5), np.int8))
print(y.shape)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "(1, 1048576, 3, 1048576, 1, 1, 1, 0)" in r.stdout, r.stderr[-2000:]


# ---- smaller mismatches with eager ----------------------------------------------------------

SPECIAL = [float("nan"), float("inf"), -float("inf"), 300.0, -300.0, 3e9, -3e9, 1e20, -1e20, 2.5, -2.5,
           255.9, 128.5, -129.0, 65543.0, 0.0, -0.0]


@pytest.mark.parametrize("src", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("dst", [torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool])
def test_float_to_int_casts_match_eager_on_special_values(src, dst):
    x = torch.tensor(SPECIAL).to(src)
    net = tf.Network()
    t = net.add_input("x", src, x.shape)
    net.mark_output(net.add_cast(t, dst), "y")
    (y,) = tf.Builder().build(net)(x)
    assert y.tolist() == x.to(dst).tolist()


def test_read_only_numpy_arrays_are_accepted():
    w = np.full((3,), 2.0, np.float32)
    w.setflags(write=False)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    x.setflags(write=False)
    net = tf.Network()
    t = net.add_input("x", np.float32, (2, 3))
    net.mark_output(net.add_elementwise(t, w, "mul"), "y")
    (y,) = tf.Builder().build(net)(x)
    np.testing.assert_array_equal(y, x * 2)


def test_wrong_argument_types_are_invalid_argument_errors():
    net = tf.Network()
    with pytest.raises(tf.InvalidArgumentError, match="shape must be a sequence of integers"):
        net.add_input("x", torch.float32, (2.5, 3))
    with pytest.raises(tf.InvalidArgumentError):
        net.add_input(7, torch.float32, (2, 3))
    x = net.add_input("x", torch.float32, (2, 3))
    with pytest.raises(tf.InvalidArgumentError):
        net.add_layer("activation", ["not a tensor"], {"op": "relu"})
    with pytest.raises(tf.InvalidArgumentError):
        tf.Builder().build("not a network")
    with pytest.raises(tf.InvalidArgumentError, match="optimization_level must be an int"):
        tf.Builder(tf.BuilderConfig(optimization_level="3"))
    with pytest.raises(tf.InvalidArgumentError):
        tf.Engine.deserialize(3.5)
    assert x.name == "x"


def test_unknown_torch_executed_ops_are_refused():
    from tensorforge.dynamo.settings import CompilationSettings

    with pytest.raises(tf.InvalidArgumentError, match=r"no operator 'aten.subb.Tensor'; did you mean 'aten.sub.Tensor'"):
        CompilationSettings.from_options({"torch_executed_ops": {"torch.ops.aten.subb.Tensor"}})
    with pytest.raises(tf.InvalidArgumentError, match="no operator 'aten.add.Tensr'"):
        CompilationSettings.from_options({"torch_executed_ops": {"aten.add.Tensr"}})
    ok = CompilationSettings.from_options({"torch_executed_ops": {"aten.add", "torch.ops.aten.relu.default"}})
    assert ok.torch_executed_ops == {"aten.add", "aten.relu.default"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a PyTorch that sees no GPU")
def test_cuda_device_option_without_a_gpu():
    with pytest.raises(torch._dynamo.exc.BackendCompilerFailed, match="sees no CUDA GPU") as info:
        compile_model(torch.nn.ReLU(), {"device": "cuda"})(torch.randn(3))
    assert isinstance(info.value.inner_exception, tf.UnsupportedError)


def test_dryrun_path_in_a_missing_folder_fails_before_compiling(tmp_path):
    from tensorforge.dynamo.settings import CompilationSettings

    with pytest.raises(tf.InvalidArgumentError, match="existing folder"):
        CompilationSettings.from_options({"dryrun": str(tmp_path / "missing" / "report.json")})
    assert CompilationSettings.from_options({"dryrun": str(tmp_path / "report.json")}).dry_run


def test_compiled_models_and_engines_are_freed_after_reset():
    """Nothing process-wide keeps a compiled model (and its engines) alive once dynamo lets go."""
    from tensorforge.dynamo import COMPILED, REPORTS, engine_modules

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU())
    compiled = compile_model(model, {"min_block_size": 1})
    compiled(torch.randn(2, 8))
    (module,) = engine_modules()
    engine_ref = weakref.ref(module.engine)
    del compiled, module
    torch._dynamo.reset()
    gc.collect()
    assert engine_ref() is None, gc.get_referrers(engine_ref())
    assert COMPILED[-1]() is None
    assert REPORTS.maxlen is not None  # the report log is bounded
