"""Networks whose attention operands come through head splits, shared by the CPU and CUDA tests of
fold_attention_views (tests/python/test_attention_views.py, test_cuda_attention_views.py): each
returns (network, inputs) for random inputs of a dtype."""

import torch

import tensorforge as tf


def randn(shape, dtype, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def mha_split(dtype, l=67, n=2, heads=3, d=64):
    """nn.MultiheadAttention's ATen form: the in-projection's [L, N, 3E] split into [N, H, L, D] heads
    through unflatten, a move, select and views, and merged back through a permute."""
    e = heads * d
    net = tf.Network()
    x = net.add_input("x", dtype, (l, n, 3 * e))
    t = net.add_transpose(net.add_reshape(x, (1, l, n, 3, e)), (3, 1, 2, 0, 4))
    sq = net.add_reshape(t, (3, l, n, e))
    heads_of = []
    for i in range(3):
        s = net.add_reshape(net.add_slice(sq, (0,), (i,), (i + 1,)), (l, n * heads, d))
        heads_of.append(net.add_reshape(net.add_transpose(s, (1, 0, 2)), (n, heads, l, d)))
    a = net.add_attention(*heads_of)
    net.mark_output(net.add_reshape(net.add_transpose(a, (2, 0, 1, 3)), (l * n, e)), "out")
    return net, [randn((l, n, 3 * e), dtype, 0)]


def gpt2_split(dtype, n=2, l=45, heads=4, kv_heads=2, d=64):
    """GPT-2's split of one [N, L, ...] projection into query, key and value heads (here with fewer
    key/value heads: grouped-query attention), causal, the key's heads also a network output."""
    net = tf.Network()
    width = (heads + 2 * kv_heads) * d
    x = net.add_input("x", dtype, (n, l, width))
    q, k, v = net.add_split(x, (heads * d, kv_heads * d, kv_heads * d), axis=2)
    qh = net.add_transpose(net.add_reshape(q, (n, l, heads, d)), (0, 2, 1, 3))
    kh = net.add_transpose(net.add_reshape(k, (n, l, kv_heads, d)), (0, 2, 1, 3))
    vh = net.add_transpose(net.add_reshape(v, (n, l, kv_heads, d)), (0, 2, 1, 3))
    a = net.add_attention(qh, kh, vh, causal=True)
    net.mark_output(net.add_reshape(net.add_transpose(a, (0, 2, 1, 3)), (n, l, heads * d)), "out")
    net.mark_output(kh, "key")
    return net, [randn((n, l, width), dtype, 1)]


def bert_heads(dtype, n=3, l=40, heads=2, d=32):
    """BERT's three projections, each viewed as [N, L, H, D] and permuted, with an additive mask."""
    net = tf.Network()
    xs = [net.add_input(name, dtype, (n, l, heads * d)) for name in ("q", "k", "v")]
    hs = [net.add_transpose(net.add_reshape(x, (n, l, heads, d)), (0, 2, 1, 3)) for x in xs]
    mask = net.add_input("mask", dtype, (n, 1, 1, l))
    a = net.add_attention(*hs, mask)
    net.mark_output(net.add_reshape(net.add_transpose(a, (0, 2, 1, 3)), (n, l, heads * d)), "out")
    inputs = [randn((n, l, heads * d), dtype, i) for i in range(3)]
    inputs.append((randn((n, 1, 1, l), torch.float32, 9) > 0.5).to(dtype) * -10000.0)
    return net, inputs


NETWORKS = {"mha_split": mha_split, "gpt2_split": gpt2_split, "bert_heads": bert_heads}


def layer_kinds(engine):
    """The kinds of the built engine's layers (its inspector's JSON)."""
    return [layer["kind"] for layer in engine.inspect(format="json")["layers"]]
