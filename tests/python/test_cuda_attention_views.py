"""fold_attention_views on CUDA: the flash and rows attention kernels reading head splits through
strides and writing the head merge in place (attention_views_lib's networks, built for CUDA at
optimization_level 3) agree with the CPU engine at level 0 (no passes) in every float dtype, and
their CUDA graphs replay; views whose rows are not 16-byte aligned take the rows kernel."""

import pytest
import torch

import tensorforge as tf
from attention_views_lib import NETWORKS, layer_kinds, randn

pytestmark = pytest.mark.cuda

TOL = {torch.float32: (3e-5, 3e-5), torch.float16: (5e-3, 5e-3), torch.bfloat16: (3e-2, 3e-2)}


def _close(got, want, msg):
    atol, rtol = TOL[want.dtype]
    torch.testing.assert_close(got.cpu(), want, atol=atol, rtol=rtol, msg=lambda m: f"{msg}: {m}")


def _run_both(net, inputs):
    want = tf.Builder(tf.BuilderConfig(device="cpu", optimization_level=0)).build(net)(*inputs)
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    on_gpu = [t.cuda() for t in inputs]
    first = [t.clone() for t in engine(*on_gpu)]
    again = engine(*on_gpu)  # the CUDA graph's replay
    return engine, want, first, again


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
@pytest.mark.parametrize("which", sorted(NETWORKS))
def test_head_splits_read_in_place(which, dtype):
    net, inputs = NETWORKS[which](dtype)
    engine, want, first, again = _run_both(net, inputs)
    for g, a, w in zip(first, again, want):
        _close(g, w, f"{which} {dtype}")
        torch.testing.assert_close(a, g, atol=0, rtol=0, msg="CUDA graph replay")
    kinds = layer_kinds(engine)
    assert "transpose" not in kinds and "split" not in kinds, kinds
    assert kinds.count("as_strided") == (1 if which == "gpt2_split" else 0), kinds
    tactic = [layer["tactic"] for layer in engine.inspect(format="json")["layers"] if layer["kind"] == "attention"]
    assert tactic == ["cuda.attention.rows" if dtype == torch.float32 else "cuda.attention.flash"], tactic


@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
@pytest.mark.parametrize("row_pad", (0, 1))
def test_views_with_odd_strides(dtype, row_pad):
    """A query read from every other row of a wider input (row_pad 1: rows 2 * 64 + 1 elements apart,
    not 16-byte aligned), written with its heads merged: row_pad 0 runs flash, 1 the rows kernel."""
    n, heads, l, d = 2, 3, 50, 64
    width = 2 * d + row_pad
    net = tf.Network()
    x = net.add_input("x", dtype, (n, heads, 2 * l, width))
    k = net.add_input("k", dtype, (n, heads, l, d))
    view = [n, heads, l, d, heads * 2 * l * width, 2 * l * width, 2 * width, 1, d]  # odd rows, second half
    out = net.add_layer("attention", [x, k, k, None], {"q_view": view, "out_perm": [0, 2, 1, 3]})[0]
    net.mark_output(out, "out")
    xs, ks = randn((n, heads, 2 * l, width), dtype, 0), randn((n, heads, l, d), dtype, 1)
    engine, want, first, again = _run_both(net, [xs, ks])
    q = xs.float()[:, :, ::2, d:2 * d]
    ref = torch.nn.functional.scaled_dot_product_attention(q, ks.float(), ks.float()).permute(0, 2, 1, 3)
    _close(first[0], want[0], f"vs CPU {dtype}")
    _close(first[0], ref.to(dtype), f"vs torch {dtype}")
    torch.testing.assert_close(again[0], first[0], atol=0, rtol=0)
    tactic = engine.inspect(format="json")["layers"][0]["tactic"]
    assert tactic == ("cuda.attention.rows" if row_pad else "cuda.attention.flash"), tactic


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.int64, torch.int8))
def test_as_strided(dtype):
    """The as_strided layer (compose_views' strided copy) against torch.as_strided: overlapping
    rows, a broadcast (stride 0) dim, an offset, a last stride other than 1."""
    x = (torch.arange(7 * 40) % 113).to(dtype).reshape(7, 40)
    for shape, strides, offset in (((3, 5, 8), (40, 8, 1), 3), ((2, 4, 6), (0, 37, 2), 5), ((9, 9), (29, 3), 0)):
        net = tf.Network()
        t = net.add_input("x", dtype, tuple(x.shape))
        net.mark_output(net.add_as_strided(t, shape, strides, offset), "out")
        want = torch.as_strided(x, shape, strides, offset)
        for device in ("cpu", "cuda"):
            engine = tf.Builder(tf.BuilderConfig(device=device)).build(net)
            got = engine(x.cuda() if device == "cuda" else x)[0]
            assert torch.equal(got.cpu(), want), (device, shape, strides, offset)
