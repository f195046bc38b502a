"""Normalization layers through the Python API against torch: softmax / log_softmax, batch_norm
(F.batch_norm, training=False), layer_norm, group_norm, rms_norm. Low-precision inputs are compared with a
float32 reference on the same (rounded) values, under layer_harness.TOLERANCE.
Empty tensors are covered by the C++ tests only: the Python module's contiguity check rejects empty
arrays (their strides do not follow the running product of a zero extent)."""

import pytest
import torch
import torch.nn.functional as F

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, reference, run_network


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((2, 3, 5), -1), ((2, 3, 5), 1), ((2, 3, 5), 0), ((4, 1, 3), 1),
                                        ((), 0), ((2, 3, 2, 17), -2)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax(dtype, shape, axis, log):
    x = randn(*shape, dtype=dtype, seed=1) * 3
    fn = torch.log_softmax if log else torch.softmax
    (out,) = run_network(lambda n, a: n.add_softmax(a, axis=axis, log=log), [x], roundtrip=log)
    assert_close(out, reference(lambda t: fn(t, axis), x), dtype, msg=f"softmax log={log} {shape} axis {axis}")


def test_softmax_large_and_infinite_values():
    x = torch.tensor([[1000.0, 1001.0, 999.0], [1.0, float("-inf"), 2.0], [float("-inf")] * 3])
    for log, fn in ((False, torch.softmax), (True, torch.log_softmax)):
        (out,) = run_network(lambda n, a: n.add_softmax(a, log=log), [x])
        assert_close(out, fn(x, -1), msg=f"log={log}")


@pytest.mark.parametrize("n", [16, 37, 300])
def test_softmax_long_rows_with_special_values(n):
    # Rows of 16 and more run the vectorized loops (partial maxima and sums in 16 lanes, then a tail).
    x = randn(7, n, seed=4) * 4
    x[1, n - 1] = float("nan")  # in the tail (or the last lane)
    x[2, 5] = float("nan")  # in the lanes
    x[3, n // 2] = float("inf")
    x[4] = float("-inf")  # nothing but -inf: NaN, as torch
    x[5, ::3] = float("-inf")
    x[6] = x[6] * 30  # spreads past e^-87: exact zeros
    (out,) = run_network(lambda net, a: net.add_softmax(a), [x])
    assert_close(out, torch.softmax(x, -1), msg=f"softmax rows of {n}")
    assert out[6].sum().item() == pytest.approx(1.0, rel=1e-5)


def test_softmax_rejects_integers():
    net = tf.Network()
    x = net.add_input("x", torch.int32, (2, 3))
    with pytest.raises(tf.Error, match="floating-point"):
        net.add_softmax(x)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (1, 4, 3, 3), (3, 2, 1, 2, 3)])
@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
def test_batch_norm(dtype, shape, affine):
    c = shape[1]
    x = randn(*shape, dtype=dtype, seed=2)
    mean, var = randn(c, dtype=dtype, seed=3), (randn(c, dtype=torch.float32, seed=4).abs() + 0.1).to(dtype)
    w = randn(c, dtype=dtype, seed=5) if affine in ("weight", "both") else None
    b = randn(c, dtype=dtype, seed=6) if affine in ("bias", "both") else None
    params = [p for p in (w, b) if p is not None]

    def build(n, xt, m, v, *ps):
        it = iter(ps)
        return n.add_batch_norm(xt, m, v, next(it) if w is not None else None, next(it) if b is not None else None,
                                eps=1e-3)

    (out,) = run_network(build, [x, mean, var, *params], roundtrip=affine == "both")
    expected = reference(lambda xt, m, v, ww, bb: F.batch_norm(xt, m, v, ww, bb, training=False, eps=1e-3),
                         x, mean, var, w, b)
    assert_close(out, expected, dtype, msg=f"batch_norm {shape} {affine}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,rank", [((7,), 1), ((2, 3, 5), 1), ((2, 3, 5), 2), ((2, 3, 5), 3), ((4, 1), 1),
                                        ((2, 2, 3, 33), 2)])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm(dtype, shape, rank, affine):
    ns = shape[len(shape) - rank:]
    x = randn(*shape, dtype=dtype, seed=7) * 2 + 1
    w, b = (randn(*ns, dtype=dtype, seed=8), randn(*ns, dtype=dtype, seed=9)) if affine else (None, None)
    inputs = [x, w, b] if affine else [x]
    (out,) = run_network(lambda n, xt, *p: n.add_layer_norm(xt, rank, *p, eps=1e-5), inputs, roundtrip=affine)
    expected = reference(lambda xt, ww, bb: F.layer_norm(xt, ns, ww, bb, eps=1e-5), x, w, b)
    assert_close(out, expected, dtype, msg=f"layer_norm {shape} rank {rank}")


def test_layer_norm_weight_only_and_large_offset():
    # A mean of 1000 with unit spread: E[x²] - E[x]² would lose every digit in float32.
    x = randn(3, 64, seed=10) + 1000
    w = randn(64, seed=11)
    (out,) = run_network(lambda n, xt, wt: n.add_layer_norm(xt, 1, wt), [x, w])
    expected = F.layer_norm(x.double(), (64,), w.double()).float()
    assert_close(out, expected, atol=1e-3, rtol=1e-3, msg="offset")  # float32 inputs near 1000 carry 6e-5 error


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("n", [16, 45, 768])
def test_row_norms_long_rows(rms, n):
    # Long rows: the moments summed in lanes of doubles; a large offset keeps the two-pass variance honest.
    x = randn(5, n, seed=12) * 3 + (0 if rms else 1000)
    w, b = randn(n, seed=13), randn(n, seed=14)
    if rms:
        (out,) = run_network(lambda net, xt, wt: net.add_rms_norm(xt, 1, wt, eps=1e-6), [x, w])
        expected = (x.double() * torch.rsqrt(x.double().pow(2).mean(-1, keepdim=True) + 1e-6) * w.double()).float()
    else:
        (out,) = run_network(lambda net, xt, wt, bt: net.add_layer_norm(xt, 1, wt, bt), [x, w, b])
        expected = F.layer_norm(x.double(), (n,), w.double(), b.double()).float()
    assert_close(out, expected, atol=1e-3 if not rms else None, rtol=1e-3 if not rms else None, msg=f"{rms} {n}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,groups", [((2, 6), 3), ((2, 6, 5), 1), ((2, 6, 5), 2), ((2, 6, 5), 6),
                                          ((1, 4, 3, 3), 2), ((3, 2, 2, 1, 3), 2)])
@pytest.mark.parametrize("affine", [False, True])
def test_group_norm(dtype, shape, groups, affine):
    c = shape[1]
    x = randn(*shape, dtype=dtype, seed=12)
    w, b = (randn(c, dtype=dtype, seed=13), randn(c, dtype=dtype, seed=14)) if affine else (None, None)
    inputs = [x, w, b] if affine else [x]
    (out,) = run_network(lambda n, xt, *p: n.add_group_norm(xt, groups, *p, eps=1e-4), inputs, roundtrip=affine)
    expected = reference(lambda xt, ww, bb: F.group_norm(xt, groups, ww, bb, eps=1e-4), x, w, b)
    assert_close(out, expected, dtype, msg=f"group_norm {shape} groups {groups}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape,rank", [((7,), 1), ((2, 3, 5), 1), ((2, 3, 5), 2), ((4, 1), 1), ((3, 2, 40), 3)])
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("affine", [False, True])
def test_rms_norm(dtype, shape, rank, eps, affine):
    ns = shape[len(shape) - rank:]
    x = randn(*shape, dtype=dtype, seed=15) * 0.05  # small values so that eps matters
    w = randn(*ns, dtype=dtype, seed=16) if affine else None
    inputs = [x, w] if affine else [x]
    (out,) = run_network(lambda n, xt, *p: n.add_rms_norm(xt, rank, *p, eps=-1.0 if eps is None else eps), inputs,
                         roundtrip=affine)
    # eps=None means the machine epsilon of x's dtype; the float32 reference must be told which.
    ref_eps = torch.finfo(dtype).eps if eps is None else eps
    expected = reference(lambda xt, ww: F.rms_norm(xt, ns, ww, eps=ref_eps), x, w)
    assert_close(out, expected, dtype, msg=f"rms_norm {shape} rank {rank} eps {eps}")
    if dtype == torch.float32 and eps is None:  # torch's own eps=None path agrees
        assert_close(out, F.rms_norm(x, ns, w), dtype, msg="eps=None")


def test_norm_parameter_errors():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (2, 6, 5))
    w4 = net.add_input("w4", torch.float32, (4,))
    with pytest.raises(tf.Error, match="num_groups 4 does not divide the channel count 6"):
        net.add_group_norm(x, 4)
    with pytest.raises(tf.Error, match=r"weight must have shape \[5\], got \[4\]"):
        net.add_layer_norm(x, 1, w4)
    with pytest.raises(tf.Error, match=r"normalized_rank must be in \[1, 3\]"):
        net.add_rms_norm(x, 4)
    with pytest.raises(tf.Error, match=r"mean must have shape \[6\]"):
        net.add_batch_norm(x, w4, w4)
