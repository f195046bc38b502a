"""The CUDA runtime around the kernels: CUDA-graph capture and replay (same and new addresses,
turned off), the caller's stream, engine files recording the GPU architecture and library
versions, and the clear error when a file was built for another architecture."""

import pathlib
import struct
import sys

import pytest
import torch

import tensorforge as tf

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools" / "fuzz"))
from engine_format import with_checksum  # noqa: E402 - the fuzzer's copy of the file checksum

pytestmark = pytest.mark.cuda


def small_net():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (64, 33))
    y = net.add_elementwise(net.add_unary(x, "exp"), x, "mul")
    net.mark_output(net.add_softmax(y, axis=1), "y")
    return net


def reference(x):
    return torch.softmax(torch.exp(x) * x, dim=1)


def build(net):
    return tf.Builder(tf.BuilderConfig(device="cuda")).build(net)


def test_graph_replays_at_the_same_and_at_new_addresses():
    engine = build(small_net())
    ctx = tf.ExecutionContext(engine)
    x = torch.randn(64, 33, device="cuda")
    out = torch.full((64, 33), float("nan"), device="cuda")
    ctx.execute([x], [out])  # runs the kernels, then captures
    assert ctx.cuda_graph_replays == 0
    torch.testing.assert_close(out, reference(x))
    for _ in range(3):  # same addresses, new values: the direct graph
        x.copy_(torch.randn(64, 33, device="cuda"))
        out.fill_(float("nan"))
        ctx.execute([x], [out])
        torch.testing.assert_close(out, reference(x))
    assert ctx.cuda_graph_replays == 3
    for _ in range(3):  # new buffers every call: the staged graph
        x2 = torch.randn(64, 33, device="cuda")
        out2 = torch.full((64, 33), float("nan"), device="cuda")
        ctx.execute([x2], [out2])
        torch.testing.assert_close(out2, reference(x2))
    assert ctx.cuda_graph_replays == 6


def test_addresses_that_come_back_get_a_direct_graph():
    engine = build(small_net())
    ctx = tf.ExecutionContext(engine)
    xs = [torch.randn(64, 33, device="cuda") for _ in range(6)]
    outs = [torch.empty(64, 33, device="cuda") for _ in range(6)]
    for call in range(24):  # 6 address sets in turn: more than the 4 direct graphs a context keeps
        i = call % 6 if call < 12 else call % 2
        xs[i].copy_(torch.randn(64, 33, device="cuda"))
        outs[i].fill_(float("nan"))
        ctx.execute([xs[i]], [outs[i]])
        torch.testing.assert_close(outs[i], reference(xs[i]), msg=f"call {call}")
        if call == 5:
            assert ctx.direct_graphs == 1  # the first set's; the other five came once
    assert ctx.direct_graphs == 4  # the second round gave each set a graph, the oldest replaced
    assert ctx.cuda_graph_replays == 23


def test_graphs_off_runs_the_kernels_each_call():
    engine = build(small_net())
    ctx = tf.ExecutionContext(engine)
    ctx.set_cuda_graphs(False)
    x = torch.randn(64, 33, device="cuda")
    for _ in range(2):
        out = torch.empty(64, 33, device="cuda")
        ctx.execute([x], [out])
        torch.testing.assert_close(out, reference(x))
    assert ctx.cuda_graph_replays == 0


def test_runs_on_the_callers_stream():
    engine = build(small_net())
    ctx = tf.ExecutionContext(engine)
    side = torch.cuda.Stream()
    x = torch.randn(64, 33, device="cuda")
    with torch.cuda.stream(side):
        for _ in range(3):
            # Work queued before on the same stream is seen; nothing else orders the engine after it.
            y = x * 2
            out = torch.empty(64, 33, device="cuda")
            ctx.execute([y], [out])
            got = out.clone()
    side.synchronize()
    torch.testing.assert_close(got, reference(x * 2))


def test_engine_file_records_architecture_and_libraries(tmp_path):
    engine = build(small_net())
    major, minor = torch.cuda.get_device_capability()
    assert engine.compute_capability == major * 10 + minor
    libs = engine.library_versions
    assert {"cuBLASLt", "cuDNN", "NVRTC", "CUDA runtime"} <= set(libs)
    assert libs["cuDNN"].isdigit() and int(libs["cuDNN"]) >= 90000
    path = tmp_path / "e.tfengine"
    engine.save(str(path))
    loaded = tf.Engine.load(str(path))
    assert loaded.compute_capability == engine.compute_capability
    assert loaded.library_versions == libs
    x = torch.randn(64, 33, device="cuda")
    torch.testing.assert_close(loaded(x)[0], reference(x))


def test_engine_file_for_another_architecture_is_refused():
    data = bytearray(build(small_net()).serialize())
    producer_len = struct.unpack_from("<I", data, 12)[0]
    cc_at = 12 + 4 + producer_len + 1
    here = struct.unpack_from("<I", data, cc_at)[0]
    struct.pack_into("<I", data, cc_at, 80 if here != 80 else 90)
    data = bytearray(with_checksum(bytes(data[:-8])))
    with pytest.raises(tf.UnsupportedError, match=r"compute capability .* rebuild the engine on this GPU"):
        tf.Engine.deserialize(bytes(data))
