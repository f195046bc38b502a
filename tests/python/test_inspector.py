"""The engine inspector: text and JSON forms, the layers run per call, the origins of each layer,
and per-layer times after profile()."""

import pytest
import torch

import tensorforge as tf


def small_engine():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (4, 6))
    k = net.add_input("k", torch.float32, (5, 6))
    kt = net.add_transpose(k, (1, 0), name="kt")
    s = net.add_matmul(x, kt, name="scores")      # fold_transposes: reads k with transpose_b
    r = net.add_reshape(s, (20,), name="flat")    # an aliasing reshape runs no kernel
    net.mark_output(net.add_unary(r, "exp", name="e"), "y")
    return tf.Builder().build(net)


def test_json_lists_every_layer_with_what_it_holds_and_runs():
    engine = small_engine()
    info = engine.inspect(format="json")
    names = [layer["name"] for layer in info["layers"]]
    assert "kt" not in names  # folded into the matmul's flag, then dropped as dead
    scores = next(layer for layer in info["layers"] if layer["name"] == "scores")
    assert scores["origins"] == ["scores"] and scores["tactic"] and scores["runs"]
    assert scores["outputs"] == [{"name": "scores", "dtype": "float32", "dims": [4, 5]}]
    assert scores["precision"] == "float32" and scores["layout"] is None and scores["ms"] is None
    assert scores["choice"] is None  # the CPU's BLAS kernel has no candidates of its own
    flat = next(layer for layer in info["layers"] if layer["name"] == "flat")
    assert not flat["runs"] and flat["tactic"] == "alias"
    assert info["layers_run_per_call"] == sum(layer["runs"] for layer in info["layers"]) == 2
    assert "run_per_call=2" in engine.inspect()


def test_json_carries_the_last_profile():
    engine = small_engine()
    rows = engine.profile(torch.randn(4, 6), torch.randn(5, 6), runs=3)
    info = engine.inspect(format="json")
    timed = {layer["name"]: layer["ms"] for layer in info["layers"] if layer["runs"]}
    assert set(timed) == {r["name"] for r in rows if r["name"] in timed}
    assert all(ms is not None and ms >= 0 for ms in timed.values())


def test_bad_format_is_an_error():
    with pytest.raises(tf.InvalidArgumentError, match="'text' or 'json'"):
        small_engine().inspect(format="yaml")


def test_build_times_say_where_the_build_went():
    engine = small_engine()
    times = engine.build_times
    assert list(times)[0] == "optimize" and list(times)[-1] == "memory", times
    kernels = {k.removeprefix("kernels "): v for k, v in times.items() if k.startswith("kernels ")}
    # one entry per tactic the engine runs (the alias reshape creates no kernel)
    assert set(kernels) == {layer["tactic"] for layer in engine.inspect(format="json")["layers"]
                            if layer["runs"]}, times
    assert all(v >= 0 for v in times.values())
    loaded = tf.Engine.deserialize(engine.serialize()).build_times
    assert "optimize" not in loaded and set(kernels) <= {k.removeprefix("kernels ") for k in loaded}


@pytest.mark.parametrize("rows_dtype,precision,scales", [
    (torch.int8, "int8", "weights per-channel, activations per-tensor"),
    (torch.float16, "int8 weights", "weights per-channel (weight only"),
    (torch.float8_e4m3fn, "float8_e4m3fn", "weights per-channel, activations per-tensor"),
])
def test_quantized_products_show_their_arithmetic_and_scales(rows_dtype, precision, scales):
    """A quantized_matmul's precision is its arithmetic (int8 or float8 rows, or float rows times int8
    weights: weight only), not its output's dtype; its scales say how they apply."""
    net = tf.Network()
    a = net.add_input("a", rows_dtype, (3, 16))
    b = net.add_input("b", torch.float8_e4m3fn if rows_dtype == torch.float8_e4m3fn else torch.int8, (8, 16))
    scale = net.add_input("scale", torch.float32, (8,))
    y = net.add_quantized_matmul(a, b, scale, None, True, "none", "float16", name="product")
    net.mark_output(y, "y")
    info = tf.Builder().build(net).inspect(format="json")
    layer = next(la for la in info["layers"] if la["name"] == "product")
    assert layer["outputs"][0]["dtype"] == "float16"
    assert layer["precision"] == precision and layer["scales"].startswith(scales), layer
    assert f"scales={precision}, {scales}" in tf.Builder().build(net).inspect()
