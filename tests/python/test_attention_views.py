"""fold_attention_views on the CPU: networks whose attention reads head splits (multi-head
attention's unflatten/select/view chain, GPT-2's split with grouped key heads, BERT's view + permute
with a mask) give the same outputs built at optimization_level 3 (the chains become strided views,
the merge transpose the attention's out_perm) as at level 0 (no passes), in every float dtype; and
malformed view attributes are refused with errors that say what is wrong."""

import pytest
import torch

import tensorforge as tf
from attention_views_lib import NETWORKS, layer_kinds

TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
@pytest.mark.parametrize("which", sorted(NETWORKS))
def test_folded_views_match_the_unoptimized_engine(which, dtype):
    net, inputs = NETWORKS[which](dtype)
    want = tf.Builder(tf.BuilderConfig(device="cpu", optimization_level=0)).build(net)(*inputs)
    engine = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
    got = engine(*inputs)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=TOL[dtype], rtol=TOL[dtype])
    kinds = layer_kinds(engine)
    # The head merge is written by the attention; the query's split chain is gone; GPT-2's key head
    # (a network output) is one strided copy of the projection (compose_views), no split.
    assert "transpose" not in kinds and "split" not in kinds, kinds
    assert kinds.count("as_strided") == (1 if which == "gpt2_split" else 0), kinds
    merge = [layer for layer in engine.inspect(format="json")["layers"] if layer["kind"] == "attention"][0]
    assert len(merge["origins"]) == 2, merge


def _attention(view=None, perm=None, shape=(2, 3, 8)):
    net = tf.Network()
    x = net.add_input("x", torch.float32, shape)
    attrs = {}
    if view is not None:
        attrs["q_view"] = view
    if perm is not None:
        attrs["out_perm"] = perm
    return lambda: net.add_layer("attention", [x, x, x, None], attrs)


@pytest.mark.parametrize("view,perm,message", [
    ([2, 3, 8, 24, 8, 2, 0], None, "q_view's last stride must be 1"),
    ([2, 3, 8, 24, 8, 1, 1], None, "q_view reads element 48 of an input of 48 elements"),
    ([2, 3, 8, 24, -8, 1, 0], None, "q_view has a negative extent or stride"),
    ([2, 3, 8, 24, 8, 1], None, "q_view must hold [dims..., strides..., offset]"),
    (None, [0, 2, 1], "out_perm must be a permutation of the 3 dims that keeps the last one last"),
    (None, [0, 0, 2], "out_perm must be a permutation"),
])
def test_malformed_views_are_refused(view, perm, message):
    with pytest.raises(tf.InvalidNetworkError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _attention(view, perm)()


def test_a_view_over_a_larger_input_is_read_in_place():
    """q_view picks every other row of a [2, 6, 8] input: the result is attention over those rows."""
    net = tf.Network()
    x = net.add_input("x", torch.float32, (2, 6, 8))
    y = net.add_input("y", torch.float32, (2, 3, 8))
    out = net.add_layer("attention", [x, y, y, None], {"q_view": [2, 3, 8, 48, 16, 1, 0]})[0]
    net.mark_output(out, "out")
    xs = torch.randn(2, 6, 8)
    ys = torch.randn(2, 3, 8)
    got = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(xs, ys)[0]
    want = torch.nn.functional.scaled_dot_product_attention(xs[:, ::2], ys, ys)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


class _BatchFirstBlock(torch.nn.Module):
    """ViT's encoder block: nn.MultiheadAttention(batch_first=True) between layer norms, an MLP."""

    def __init__(self, e=32, heads=4):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(e), torch.nn.LayerNorm(e)
        self.attn = torch.nn.MultiheadAttention(e, heads, batch_first=True)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(e, 2 * e), torch.nn.GELU(), torch.nn.Linear(2 * e, e))

    def forward(self, x):
        y = self.ln1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


def test_batch_first_multihead_attention_runs_without_copies():
    """torch.compile of the block: move_row_transposes takes the two batch-first transposes to where
    the attention's views absorb them, fold_attention_views the head split and merge: the engine
    holds no transpose, slice or split, and matches eager."""
    from backend_util import compile_model, engine_modules

    torch.manual_seed(0)
    block = _BatchFirstBlock().eval()
    x = torch.randn(3, 11, 32)
    compiled = compile_model(block)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), block(x), atol=1e-5, rtol=1e-5)
    (module,) = engine_modules()
    kinds = [layer["kind"] for layer in module.engine.inspect(format="json")["layers"]]
    assert not {"transpose", "slice", "split", "as_strided"} & set(kinds), kinds


def test_folded_views_from_eight_threads():
    """One engine with attention views and an as_strided copy (GPT-2's split), called from 8 threads
    at once: every output equals the single-threaded one (the kernels keep no per-call state)."""
    from test_reliability import run_threads

    net, (x,) = NETWORKS["gpt2_split"](torch.float32)
    engine = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
    g = torch.Generator().manual_seed(5)
    inputs = [torch.randn(x.shape, generator=g) for _ in range(48)]
    expected = [[t.clone() for t in engine(i)] for i in inputs]
    got, errors = run_threads(lambda i: [t.clone() for t in engine(i)], inputs, threads=8)
    assert not errors, errors[:3]
    for g_out, e_out in zip(got, expected):
        assert all(torch.equal(a, b) for a, b in zip(g_out, e_out))
