"""attention through the Python API against F.scaled_dot_product_attention: 2-D to 4-D inputs,
L != S, bool and additive masks (broadcast, fully masked rows), is_causal, explicit scale and
grouped-query heads (enable_gqa=True), in float32/float16/bfloat16 (reference in float32)."""

import pytest
import torch
import torch.nn.functional as F

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, reference, run_network

# (query, key, value shapes)
SHAPES = [
    ((4, 5), (3, 5), (3, 2)),                    # 2-D, L > S
    ((1, 1), (1, 1), (1, 1)),                    # unit sizes
    ((2, 3, 8), (2, 7, 8), (2, 7, 5)),           # 3-D, L < S
    ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)),  # 4-D
    ((1, 2, 9, 16), (1, 2, 9, 16), (1, 2, 9, 16)),
    ((2, 6, 5, 8), (2, 2, 7, 8), (2, 2, 7, 4)),  # grouped-query: 3 query heads per kv head
    ((1, 4, 6, 8), (1, 1, 3, 8), (1, 1, 3, 8)),  # multi-query, L > S
    ((6, 5, 8), (2, 7, 8), (2, 7, 4)),           # grouped-query on 3-D inputs (dim -3 is the heads)
]


def _inputs(dtype, shapes, seed):
    return [randn(*s, dtype=dtype, seed=seed + i) for i, s in enumerate(shapes)]


def _gqa(q, k):
    return q.dim() >= 3 and q.shape[-3] != k.shape[-3]


def _sdpa(**kw):
    return lambda q, k, v, m=None: F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=_gqa(q, k), **kw)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("causal,scale", [(False, 0.0), (True, 0.0), (False, 0.37), (True, 2.0)])
def test_attention(dtype, shapes, causal, scale):
    q, k, v = _inputs(dtype, shapes, seed=7)
    (out,) = run_network(lambda n, a, b, c: n.add_attention(a, b, c, causal=causal, scale=scale), [q, k, v],
                         roundtrip=causal)
    expected = reference(_sdpa(is_causal=causal, scale=scale or None), q, k, v)
    assert_close(out, expected, dtype, msg=f"attention {dtype} {shapes} causal={causal} scale={scale}")


def _scores_shape(shapes):
    q, k = shapes[0], shapes[1]
    return q[:-1] + (k[-2],)


# mask shape builders from the scores shape [..., L, S]
MASK_SHAPES = {
    "full": lambda s: s,
    "LS": lambda s: s[-2:],
    "key_padding": lambda s: s[:-2][:1] + (1,) * (len(s) - 3) + (1, s[-1]) if len(s) > 2 else (1, s[-1]),
    "per_head": lambda s: s[-3:] if len(s) >= 3 else s,
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shapes", [SHAPES[0], SHAPES[2], SHAPES[3], SHAPES[5]])
@pytest.mark.parametrize("mask_shape", sorted(MASK_SHAPES))
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_mask(dtype, shapes, mask_shape, kind):
    q, k, v = _inputs(dtype, shapes, seed=11)
    ms = MASK_SHAPES[mask_shape](_scores_shape(shapes))
    g = torch.Generator().manual_seed(3)
    if kind == "bool":
        m = torch.rand(ms, generator=g) > 0.3
        m.view(-1, ms[-1])[0] = False  # a fully masked row: PyTorch gives zeros there
    else:
        m = (torch.randn(ms, generator=g) * 2).to(dtype)
        m.view(-1, ms[-1])[0, 0] = float("-inf")
    (out,) = run_network(lambda n, a, b, c, d: n.add_attention(a, b, c, d), [q, k, v, m], roundtrip=kind == "bool")
    expected = reference(_sdpa(), q, k, v, m)
    assert_close(out, expected, dtype, msg=f"attention {dtype} {shapes} mask {kind}{ms}")


def test_fully_masked_float_row_gives_zeros():
    q, k, v = _inputs(torch.float32, SHAPES[3], seed=2)
    m = torch.zeros(5, 7)
    m[2] = float("-inf")
    (out,) = run_network(lambda n, a, b, c, d: n.add_attention(a, b, c, d), [q, k, v, m])
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    assert torch.equal(out[..., 2, :], torch.zeros_like(out[..., 2, :]))
    assert_close(out, expected, torch.float32, msg="-inf row")


def test_long_rows_masked_and_causal():
    # Score rows of 16 and more take the vectorized softmax; causal rows are softmaxed over their
    # first i + 1 scores and zero after them.
    q, k, v = _inputs(torch.float32, ((2, 3, 40, 16), (2, 3, 45, 16), (2, 3, 45, 8)), seed=5)
    m = torch.rand((2, 1, 40, 45), generator=torch.Generator().manual_seed(6)) > 0.2
    m[0, 0, 7] = False  # nothing to attend: zeros
    (out,) = run_network(lambda n, a, b, c, d: n.add_attention(a, b, c, d), [q, k, v, m])
    assert torch.equal(out[0, :, 7], torch.zeros_like(out[0, :, 7]))
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=m), torch.float32, msg="masked")
    (out,) = run_network(lambda n, a, b, c: n.add_attention(a, b, c, causal=True), [q, k, v])
    assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), torch.float32, msg="causal")


def test_empty_keys_give_zeros():
    q, k, v = torch.randn(3, 6), torch.randn(0, 6), torch.randn(0, 2)
    (out,) = run_network(lambda n, a, b, c: n.add_attention(a, b, c), [q, k, v])
    assert_close(out, F.scaled_dot_product_attention(q, k, v), torch.float32, msg="S = 0")


def test_errors_name_the_layer():
    net = tf.Network()
    q = net.add_input("q", torch.float32, (2, 6, 5, 8))
    k = net.add_input("k", torch.float32, (2, 4, 7, 8))
    v = net.add_input("v", torch.float32, (2, 4, 7, 3))
    with pytest.raises(tf.InvalidNetworkError, match=r"layer 'att' \(attention\).*or divide it"):
        net.add_attention(q, k, v, name="att")
    k2 = net.add_input("k2", torch.float32, (2, 6, 7, 8))
    v2 = net.add_input("v2", torch.float32, (2, 6, 7, 3))
    m = net.add_input("m", torch.bool, (5, 7))
    with pytest.raises(tf.InvalidNetworkError, match="mask and causal=1 cannot be combined"):
        net.add_attention(q, k2, v2, m, causal=True)
    with pytest.raises(tf.InvalidNetworkError, match="mask must be bool or the query's dtype"):
        net.add_attention(q, k2, v2, net.add_input("mi", torch.int32, (5, 7)))
    assert tuple(net.add_attention(q, k2, v2, m).shape) == (2, 6, 5, 3)
