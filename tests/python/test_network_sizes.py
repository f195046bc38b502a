"""Named sizes in the network API (docs/dynamic_shapes.md): a network declared once with a dynamic
batch and sequence length prints its sizes, specializes to static networks that build and match
PyTorch at several shapes, and every misuse gets a clear, typed error; Builder.build refuses the
unspecialized network and says what to do; build_dynamic's DynamicEngine builds a plan per shape
on its first call (counted), keeps the most recently used, and serves several threads."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import tensorforge as tf


def dynamic_net():
    net = tf.Network()
    net.add_size("batch", 1, 4, 16)
    net.add_size("seq", 2, 8, 64)
    x = net.add_dynamic_input("x", torch.float32, ["batch", "seq", 8])
    w = np.arange(8 * 5, dtype=np.float32).reshape(8, 5) / 40
    y = net.add_softmax(net.add_matmul(x, w), -1)
    net.mark_output(net.add_reshape(y, [-1, 5]), "y")
    return net, torch.from_numpy(w)


def test_text_shows_the_sizes():
    net, _ = dynamic_net()
    text = net.to_text()
    assert text.startswith("size batch: min 1, opt 4, max 16\nsize seq: min 2, opt 8, max 64\n"), text
    assert "input %x: float32[batch,seq,8]" in text
    assert "float32[32,5]" in text  # the reshape's output at the opt values (4 * 8 rows)


@pytest.mark.parametrize("batch,seq", [(1, 2), (3, 7), (16, 64)])
def test_specializations_build_and_match_torch(batch, seq):
    net, w = dynamic_net()
    engine = tf.Builder().build(net.specialize({"batch": batch, "seq": seq}))
    x = torch.randn(batch, seq, 8)
    (y,) = engine(x)
    torch.testing.assert_close(y, torch.softmax(x @ w, -1).reshape(-1, 5))


def test_builder_refuses_the_network_with_sizes():
    net, _ = dynamic_net()
    with pytest.raises(tf.UnsupportedError, match=r"named sizes \(batch, seq\).*network.specialize"):
        tf.Builder().build(net)


def test_misuse_is_a_clear_error():
    net, _ = dynamic_net()
    with pytest.raises(tf.InvalidArgumentError, match=r"outside size batch \(1..16\)"):
        net.specialize({"batch": 17, "seq": 8})
    with pytest.raises(tf.InvalidArgumentError, match="no value for size seq"):
        net.specialize({"batch": 2})
    other = tf.Network()
    with pytest.raises(tf.InvalidArgumentError, match=r"needs 0 <= min <= opt <= max, got min 4, opt 2, max 8"):
        other.add_size("n", 4, 2, 8)
    with pytest.raises(tf.InvalidArgumentError, match="not a symbol name"):
        other.add_size("max", 1, 2, 8)
    other.add_size("n", 1, 2, 8)
    with pytest.raises(tf.InvalidArgumentError, match="the size already exists"):
        other.add_size("n", 1, 2, 8)
    with pytest.raises(tf.InvalidArgumentError, match="dim 1 is 'm', neither an extent nor a size"):
        other.add_dynamic_input("z", torch.float32, ["n", "m"])
    with pytest.raises(tf.InvalidArgumentError, match="dim 0 is '-3'"):
        other.add_dynamic_input("z", torch.float32, [-3, "n"])
    # A layer that fits only the opt shape: specializing elsewhere names the values and the layer.
    fixed = tf.Network()
    fixed.add_size("b", 1, 2, 4)
    x = fixed.add_dynamic_input("x", torch.float32, ["b", 3])
    fixed.mark_output(fixed.add_reshape(x, [2, 3]), "y")
    with pytest.raises(tf.InvalidNetworkError, match=r"at sizes b=3: .*reshape"):
        fixed.specialize({"b": 3})


def test_dynamic_engine_builds_a_plan_per_shape():
    net, w = dynamic_net()
    engine = tf.Builder().build_dynamic(net, max_plans=2)
    assert engine.sizes == {"batch": (1, 4, 16), "seq": (2, 8, 64)}
    assert engine.plans_built == 1  # the opt plan, at build
    for batch, seq in [(4, 8), (3, 7), (3, 7), (16, 64)]:
        x = torch.randn(batch, seq, 8)
        (y,) = engine(x)
        torch.testing.assert_close(y, torch.softmax(x @ w, -1).reshape(-1, 5))
    assert engine.plans_built == 3  # opt's plan reused, (3, 7) built once, (16, 64) once
    engine(torch.randn(4, 8, 8))  # two plans kept: opt's was the least recently used
    assert engine.plans_built == 4
    with pytest.raises(tf.InvalidArgumentError, match=r"input 'x' dim 0 is 17, outside size batch \(1..16\)"):
        engine(torch.randn(17, 8, 8))
    with pytest.raises(tf.InvalidArgumentError, match=r"input 'x' dim 2 is 9, the network's is 8"):
        engine(torch.randn(2, 8, 9))


def test_dynamic_engine_from_several_threads():
    net, w = dynamic_net()
    engine = tf.Builder().build_dynamic(net)
    shapes = [(b, s) for b in (1, 2, 5) for s in (2, 9)]

    def work(i):
        for k in range(len(shapes)):
            b, s = shapes[(i + k) % len(shapes)]
            x = torch.randn(b, s, 8)
            (y,) = engine(x)
            torch.testing.assert_close(y, torch.softmax(x @ w, -1).reshape(-1, 5))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert len(shapes) + 1 <= engine.plans_built  # each new shape built at least once (twice if two raced)


def test_build_dynamic_checks_the_range_at_build():
    fixed = tf.Network()
    fixed.add_size("b", 1, 2, 4)
    x = fixed.add_dynamic_input("x", torch.float32, ["b", 3])
    fixed.mark_output(fixed.add_reshape(x, [2, 3]), "y")
    with pytest.raises(tf.InvalidNetworkError, match=r"at sizes b=1: .*reshape"):
        tf.Builder().build_dynamic(fixed)
    with pytest.raises(tf.InvalidArgumentError, match="max_plans must be in 1..1024"):
        tf.Builder().build_dynamic(dynamic_net()[0], max_plans=0)


def test_attributes_written_with_sizes():
    net = tf.Network()
    net.add_size("batch", 1, 4, 16)
    x = net.add_dynamic_input("x", torch.float32, ["batch", 6])
    (r,) = net.add_layer("reshape", [x], {}, "r", sizes={"shape": ["batch*2", 3]})
    assert r.shape == [8, 3]  # at opt
    net.mark_output(net.add_softmax(r, -1), "y")
    assert "{shape=[batch*2, 3]}" in net.to_text()
    engine = tf.Builder().build_dynamic(net)
    for batch in (1, 5, 16):
        data = torch.randn(batch, 6)
        (y,) = engine(data)
        torch.testing.assert_close(y, torch.softmax(data.reshape(batch * 2, 3), -1))
    with pytest.raises(tf.InvalidArgumentError, match=r"add_sized_layer\(reshape 'q'\) attribute shape: no size named"):
        net.add_layer("reshape", [x], {}, "q", sizes={"shape": ["n*2", 3]})
    with pytest.raises(tf.InvalidArgumentError, match="expected an operator or the end"):
        net.add_layer("reshape", [x], {}, "q", sizes={"shape": ["batch**2", 3]})


def test_dynamic_engine_files_keep_the_sizes(tmp_path):
    net, w = dynamic_net()
    engine = tf.Builder().build_dynamic(net, max_plans=3)
    path = tmp_path / "dynamic.tfengine"
    engine.save(path)
    back = tf.DynamicEngine.load(path)
    assert back.sizes == {"batch": (1, 4, 16), "seq": (2, 8, 64)}
    assert back.plans_built == 0  # the file holds the opt plan: loading built nothing
    assert tf.DynamicEngine.deserialize(engine.serialize()).sizes == back.sizes
    for batch, seq in ((1, 2), (7, 33)):
        x = torch.randn(batch, seq, 8)
        (y,) = back(x)
        torch.testing.assert_close(torch.as_tensor(y), torch.softmax(x @ w, -1).reshape(-1, 5))
    with pytest.raises(tf.UnsupportedError, match="holds a dynamic engine"):
        tf.Engine.load(path)
    static = tmp_path / "static.tfengine"
    tf.Builder().build(net.specialize({"batch": 2, "seq": 3})).save(static)
    with pytest.raises(tf.InvalidArgumentError, match="holds a static engine"):
        tf.DynamicEngine.load(static)
    data = bytearray(engine.serialize())
    data[len(data) // 2] ^= 1
    with pytest.raises(tf.CorruptFileError):
        tf.DynamicEngine.deserialize(bytes(data))


def test_exec_tool_runs_a_dynamic_engine_at_the_shapes_given(tmp_path):
    import subprocess

    from test_engine_api import _exec_tool

    tool = _exec_tool()
    net, _ = dynamic_net()
    path = tmp_path / "dynamic.tfengine"
    tf.Builder().build_dynamic(net).save(path)
    r = subprocess.run([str(tool), str(path), "--shapes", "x:3x20x8", "--iterations", "2"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "dynamic engine: sizes batch 1..16 (opt 4), seq 2..64 (opt 8)" in r.stdout
    assert "output y: float32[60,5]" in r.stdout
    r = subprocess.run([str(tool), str(path), "--iterations", "1"], capture_output=True, text=True)
    assert r.returncode == 0 and "output y: float32[32,5]" in r.stdout  # at opt
    for shapes, message in (("x:3x99x8", "outside size seq (2..64)"), ("z:3x4x8", "'z', which is not an input"),
                            ("x3x4", "--shapes takes NAME:AxB")):
        r = subprocess.run([str(tool), str(path), "--shapes", shapes], capture_output=True, text=True)
        assert r.returncode != 0 and message in r.stderr, r.stderr
