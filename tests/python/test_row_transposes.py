"""move_row_transposes on the CPU: linear layers whose input rows come through a transpose of the
leading dims (moved after the layer), or whose output rows go through one (moved before it,
composed with the input's own transpose), with and without a bias add behind a reshape, built at
optimization_level 3 against level 0; the moved transposes are gone when an attention's views or
another transpose absorb them."""

import itertools
import random

import pytest
import torch

import tensorforge as tf


def _build(net, inputs, level):
    return tf.Builder(tf.BuilderConfig(device="cpu", optimization_level=level)).build(net)(*inputs)


def _leading_perms(rank):
    """Permutations of the leading dims that keep the last one last (identity left out)."""
    return [p + (rank - 1,) for p in itertools.permutations(range(rank - 1)) if list(p) != sorted(p)]


@pytest.mark.parametrize("bias", (False, True))
@pytest.mark.parametrize("shape", ((2, 3, 8), (3, 2, 2, 8)))
def test_sink_and_hoist_match_the_unoptimized_engine(shape, bias):
    rng = random.Random(len(shape) * 2 + bias)
    for perm in _leading_perms(len(shape)):
        rows = 1
        for d in shape[:-1]:
            rows *= d
        moved = tuple(shape[p] for p in perm)
        net = tf.Network()
        x = net.add_input("x", torch.float32, shape)
        w = net.add_constant(torch.randn(shape[-1], 6, generator=torch.Generator().manual_seed(1)))
        b = net.add_constant(torch.randn(6, generator=torch.Generator().manual_seed(2)))
        # sink: transpose -> reshape [M, C] -> matmul [-> reshape -> + bias], read by an attention
        m = net.add_matmul(net.add_reshape(net.add_transpose(x, perm), (rows, shape[-1])), w)
        if bias:
            m = net.add_elementwise(net.add_reshape(m, moved[:-1] + (6,)), b, "add")
        q = net.add_reshape(m, moved[:-1] + (6,))
        net.mark_output(net.add_attention(q, q, q), "sunk")
        # hoist: transpose -> reshape [M, C] -> matmul [-> + bias] -> reshape -> transpose
        h = net.add_matmul(net.add_reshape(net.add_transpose(x, perm), (rows, shape[-1])), w)
        if bias:
            h = net.add_elementwise(h, b, "add")
        net.mark_output(net.add_transpose(net.add_reshape(h, moved[:-1] + (6,)), perm), "hoisted")
        xs = torch.randn(shape, generator=torch.Generator().manual_seed(rng.randrange(1000)))
        engine = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
        for got, want in zip(engine(xs), _build(net, [xs], 0)):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=f"perm {perm}")
        kinds = [layer["kind"] for layer in engine.inspect(format="json")["layers"]]
        # The sunk transpose is read through the attention's views; the hoisted one composed with
        # the input's transpose into one.
        assert kinds.count("transpose") <= 1, (perm, kinds)


def test_hoisted_transposes_cancel():
    """x [2, 3, 8] -> transpose -> linear -> transpose back: the hoisted transpose composes with the
    first and becomes the identity, which remove_identities drops: no transpose runs."""
    net = tf.Network()
    x = net.add_input("x", torch.float32, (2, 3, 8))
    w = net.add_constant(torch.randn(8, 8, generator=torch.Generator().manual_seed(3)))
    t = net.add_transpose(x, (1, 0, 2))
    y = net.add_reshape(net.add_matmul(net.add_reshape(t, (6, 8)), w), (3, 2, 8))
    net.mark_output(net.add_transpose(y, (1, 0, 2)), "out")
    xs = torch.randn(2, 3, 8)
    engine = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
    torch.testing.assert_close(engine(xs)[0], _build(net, [xs], 0)[0], atol=1e-5, rtol=1e-5)
    kinds = [layer["kind"] for layer in engine.inspect(format="json")["layers"]]
    assert "transpose" not in kinds, kinds
