"""Random chains of view layers (reshape, transpose, slice, split) ending in a copy or an attention,
built at optimization_level 3 (compose_views, fold_attention_views, remove_identities compose the
chains into one strided read) and at level 0 (every layer as written), on the CPU: the outputs must
agree — exactly for the copies, to float32 rounding for the attentions. A seeded property test of
opt/strided_view.cc's composition (groups of atoms through regrouping, permutation and narrowing)."""

import random

import pytest
import torch

import tensorforge as tf


def _divisors(n):
    return [d for d in range(2, n) if n % d == 0]


def _random_view(net, x, shape, rng):
    """One random view layer applied to x (of `shape`); returns (tensor, new shape)."""
    kind = rng.choice(("reshape", "transpose", "slice", "split"))
    r = len(shape)
    if kind == "reshape":
        dims = list(shape)
        if r >= 2 and rng.random() < 0.5:  # merge two neighbours
            i = rng.randrange(r - 1)
            dims[i:i + 2] = [dims[i] * dims[i + 1]]
        else:  # split one dim by a divisor
            cands = [(i, d) for i in range(r) for d in _divisors(dims[i])]
            if not cands or r >= 6:
                return x, shape
            i, d = rng.choice(cands)
            dims[i:i + 1] = [d, dims[i] // d]
        return net.add_reshape(x, tuple(dims)), tuple(dims)
    if kind == "transpose":
        perm = list(range(r))
        rng.shuffle(perm)
        return net.add_transpose(x, tuple(perm)), tuple(shape[p] for p in perm)
    axis = rng.randrange(r)
    n = shape[axis]
    if n < 2:
        return x, shape
    if kind == "slice":
        start, step = rng.randrange(n - 1), rng.choice((1, 1, 2))
        end = rng.randrange(start + 1, n + 1)
        out = list(shape)
        out[axis] = (end - start - 1) // step + 1
        return net.add_slice(x, (axis,), (start,), (end,), (step,)), tuple(out)
    first = rng.randrange(1, n)
    parts = net.add_split(x, (first, n - first), axis=axis)
    k = rng.randrange(2)
    out = list(shape)
    out[axis] = first if k == 0 else n - first
    return parts[k], tuple(out)


def _chain(seed):
    rng = random.Random(seed)
    shape = tuple(rng.choice((2, 3, 4, 6)) for _ in range(rng.randint(2, 4)))
    net = tf.Network()
    x = net.add_input("x", torch.float32, shape)
    t, s = x, shape
    for _ in range(rng.randint(2, 5)):
        t, s = _random_view(net, t, s, rng)
    return net, t, s, shape, rng


def _outputs(net, inputs, level):
    return tf.Builder(tf.BuilderConfig(device="cpu", optimization_level=level)).build(net)(*inputs)


@pytest.mark.parametrize("seed", range(120))
def test_random_chain_ending_in_a_copy(seed):
    net, t, s, shape, rng = _chain(seed)
    perm = list(range(len(s)))
    rng.shuffle(perm)
    net.mark_output(net.add_transpose(t, tuple(perm)), "out")
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    got, want = _outputs(net, [x], 3)[0], _outputs(net, [x], 0)[0]
    assert torch.equal(got, want), net.to_text()


@pytest.mark.parametrize("seed", range(120))
def test_random_chain_feeding_an_attention(seed):
    net, t, s, shape, rng = _chain(1000 + seed)
    if len(s) < 2:
        pytest.skip("the chain ended below rank 2; attention needs [..., L, E]")
    kv = net.add_input("kv", torch.float32, s[:-2] + (5, s[-1]))
    net.mark_output(net.add_attention(t, kv, kv, causal=rng.random() < 0.3), "out")
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    k = torch.randn(s[:-2] + (5, s[-1]), generator=torch.Generator().manual_seed(seed + 1))
    got, want = _outputs(net, [x, k], 3)[0], _outputs(net, [x, k], 0)[0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=net.to_text)
