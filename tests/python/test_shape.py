"""Shape layers through the Python API against torch: reshape, transpose (permute), expand, concat
(torch.cat), split (torch.split), slice (x[a:b:c]). They only move elements, so every dtype must
match torch exactly; assert_close still applies the per-dtype tolerance of layer_harness."""

import sys

import pytest
import torch

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, run_network

DTYPES = FLOAT_DTYPES + (torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool)
BIG = sys.maxsize  # INT64_MAX: "to the end"


def _input(shape, dtype, seed=0):
    if dtype.is_floating_point:
        return randn(*shape, dtype=dtype, seed=seed)
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    lo = 0 if dtype == torch.uint8 else -100
    return torch.randint(lo, 100, shape, generator=g).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,new", [((2, 3, 4), (4, -1)), ((5,), (1, 5, 1)), ((), (1, 1)), ((1,), ()),
                                       ((6, 7), (-1,)), ((0, 3), (3, -1))])
def test_reshape(dtype, shape, new):
    x = _input(shape, dtype)
    (out,) = run_network(lambda n, a: n.add_reshape(a, new), [x])
    assert_close(out, torch.reshape(x, new), dtype, msg=f"reshape {shape}->{new}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,perm", [((2, 3, 4), (2, 0, 1)), ((5, 7), (1, 0)), ((33, 70), (1, 0)),
                                        ((1, 3, 1, 5), (3, 1, 0, 2)), ((2, 3, 4, 5), (0, 2, 1, 3)), ((), ()),
                                        ((4, 6), (-1, 0)), ((3, 40, 37), (2, 0, 1)),
                                        ((3, 0, 2), (2, 1, 0))])
def test_transpose(dtype, shape, perm):
    x = _input(shape, dtype, seed=1)
    (out,) = run_network(lambda n, a: n.add_transpose(a, perm), [x], roundtrip=True)
    assert_close(out, torch.permute(x, perm), dtype, msg=f"permute {shape} {perm}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,new", [((3, 1), (2, -1, 4)), ((1,), (5,)), ((), (2, 3)), ((1, 1, 1), (1, 0, 2)),
                                       ((4, 1, 3), (-1, 6, -1)), ((7, 1), (7, 33)), ((1, 5), (0, 3, 5))])
def test_expand(dtype, shape, new):
    x = _input(shape, dtype, seed=2)
    (out,) = run_network(lambda n, a: n.add_expand(a, new), [x])
    assert_close(out, x.expand(*new), dtype, msg=f"expand {shape}->{new}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes,axis", [(((2, 3), (2, 5), (2, 1)), 1), (((1, 4), (3, 4)), 0), (((3, 5),), -1),
                                         (((2, 3, 4),) * 3, 2), (((0, 2), (0, 3)), 1),
                                         (((2, 0, 3), (2, 2, 3)), -2)])
def test_concat(dtype, shapes, axis):
    xs = [_input(s, dtype, seed=i) for i, s in enumerate(shapes)]
    (out,) = run_network(lambda n, *ts: n.add_concat(ts, axis=axis), xs, roundtrip=True)
    assert_close(out, torch.cat(xs, dim=axis), dtype, msg=f"cat {shapes} {axis}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,sizes,axis", [((5, 4), (2, 0, 3), 0), ((2, 7, 3), (1, 6), -2), ((3,), (3,), 0),
                                              ((2, 3, 4), (1, 1, 1, 1), 2),
                                              ((0, 4), (4, 0), 1)])
def test_split(dtype, shape, sizes, axis):
    x = _input(shape, dtype, seed=3)
    outs = run_network(lambda n, a: n.add_split(a, sizes, axis=axis), [x])
    expected = torch.split(x, list(sizes), dim=axis)
    assert len(outs) == len(expected)
    for i, (o, e) in enumerate(zip(outs, expected)):
        assert_close(o, e, dtype, msg=f"split {shape} {sizes} piece {i}")


# (shape, axes, starts, ends, steps, the same as a Python index)
SLICES = [
    ((10,), (0,), (2,), (8,), (3,), (slice(2, 8, 3),)),
    ((10,), (0,), (-3,), (BIG,), (), (slice(-3, None),)),
    ((4, 6, 5), (2, 0), (-100, 1), (100, -1), (2, 1), (slice(1, -1), slice(None), slice(-100, 100, 2))),
    ((5,), (0,), (4,), (2,), (1,), (slice(4, 2),)),
    ((5, 3), (-1,), (0,), (3,), (7,), (slice(None), slice(0, 3, 7))),
    ((3, 4), (), (), (), (), (slice(None),)),
    ((2, 9, 3), (1,), (-BIG,), (-2,), (2,), (slice(None), slice(-1000, -2, 2))),  # torch warns on -INT64_MAX
    ((6, 1, 7), (0, 1, 2), (1, 0, 6), (5, 1, 7), (2, 1, 1), (slice(1, 5, 2), slice(0, 1), slice(6, 7))),
    ((0, 4), (1,), (1,), (3,), (1,), (slice(None), slice(1, 3))),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SLICES, ids=[str(c[0]) + str(c[1]) for c in SLICES])
def test_slice(dtype, case):
    shape, axes, starts, ends, steps, index = case
    x = _input(shape, dtype, seed=4)
    (out,) = run_network(lambda n, a: n.add_slice(a, axes, starts, ends, steps), [x], roundtrip=dtype == torch.float16)
    assert_close(out, x[index], dtype, msg=f"slice {case}")


def test_errors_name_the_layer():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (2, 3, 4))
    y = net.add_input("y", torch.int32, (2, 3, 4))
    with pytest.raises(tf.InvalidNetworkError, match=r"layer 'r' \(reshape\).*\[2,3,4\].*\[5,5\]"):
        net.add_reshape(x, (5, 5), name="r")
    with pytest.raises(tf.InvalidNetworkError, match="not a permutation"):
        net.add_transpose(x, (0, 0, 1))
    with pytest.raises(tf.InvalidNetworkError, match="only extents of 1 can grow"):
        net.add_expand(x, (3, 3, 4))
    with pytest.raises(tf.InvalidNetworkError, match="input 1 has dtype int32"):
        net.add_concat([x, y], axis=0)
    with pytest.raises(tf.InvalidNetworkError, match="sum to 2"):
        net.add_split(x, (1, 1), axis=1)
    with pytest.raises(tf.InvalidNetworkError, match="steps must be >= 1"):
        net.add_slice(x, (0,), (0,), (2,), (0,))


def test_as_strided_matches_torch():
    """as_strided (compose_views' strided copy) against torch.as_strided, every case of the CUDA test."""
    x = (torch.arange(7 * 40) % 113).to(torch.float32).reshape(7, 40)
    for shape, strides, offset in (((3, 5, 8), (40, 8, 1), 3), ((2, 4, 6), (0, 37, 2), 5), ((9, 9), (29, 3), 0)):
        net = tf.Network()
        t = net.add_input("x", torch.float32, tuple(x.shape))
        net.mark_output(net.add_as_strided(t, shape, strides, offset), "out")
        got = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(x)[0]
        assert torch.equal(got, torch.as_strided(x, shape, strides, offset)), (shape, strides, offset)


@pytest.mark.parametrize("shape,strides,offset,message", [
    ((2, 3), (3,), 0, "shape and strides must have the same length"),
    ((2, 3), (3, -1), 0, "extents and strides must be >= 0"),
    ((2, 3), (3, 1), -1, "offset must be >= 0"),
    ((2, 3), (40, 1), 0, "the view reads element 42 of an input of 12 elements"),
])
def test_as_strided_refuses_views_outside_its_input(shape, strides, offset, message):
    net = tf.Network()
    t = net.add_input("x", torch.float32, (3, 4))
    with pytest.raises(tf.InvalidNetworkError, match=message):
        net.add_as_strided(t, shape, strides, offset)
