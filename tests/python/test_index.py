"""Indexing layers through the Python API against torch: gather "take" (torch.index_select,
F.embedding, x[idx] along one axis with an index of any rank), gather "elements" (torch.gather),
scatter (torch.scatter and torch.scatter_reduce with include_self=True). Index int32 and int64."""

import pytest
import torch
import torch.nn.functional as F

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, reference, run_network

DTYPES = FLOAT_DTYPES + (torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool)
INDEX_DTYPES = (torch.int64, torch.int32)
TORCH_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def _input(shape, dtype, seed=0, lo=-100, hi=100):
    if dtype.is_floating_point:
        return randn(*shape, dtype=dtype, seed=seed)
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    return torch.randint(max(lo, 0) if dtype == torch.uint8 else lo, hi, shape, generator=g).to(dtype)


def _index(shape, n, dtype, seed=0, negative=True):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-n if negative else 0, n, shape, generator=g).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("shape,axis,m", [((5, 3), 0, 7), ((5, 3), 1, 4), ((3, 4, 5), -1, 6), ((1,), 0, 5),
                                          ((2, 7, 3), 1, 0)])
def test_index_select(dtype, index_dtype, shape, axis, m):
    x = _input(shape, dtype)
    idx = _index((m,), shape[axis], index_dtype, seed=1, negative=False)
    (out,) = run_network(lambda n, a, i: n.add_gather(a, i, axis=axis), [x, idx])
    assert_close(out, torch.index_select(x, axis, idx.long()), dtype, msg=f"index_select {shape} {axis}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("index_shape", [(2, 3), (4,), (1, 1, 5), ()])
def test_embedding(dtype, index_dtype, index_shape):
    table = randn(10, 4, dtype=dtype, seed=2)
    idx = _index(index_shape, 10, index_dtype, seed=3, negative=False)
    (out,) = run_network(lambda n, w, i: n.add_gather(w, i), [table, idx], roundtrip=True)
    assert_close(out, F.embedding(idx, table), dtype, msg=f"embedding {index_shape}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis,index_shape", [((6, 2), 0, ()), ((3, 4, 5), 1, (2, 3)), ((3, 4, 5), -1, (2, 1, 2)),
                                                    ((4, 3), 0, (0,)), ((2, 7, 3), 2, (4,))])
def test_take_with_negative_indices_like_python_indexing(dtype, shape, axis, index_shape):
    x = _input(shape, dtype, seed=4)
    idx = _index(index_shape, shape[axis], torch.int64, seed=5)
    axis_n = axis % len(shape)
    (out,) = run_network(lambda n, a, i: n.add_gather(a, i, axis=axis), [x, idx])
    assert_close(out, x[(slice(None),) * axis_n + (idx,)], dtype, msg=f"x[idx] {shape} {axis} {index_shape}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("shape,axis,index_shape", [((3, 4), 1, (3, 2)), ((4, 3, 2), 0, (6, 2, 1)),
                                                    ((2, 5), -1, (1, 5)), ((3,), 0, (7,)), ((3, 4), 0, (0, 4)),
                                                    ((2, 3, 5), 2, (2, 3, 5))])
def test_gather_elements(dtype, index_dtype, shape, axis, index_shape):
    x = _input(shape, dtype, seed=6)
    idx = _index(index_shape, shape[axis], index_dtype, seed=7, negative=False)
    (out,) = run_network(lambda n, a, i: n.add_gather(a, i, axis=axis, mode="elements"), [x, idx],
                         roundtrip=dtype == torch.int8)
    assert_close(out, torch.gather(x, axis, idx.long()), dtype, msg=f"gather {shape} {axis} {index_shape}")


def test_gather_elements_negative_indices_count_from_the_end():
    x = randn(3, 4, seed=8)
    idx = torch.tensor([[-1, 0], [-4, 3], [2, -2]])
    (out,) = run_network(lambda n, a, i: n.add_gather(a, i, axis=1, mode="elements"), [x, idx])
    assert_close(out, torch.gather(x, 1, idx % 4))


def _unique_index(shape, axis, n, dtype, seed):
    """Indices with no duplicate along `axis` (each line is part of a random permutation of 0..n-1)."""
    g = torch.Generator().manual_seed(seed)
    moved = list(shape)
    m = moved.pop(axis)
    lines = [torch.randperm(n, generator=g)[:m] for _ in range(int(torch.tensor(moved).prod()) if moved else 1)]
    idx = torch.stack(lines).reshape(*moved, m) if lines else torch.zeros(*moved, m, dtype=torch.long)
    return torch.zeros(shape, dtype=dtype).copy_(idx.movedim(-1, axis))  # row-major strides even when empty


SCATTER_CASES = [((4, 5), 0, (2, 3), (3, 4)), ((4, 5), 1, (4, 5), (4, 5)), ((3, 2, 6), -1, (2, 2, 3), (2, 2, 4)),
                 ((7,), 0, (4,), (5,)), ((3, 4), 0, (0, 4), (1, 4)), ((2, 3), 1, (2, 1), (2, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("case", SCATTER_CASES, ids=[str(c[:2]) for c in SCATTER_CASES])
def test_scatter(dtype, index_dtype, case):
    shape, axis, index_shape, src_shape = case
    x, src = _input(shape, dtype, seed=9), _input(src_shape, dtype, seed=10)
    idx = _unique_index(index_shape, axis % len(shape), shape[axis], index_dtype, seed=11)  # no duplicates
    (out,) = run_network(lambda n, a, i, s: n.add_scatter(a, i, s, axis=axis), [x, idx, src],
                         roundtrip=dtype == torch.float32)
    assert_close(out, torch.scatter(x, axis, idx.long(), src), dtype, msg=f"scatter {case}")


@pytest.mark.parametrize("reduce", sorted(TORCH_REDUCE))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int8, torch.uint8, torch.int32, torch.int64))
@pytest.mark.parametrize("case", SCATTER_CASES, ids=[str(c[:2]) for c in SCATTER_CASES])
def test_scatter_reduce(reduce, dtype, case):
    shape, axis, index_shape, src_shape = case
    lo, hi = (-2, 3) if reduce == "mul" else (-20, 20)  # keep integer products and int8 sums in range
    x, src = _input(shape, dtype, seed=12, lo=lo, hi=hi), _input(src_shape, dtype, seed=13, lo=lo, hi=hi)
    idx = _index(index_shape, shape[axis], torch.int64, seed=14, negative=False)  # duplicates on purpose
    (out,) = run_network(lambda n, a, i, s: n.add_scatter(a, i, s, axis=axis, reduce=reduce), [x, idx, src],
                         roundtrip=reduce == "add")
    # The reference runs in float32 for float16/bfloat16; the engine rounds to the dtype after every step as
    # torch does on those dtypes, which stays within the dtype's tolerance for these few duplicates.
    expected = reference(lambda a, s: torch.scatter_reduce(a, axis, idx, s, TORCH_REDUCE[reduce], include_self=True),
                         x, src)
    assert_close(out, expected, dtype, msg=f"scatter_reduce {reduce} {case}")


def test_out_of_range_index_is_a_runtime_error():
    x = randn(5, 2, seed=15)
    bad = torch.tensor([0, 5])
    with pytest.raises(tf.EngineRuntimeError, match=r"layer 'lookup' \(gather\).*index 5.*extent 5"):
        run_network(lambda n, a, i: n.add_gather(a, i, name="lookup"), [x, bad])
    with pytest.raises(tf.EngineRuntimeError, match=r"layer 'put' \(scatter\).*index -6.*extent 5"):
        run_network(lambda n, a, i, s: n.add_scatter(a, i, s, reduce="add", name="put"),
                    [x, torch.tensor([[0, -6]]), randn(1, 2, seed=16)])


def test_errors_name_the_layer():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (4, 3))
    fi = net.add_input("fi", torch.float32, (2,))
    i = net.add_input("i", torch.int64, (2, 3))
    s = net.add_input("s", torch.int32, (2, 3))
    with pytest.raises(tf.InvalidNetworkError, match=r"layer 'g' \(gather\).*index must be int32 or int64"):
        net.add_gather(x, fi, name="g")
    with pytest.raises(tf.InvalidNetworkError, match="unknown gather mode"):
        net.add_gather(x, i, mode="gather")
    with pytest.raises(tf.InvalidNetworkError, match="src has dtype int32, x has float32"):
        net.add_scatter(x, i, s)
    with pytest.raises(tf.InvalidNetworkError, match="unknown scatter reduce 'sum'"):
        net.add_scatter(x, i, net.add_input("s2", torch.float32, (2, 3)), reduce="sum")
