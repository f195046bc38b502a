"""fold_attention_views on CUDA: the flash and rows attention kernels (and cuDNN's fused attention,
when the build has it) reading head splits through strides and writing the head merge in place (attention_views_lib's networks, built for CUDA at
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


OURS = ["cuda.attention.cudnn"]  # disabled_tactics that leave attention to our kernels


def _run_both(net, inputs, disabled=()):
    want = tf.Builder(tf.BuilderConfig(device="cpu", optimization_level=0)).build(net)(*inputs)
    engine = tf.Builder(tf.BuilderConfig(device="cuda", disabled_tactics=disabled)).build(net)
    on_gpu = [t.cuda() for t in inputs]
    first = [t.clone() for t in engine(*on_gpu)]
    again = engine(*on_gpu)  # the CUDA graph's replay
    return engine, want, first, again


def _attention_tactics(engine):
    return [layer["tactic"] for layer in engine.inspect(format="json")["layers"] if layer["kind"] == "attention"]


@pytest.mark.parametrize("kernels", ("ours", "cudnn"))
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
@pytest.mark.parametrize("which", sorted(NETWORKS))
def test_head_splits_read_in_place(which, dtype, kernels):
    """With our kernels (cuDNN's disabled) and with the default choice, where cuDNN's fused attention
    takes the half-precision layers when the build has it."""
    if kernels == "cudnn" and not tf.built_with_cudnn_attention():
        pytest.skip("built without cuDNN's frontend: no cuda.attention.cudnn")
    net, inputs = NETWORKS[which](dtype)
    engine, want, first, again = _run_both(net, inputs, OURS if kernels == "ours" else ())
    for g, a, w in zip(first, again, want):
        _close(g, w, f"{which} {dtype}")
        torch.testing.assert_close(a, g, atol=0, rtol=0, msg="CUDA graph replay")
    kinds = layer_kinds(engine)
    assert "transpose" not in kinds and "split" not in kinds, kinds
    assert kinds.count("as_strided") == (1 if which == "gpt2_split" else 0), kinds
    tactic = _attention_tactics(engine)
    ours = "cuda.attention.rows" if dtype == torch.float32 else "cuda.attention.flash"
    assert tactic == [ours if kernels == "ours" or dtype == torch.float32 else "cuda.attention.cudnn"], tactic


@pytest.mark.parametrize("kernels", ("ours", "cudnn"))
@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
@pytest.mark.parametrize("row_pad", (0, 1))
def test_views_with_odd_strides(dtype, row_pad, kernels):
    """A query read from every other row of a wider input (row_pad 1: rows 2 * 64 + 1 elements apart,
    not 16-byte aligned), written with its heads merged: row_pad 0 runs flash (or cuDNN's fused
    attention), 1 the rows kernel (cuDNN refuses rows that are not 16-byte aligned)."""
    if kernels == "cudnn" and not tf.built_with_cudnn_attention():
        pytest.skip("built without cuDNN's frontend: no cuda.attention.cudnn")
    n, heads, l, d = 2, 3, 50, 64
    width = 2 * d + row_pad
    net = tf.Network()
    x = net.add_input("x", dtype, (n, heads, 2 * l, width))
    k = net.add_input("k", dtype, (n, heads, l, d))
    view = [n, heads, l, d, heads * 2 * l * width, 2 * l * width, 2 * width, 1, d]  # odd rows, second half
    out = net.add_layer("attention", [x, k, k, None], {"q_view": view, "out_perm": [0, 2, 1, 3]})[0]
    net.mark_output(out, "out")
    xs, ks = randn((n, heads, 2 * l, width), dtype, 0), randn((n, heads, l, d), dtype, 1)
    engine, want, first, again = _run_both(net, [xs, ks], OURS if kernels == "ours" else ())
    q = xs.float()[:, :, ::2, d:2 * d]
    ref = torch.nn.functional.scaled_dot_product_attention(q, ks.float(), ks.float()).permute(0, 2, 1, 3)
    _close(first[0], want[0], f"vs CPU {dtype}")
    _close(first[0], ref.to(dtype), f"vs torch {dtype}")
    torch.testing.assert_close(again[0], first[0], atol=0, rtol=0)
    tactic = engine.inspect(format="json")["layers"][0]["tactic"]
    aligned = "cuda.attention.flash" if kernels == "ours" else "cuda.attention.cudnn"
    assert tactic == ("cuda.attention.rows" if row_pad else aligned), tactic


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
def test_window_attention_head_merge_behind_reshape(dtype):
    """Rank-5 attention ([B, windows, heads, L, E], as recognize_attention builds Swin's) whose head
    merge transposes a [B * windows, heads, L, E] view: fold_attention_views writes it permuted as
    [B, windows, L, heads, E] (out_perm over five dims) and a free reshape follows."""
    b, w, h, l, e = 2, 4, 3, 49, 32
    net = tf.Network()
    xs = [net.add_input(name, dtype, (b, w, h, l, e)) for name in "qkv"]
    a = net.add_attention(*xs)
    merged = net.add_transpose(net.add_reshape(a, (b * w, h, l, e)), (0, 2, 1, 3))
    net.mark_output(merged, "out")
    inputs = [randn((b, w, h, l, e), dtype, i) for i in range(3)]
    engine, want, first, again = _run_both(net, inputs)
    _close(first[0], want[0], f"vs CPU {dtype}")
    torch.testing.assert_close(again[0], first[0], atol=0, rtol=0)
    assert "transpose" not in layer_kinds(engine)


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
