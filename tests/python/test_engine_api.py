"""The Python engine API: building, running on torch/NumPy/DLPack inputs, input checking, the
builder configuration, serialization, engine files (including corrupt ones) and running a saved
engine from C++ alone with tensorforge-exec."""

import os
import pathlib
import subprocess

import numpy as np
import pytest
import torch

import tensorforge as tf


def small_network(shape=(2, 3)):
    net = tf.Network()
    x = net.add_input("x", torch.float32, shape)
    y = net.add_activation(net.add_elementwise(x, np.full(shape[-1:], 2.0, np.float32), "mul"), "relu")
    net.mark_output(y, "y")
    net.mark_output(net.add_cast(y, torch.float16), "y_half")
    return net


def test_run_on_torch_numpy_and_dict():
    engine = tf.Builder().build(small_network())
    x = torch.randn(2, 3)
    y, yh = engine(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and yh.dtype == torch.float16
    torch.testing.assert_close(y, torch.relu(2 * x))
    (yn, _) = engine(x.numpy())
    assert isinstance(yn, np.ndarray)
    np.testing.assert_allclose(yn, torch.relu(2 * x).numpy())
    (yd, _) = engine.run({"x": x})
    torch.testing.assert_close(yd, y)
    assert engine.input_names == ["x"] and engine.output_names == ["y", "y_half"]


def test_non_contiguous_input_is_made_contiguous():
    engine = tf.Builder().build(small_network((3, 2)))
    x = torch.randn(2, 3).t()  # a transposed view
    (y, _) = engine(x)
    torch.testing.assert_close(y, torch.relu(2 * x))


def test_input_errors_are_clear():
    engine = tf.Builder().build(small_network())
    with pytest.raises(tf.InvalidArgumentError, match=r"input 'x' expects float32\[2,3\], got float32\[3,3\]"):
        engine(torch.randn(3, 3))
    with pytest.raises(tf.InvalidArgumentError, match=r"expects float32\[2,3\], got float16\[2,3\]"):
        engine(torch.randn(2, 3).half())
    with pytest.raises(ValueError, match="takes 1 inputs"):
        engine(torch.randn(2, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match="missing"):
        engine.run({"z": torch.randn(2, 3)})


def test_execution_context_writes_caller_buffers():
    engine = tf.Builder().build(small_network())
    ctx = engine.create_execution_context()
    x = torch.randn(2, 3)
    y, yh = torch.empty(2, 3), torch.empty(2, 3, dtype=torch.float16)
    ctx.execute([x], [y, yh])
    torch.testing.assert_close(y, torch.relu(2 * x))
    with pytest.raises(tf.InvalidArgumentError, match="output 'y_half'"):
        ctx.execute([x], [y, torch.empty(2, 3)])


def test_execution_by_addresses_counts_its_buffers():
    # The torch.compile runtime's unchecked call (EngineModule checks dtypes, shapes and devices
    # itself): raw addresses in, the same results as the checked call; only the counts are checked.
    engine = tf.Builder().build(small_network())
    ctx = engine._engine.create_execution_context()
    x = torch.randn(2, 3)
    y, yh = torch.empty(2, 3), torch.empty(2, 3, dtype=torch.float16)
    ctx.execute_addresses([x.data_ptr()], [y.data_ptr(), yh.data_ptr()])
    torch.testing.assert_close(y, torch.relu(2 * x))
    torch.testing.assert_close(yh, torch.relu(2 * x).half())
    with pytest.raises(tf.InvalidArgumentError, match="takes 1 inputs and 2 outputs, got 1 and 1"):
        ctx.execute_addresses([x.data_ptr()], [y.data_ptr()])


def test_builder_config():
    assert tf.Builder(tf.BuilderConfig(optimization_level=0)).build(small_network()).optimization_level == 0
    with pytest.raises(tf.InvalidArgumentError, match="optimization_level must be in 0..5"):
        tf.Builder(tf.BuilderConfig(optimization_level=7))
    with pytest.raises(ValueError, match="device must be"):
        tf.Builder(tf.BuilderConfig(device="tpu"))
    with pytest.raises(tf.InvalidArgumentError, match="timing_iterations must be in 0..1000"):
        tf.Builder(tf.BuilderConfig(timing_iterations=-1))
    with pytest.raises(tf.InvalidArgumentError, match="timing_iterations must be an int"):
        tf.Builder(tf.BuilderConfig(timing_iterations="5"))
    with pytest.raises(tf.InvalidArgumentError, match="timing_cache_dir must be a folder path"):
        tf.Builder(tf.BuilderConfig(timing_cache_dir=3))
    config = tf.BuilderConfig(timing_iterations=7, timing_cache_dir="/some/folder")
    assert config._to_c().timing_iterations == 7 and config._to_c().timing_cache_dir == "/some/folder"
    assert tf.BuilderConfig()._to_c().build_threads == (int(os.environ.get("TENSORFORGE_BUILD_THREADS", "0")))


def test_build_threads_from_the_environment(monkeypatch):
    monkeypatch.delenv("TENSORFORGE_BUILD_THREADS", raising=False)
    assert tf.BuilderConfig().build_threads == 0  # helper threads by default
    monkeypatch.setenv("TENSORFORGE_BUILD_THREADS", "1")
    assert tf.BuilderConfig().build_threads == 1 and tf.BuilderConfig(build_threads=3).build_threads == 3
    assert tf.Builder(tf.BuilderConfig()).build(small_network()).optimization_level == 3
    monkeypatch.setenv("TENSORFORGE_BUILD_THREADS", "many")
    with pytest.raises(tf.InvalidArgumentError, match="TENSORFORGE_BUILD_THREADS must be an int, got 'many'"):
        tf.BuilderConfig()
    monkeypatch.setenv("TENSORFORGE_BUILD_THREADS", "-2")
    with pytest.raises(tf.InvalidArgumentError, match="build_threads"):
        tf.Builder(tf.BuilderConfig())


def test_builder_config_device():
    if tf._C.cuda_device_count() == 0:
        with pytest.raises(tf.UnsupportedError, match="cuda"):
            tf.Builder(tf.BuilderConfig(device="cuda")).build(small_network())
    else:  # with a GPU, the same request builds a CUDA engine
        assert tf.Builder(tf.BuilderConfig(device="cuda")).build(small_network()).device == "cuda"


def test_disabled_tactics():
    """A disabled kernel is never picked: with the CPU's only matmul kernel for a product of two
    inputs disabled the layer has no kernel (a typed error naming it); unknown names and a bare
    string are rejected up front."""
    net = tf.Network()
    x = net.add_input("x", "float32", (2, 3))
    net.mark_output(net.add_matmul(x, net.add_input("w", "float32", (3, 4))), "y")
    engine = tf.Builder(tf.BuilderConfig(disabled_tactics=["cpu.softmax"])).build(net)
    assert "cpu.matmul.sgemm" in engine.inspect()
    with pytest.raises(tf.UnsupportedError, match="no kernel supports this layer"):
        tf.Builder(tf.BuilderConfig(disabled_tactics=["cpu.matmul.sgemm"])).build(net)
    with pytest.raises(tf.InvalidArgumentError, match="'cpu.nope', which is no kernel"):
        tf.Builder(tf.BuilderConfig(disabled_tactics=["cpu.nope"]))
    with pytest.raises(tf.InvalidArgumentError, match="list of kernel names"):
        tf.Builder(tf.BuilderConfig(disabled_tactics="cpu.softmax"))


def test_bfloat16_outputs_come_back_as_torch():
    net = tf.Network()
    x = net.add_input("x", "float32", (4,))
    net.mark_output(net.add_cast(x, torch.bfloat16), "y")
    (y,) = tf.Builder().build(net)(np.arange(4, dtype=np.float32))
    assert y.dtype == torch.bfloat16
    assert y.tolist() == [0, 1, 2, 3]


def test_serialize_round_trip_and_files(tmp_path):
    engine = tf.Builder().build(small_network())
    data = engine.serialize()
    again = tf.Engine.deserialize(data)
    assert again.network_text() == engine.network_text()
    # A uint8 array is read in place; a strided one (not one buffer) is copied into bytes first.
    for array in (np.frombuffer(data, dtype=np.uint8), np.repeat(np.frombuffer(data, dtype=np.uint8), 2)[::2]):
        assert tf.Engine.deserialize(array).network_text() == engine.network_text()
    assert again.inspect() == engine.inspect()
    x = torch.randn(2, 3)
    torch.testing.assert_close(again(x)[0], engine(x)[0])
    path = tmp_path / "e.tfengine"
    engine.save(path)
    assert path.read_bytes() == data
    torch.testing.assert_close(tf.Engine.load(path)(x)[0], engine(x)[0])


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "empty"])
def test_corrupt_engines_raise(tmp_path, damage):
    data = bytearray(tf.Builder().build(small_network()).serialize())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "foreign":
        data[:8] = b"PK\x03\x04xxxx"
    else:
        data = b""
    with pytest.raises(tf.CorruptFileError):
        tf.Engine.deserialize(bytes(data))
    with pytest.raises(tf.CorruptFileError):  # the same bytes read in place from an array
        tf.Engine.deserialize(np.frombuffer(bytes(data), dtype=np.uint8))
    path = tmp_path / "bad.tfengine"
    path.write_bytes(bytes(data))
    with pytest.raises(tf.CorruptFileError, match="bad.tfengine"):
        tf.Engine.load(path)


def test_network_text_and_errors():
    net = small_network()
    text = str(net)
    assert text.startswith("input %x: float32[2,3]\n")
    assert 'activation "activation" (%elementwise) {alpha=0, beta=0, op="relu"}' in text
    assert text.rstrip().endswith("output %y_half")
    with pytest.raises(tf.InvalidArgumentError, match="no tensor named 'nope'"):
        net.tensor("nope")
    with pytest.raises(tf.InvalidArgumentError, match="unknown layer kind 'conv'"):
        net.add_layer("conv", [net.tensor("x")])
    empty = tf.Network()
    empty.add_input("x", "float32", (1,))
    with pytest.raises(tf.InvalidNetworkError, match="no outputs"):
        tf.Builder().build(empty)


def _exec_tool():
    candidates = [pathlib.Path(tf.__file__).parent / "bin" / "tensorforge-exec"]
    for c in candidates:
        if c.exists():
            return c
    return None


def test_saved_engine_runs_from_cpp_alone(tmp_path):
    tool = _exec_tool()
    if tool is None:
        pytest.skip("tensorforge-exec is not installed next to this package (TENSORFORGE_BUILD_TOOLS=OFF)")
    path = tmp_path / "e.tfengine"
    tf.Builder().build(small_network()).save(path)
    out = subprocess.run([str(tool), str(path), "--iterations", "3", "--inspect"], capture_output=True, text=True,
                         check=True).stdout
    assert "output y: float32[2,3]" in out and "output y_half: float16[2,3]" in out
    assert "ms per call over 3 calls (cpu)" in out
    (tmp_path / "bad.tfengine").write_bytes(b"TFENGINE" + os.urandom(64))
    bad = subprocess.run([str(tool), str(tmp_path / "bad.tfengine")], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "checksum" in bad.stderr or "corrupt" in bad.stderr.lower(), bad.stderr


def test_profile_reports_every_working_layer():
    engine = tf.Builder().build(small_network())
    rows = engine.profile(torch.randn(2, 3), runs=3)
    assert sorted(r["kind"] for r in rows) == ["activation", "cast", "elementwise"]
    assert all(r["ms"] >= 0 for r in rows) and rows == sorted(rows, key=lambda r: -r["ms"])
    assert {r["tactic"] for r in rows} == {"cpu.activation", "cpu.cast", "cpu.elementwise"}


def test_exec_tool_loads_inputs_saves_outputs_and_exports_json(tmp_path):
    """tensorforge-exec with .npy inputs writes the outputs the Python API computes, reports
    latency percentiles, exports the profile and the layer list as JSON, and refuses bad arguments
    (usage, status 2) and inputs of another shape or dtype (status 1, naming the file)."""
    import json

    tool = _exec_tool()
    if tool is None:
        pytest.skip("tensorforge-exec is not installed next to this package (TENSORFORGE_BUILD_TOOLS=OFF)")
    engine = tf.Builder().build(small_network())
    path = tmp_path / "e.tfengine"
    engine.save(path)
    ins, outs = tmp_path / "in", tmp_path / "out"
    ins.mkdir()
    outs.mkdir()
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.save(ins / "x.npy", x)
    r = subprocess.run([str(tool), str(path), "--load-inputs", str(ins), "--save-outputs", str(outs), "--iterations",
                        "4", "--warmup", "1", "--export-profile", str(tmp_path / "p.json"), "--export-layer-info",
                        str(tmp_path / "l.json"), "--no-cuda-graph"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "ms per call over 4 calls (cpu)" in r.stdout and "latency ms: mean" in r.stdout and "p99" in r.stdout
    want = [torch.as_tensor(np.asarray(o)) for o in engine(torch.from_numpy(x))]
    for name, w in zip(("y", "y_half"), want):
        got = torch.from_numpy(np.load(outs / f"{name}.npy"))
        assert got.dtype == w.dtype and torch.equal(got, w), name
    profile = json.loads((tmp_path / "p.json").read_text())
    layers = json.loads((tmp_path / "l.json").read_text())["layers"]
    assert profile["runs"] == 4 and len(profile["layer_ms"]) == len(layers) == len(profile["engine"]["layers"])
    assert all(ms >= 0 for ms in profile["layer_ms"])

    for args in (["--iterations", "-1"], ["--frob"], ["--duration", "soon"], ["--load-inputs"]):
        bad = subprocess.run([str(tool), str(path)] + args, capture_output=True, text=True)
        assert bad.returncode == 2 and "usage:" in bad.stderr, (args, bad.stderr)
    np.save(ins / "x.npy", x.T.copy())
    bad = subprocess.run([str(tool), str(path), "--load-inputs", str(ins)], capture_output=True, text=True)
    assert bad.returncode == 1 and "x.npy" in bad.stderr and "shape (3, 2)" in bad.stderr, bad.stderr
    np.save(ins / "x.npy", x.astype(np.float64))
    bad = subprocess.run([str(tool), str(path), "--load-inputs", str(ins)], capture_output=True, text=True)
    assert bad.returncode == 1 and "<f8" in bad.stderr, bad.stderr
    (ins / "x.npy").write_bytes(b"\x93NUMPY\x01\x00\xff\xff{'descr'")
    bad = subprocess.run([str(tool), str(path), "--load-inputs", str(ins)], capture_output=True, text=True)
    assert bad.returncode == 1 and "truncated" in bad.stderr, bad.stderr


@pytest.mark.cuda
def test_exec_tool_runs_a_cuda_engine_in_device_buffers(tmp_path):
    """A CUDA engine run by tensorforge-exec (inputs uploaded to device buffers, every call waited
    for, with and without CUDA graphs) writes the outputs the Python API computes."""
    tool = _exec_tool()
    if tool is None:
        pytest.skip("tensorforge-exec is not installed next to this package (TENSORFORGE_BUILD_TOOLS=OFF)")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(small_network((64, 48)))
    path = tmp_path / "e.tfengine"
    engine.save(path)
    ins = tmp_path / "in"
    ins.mkdir()
    x = np.random.default_rng(1).standard_normal((64, 48)).astype(np.float32)
    np.save(ins / "x.npy", x)
    want = [o.cpu() for o in engine(torch.from_numpy(x).cuda())]
    for graphs in ("--use-cuda-graph", "--no-cuda-graph"):
        outs = tmp_path / graphs
        outs.mkdir()
        r = subprocess.run([str(tool), str(path), "--load-inputs", str(ins), "--save-outputs", str(outs),
                            "--iterations", "5", graphs], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "ms per call over 5 calls (cuda)" in r.stdout, r.stdout
        for name, w in zip(("y", "y_half"), want):
            assert torch.equal(torch.from_numpy(np.load(outs / f"{name}.npy")), w), (graphs, name)
