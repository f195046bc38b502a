"""Reductions and scans through the Python API against torch: torch.sum/mean/amax/amin/prod/any/all,
torch.argmax/argmin, torch.cumsum, torch.topk, over shapes, axes and dtypes. Empty tensors are covered by
the C++ tests only: the Python module's contiguity check rejects empty arrays."""

import pytest
import torch

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, reference, run_network

INT_DTYPES = (torch.int8, torch.int32, torch.int64, torch.uint8)


def _input(shape, dtype, seed, lo=-3, hi=4):
    if dtype.is_floating_point:
        return randn(*shape, dtype=dtype, seed=seed)
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    return torch.randint(0 if dtype == torch.uint8 else lo, hi, shape, generator=g).to(dtype)


REDUCE = {
    "sum": lambda x, d, k: torch.sum(x, d, keepdim=k),
    "mean": lambda x, d, k: torch.mean(x, d, keepdim=k),
    "max": lambda x, d, k: torch.amax(x, d, keepdim=k),
    "min": lambda x, d, k: torch.amin(x, d, keepdim=k),
    "any": lambda x, d, k: torch.any(x, d, keepdim=k) if d else torch.any(x).reshape([1] * x.dim() if k else []),
    "all": lambda x, d, k: torch.all(x, d, keepdim=k) if d else torch.all(x).reshape([1] * x.dim() if k else []),
}
SHAPES_AXES = [((7,), ()), ((7,), (0,)), ((2, 3, 5), ()), ((2, 3, 5), (1,)), ((2, 3, 5), (-1,)),
               ((2, 3, 5), (0, 2)), ((4, 1, 3), (1,)), ((3, 2, 2, 5), (1, 3)), ((), ())]


def _prod(x, dims, keepdim):
    # torch.prod takes one dim at a time; reduce the highest first so the remaining indices stay valid.
    dims = sorted((d % max(x.dim(), 1) for d in dims), reverse=True) if dims else list(range(x.dim()))[::-1]
    if not dims:
        return x.prod()
    for d in dims:
        x = x.prod(d, keepdim=keepdim)
    return x


@pytest.mark.parametrize("op", sorted(REDUCE) + ["prod"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + (torch.bool,))
@pytest.mark.parametrize("shape,axes", SHAPES_AXES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduce(op, dtype, shape, axes, keepdim):
    if op == "mean" and not dtype.is_floating_point or op in ("sum", "prod") and dtype == torch.bool:
        pytest.skip("rejected by inference (see test_reduce_errors)")
    x = _input(shape, dtype, seed=len(shape) + len(axes))
    if op == "prod" and dtype.is_floating_point:
        x = (x.float().abs() * 0.5 + 0.6).to(dtype)  # products of up to 60 factors stay in range
    (out,) = run_network(lambda n, a: n.add_reduce(a, op, axes, keepdim), [x], roundtrip=keepdim)
    fn = _prod if op == "prod" else REDUCE[op]
    dims = list(axes) if axes else None
    if op == "prod":
        expected = reference(lambda t: fn(t, list(axes), keepdim), x)
    elif op in ("any", "all"):
        expected = fn(x, dims, keepdim)
    else:
        expected = reference(lambda t: fn(t, dims if dims else list(range(t.dim())), keepdim), x)
    out_dtype = torch.bool if op in ("any", "all") else dtype
    if out_dtype.is_floating_point:
        expected = expected.to(dtype)  # the engine rounds once to the input dtype
    assert_close(out, expected, out_dtype, msg=f"{op} {dtype} {shape} axes {axes}")


def test_reduce_nan_and_int_wrap():
    x = torch.tensor([[1.0, float("nan"), 3.0], [-1.0, -2.0, -3.0]])
    for op, fn in (("max", torch.amax), ("min", torch.amin), ("sum", torch.sum)):
        (out,) = run_network(lambda n, a: n.add_reduce(a, op, [1]), [x])
        assert_close(out, fn(x, 1), msg=op)
    (out,) = run_network(lambda n, a: n.add_reduce(a, "any", [1]), [x])
    assert_close(out, torch.any(x, 1), msg="any NaN")
    i8 = torch.tensor([100, 100, 7], dtype=torch.int8)
    (out,) = run_network(lambda n, a: n.add_reduce(a, "sum"), [i8])
    assert_close(out, torch.sum(i8, dtype=torch.int8), msg="int8 wrap")


def test_reduce_large_bfloat16_sum():
    x = randn(4, 4096, dtype=torch.bfloat16, seed=3)
    (out,) = run_network(lambda n, a: n.add_reduce(a, "sum", [1]), [x])
    # Accumulated in float32 or better; the single bfloat16 rounding of a sum of ~64 is within tolerance.
    assert_close(out, x.float().sum(1).to(torch.bfloat16), msg="bf16 sum")


def test_reduce_errors():
    net = tf.Network()
    x = net.add_input("x", torch.int32, (2, 0))
    with pytest.raises(tf.Error, match="'mean' needs a floating-point input"):
        net.add_reduce(x, "mean")
    with pytest.raises(tf.Error, match="'max' over an empty extent has no value"):
        net.add_reduce(x, "max", [1])
    with pytest.raises(tf.Error, match="listed more than once"):
        net.add_reduce(x, "sum", [0, -2])
    with pytest.raises(tf.Error, match="unknown reduce op 'median'"):
        net.add_reduce(x, "median")


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((2, 3, 5), 1), ((2, 3, 5), -1), ((4, 1, 3), 1), ((3, 9), 0),
                                        ((), 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_arg_reduce(op, dtype, shape, axis, keepdim):
    x = _input(shape, dtype, seed=5, lo=-2, hi=3)  # few distinct values: ties resolve to the first index
    if dtype.is_floating_point:
        x = x.round()
    fn = getattr(torch, op)
    (out,) = run_network(lambda n, a: n.add_arg_reduce(a, op, axis, keepdim), [x], roundtrip=keepdim)
    assert_close(out, fn(x, axis, keepdim=keepdim), torch.int64, msg=f"{op} {dtype} {shape}")


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reduce_nan_counts_as_extreme(op):
    x = torch.tensor([[1.0, float("nan"), 5.0, float("nan")], [3.0, -1.0, 7.0, 7.0]])
    (out,) = run_network(lambda n, a: n.add_arg_reduce(a, op, 1), [x])
    assert_close(out, getattr(torch, op)(x, 1), torch.int64, msg=op)


def test_arg_reduce_rejects_bool():
    net = tf.Network()
    with pytest.raises(tf.Error, match="does not take bool"):
        net.add_arg_reduce(net.add_input("b", torch.bool, (3,)), "argmax", 0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((2, 3, 5), 1), ((2, 3, 5), -1), ((2, 3, 5), 0), ((4, 1, 3), 1),
                                        ((3, 40), 1), ((), 0)])
def test_cumsum(dtype, shape, axis):
    x = _input(shape, dtype, seed=7)
    (out,) = run_network(lambda n, a: n.add_cumsum(a, axis), [x], roundtrip=axis == 1)
    if dtype.is_floating_point:
        expected = reference(lambda t: torch.cumsum(t, axis), x).to(dtype)
    else:  # in the integer's own type (the converter casts to int64 first where PyTorch promotes)
        expected = torch.cumsum(x, axis, dtype=dtype)
    assert_close(out, expected, dtype, msg=f"cumsum {dtype} {shape}")


def test_cumsum_int8_wraps():
    x = torch.tensor([100, 100, 100], dtype=torch.int8)
    (out,) = run_network(lambda n, a: n.add_cumsum(a, 0), [x])
    assert_close(out, torch.cumsum(x, 0, dtype=torch.int8), msg="int8 wrap")


def _check_topk(x, values, indices, k, axis, largest, sorted_, msg):
    ev, ei = torch.topk(reference(lambda t: t, x), k, axis, largest=largest, sorted=True)
    if not sorted_:  # torch leaves the order unspecified; the engine returns it sorted
        ev = torch.sort(ev, dim=axis, descending=largest).values
    assert_close(values, ev.to(x.dtype), x.dtype, msg=msg + " values")
    assert indices.dtype == torch.int64, msg
    # The indices must point at the values (torch does not guarantee which index a tie reports).
    assert_close(x.gather(axis, indices), values, x.dtype, msg=msg + " gather")
    return ei


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64, torch.int8, torch.uint8))
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((2, 5, 3), 1), ((2, 5, 3), -1), ((4, 1), 1), ((3, 33), 1)])
@pytest.mark.parametrize("kfrac", [0.0, 0.3, 1.0])  # k >= 1: k = 0 (an empty output) is tested in C++
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("sorted_", [True, False])
def test_topk(dtype, shape, axis, kfrac, largest, sorted_):
    k = max(1, int(round(shape[axis] * kfrac)))
    if dtype.is_floating_point:
        x = randn(*shape, dtype=torch.float32, seed=11)
        x = x.to(dtype)
    else:
        x = _input(shape, dtype, seed=11, lo=-50, hi=50)
    values, indices = run_network(lambda n, a: n.add_topk(a, k, axis, largest, sorted_), [x], roundtrip=sorted_)
    msg = f"topk {dtype} {shape} axis {axis} k {k} largest {largest}"
    ei = _check_topk(x, values, indices, k, axis, largest, sorted_, msg)
    distinct = all(len(set(r.tolist())) == r.numel() for r in x.movedim(axis, -1).reshape(-1, x.shape[axis]))
    if sorted_ and distinct:  # without ties the indices are unique, so they must match torch's exactly
        assert torch.equal(indices, ei), msg


def test_topk_ties_lower_index_first_and_nan_largest():
    x = torch.tensor([[2.0, 5.0, 2.0, 5.0, float("nan"), 1.0]])
    values, indices = run_network(lambda n, a: n.add_topk(a, 4), [x])
    assert_close(values, torch.tensor([[float("nan"), 5.0, 5.0, 2.0]]), msg="values")
    assert torch.equal(indices, torch.tensor([[4, 1, 3, 0]])), indices  # ties: lower index first
    values, indices = run_network(lambda n, a: n.add_topk(a, 3, largest=False), [x])
    assert_close(values, torch.tensor([[1.0, 2.0, 2.0]]), msg="smallest")
    assert torch.equal(indices, torch.tensor([[5, 0, 2]])), indices
    _check_topk(x, values, indices, 3, -1, False, True, "torch smallest")


def test_topk_errors():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (2, 3))
    with pytest.raises(tf.Error, match=r"k must be in \[0, 3\]"):
        net.add_topk(x, 4)
    with pytest.raises(tf.Error, match="floating-point or integer"):
        net.add_topk(net.add_input("b", torch.bool, (3,)), 1)
