"""Converters of indexing ops (index_select, embedding, gather, index.Tensor, scatter src/value/
reduce, scatter_add, scatter_reduce) against eager over several shapes, every data dtype and
int32/int64 indices, several index tensors (adjacent, separated by a slice, broadcast, negative,
out of range), index_put at one index tensor; unsupported variants (mean, include_self=False) stay in PyTorch and still give the
right answer."""

import pytest
import torch
import torch.nn.functional as F

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten
DTYPES = FLOAT_DTYPES + (torch.int32, torch.int64, torch.bool)


def data(shape, dtype, seed=0):
    x = randn(*shape, seed=seed) * 5
    return (x > 0) if dtype == torch.bool else x.to(dtype)


def rand_index(shape, high, seed=0, dtype=torch.int64):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=g).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("shape", [(4, 5, 6), (3, 7), (6,)])
def test_index_select_and_index_tensor(dtype, index_dtype, shape):
    x = data(shape, dtype)
    i = rand_index((5,), min(shape), 1, index_dtype)
    neg = -1 - rand_index((2, 3), min(shape), 2)  # negative indices count from the end

    def fn(x, i, neg):
        out = [x.index_select(0, i), x.index_select(-1, i), x[i], x[neg], x.index_select(0, i[2])]
        if x.dim() > 1:
            out += [x[:, i], x[:, neg], x[..., i]]
        return out
    check_converter(fn, [x, i, neg], [aten.index_select.default, aten.index.Tensor], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("index_shape", [(5,), (2, 3), (2, 1, 4)])
def test_embedding(dtype, index_shape):
    emb = torch.nn.Embedding(10, 4, padding_idx=0).to(dtype)
    i = rand_index(index_shape, 10, 3)
    check_converter(emb, [i], [aten.embedding.default], msg=f"{dtype} {index_shape}")
    w = data((7, 3), dtype)
    check_converter(lambda w, i: F.embedding(i, w), [w, rand_index(index_shape, 7, 4, torch.int32)],
                    [aten.embedding.default], msg=f"{dtype} {index_shape} int32")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dtype, dim):
    x = data((4, 5, 6), dtype)
    size = [3, 2, 4]
    i = rand_index(tuple(size), x.shape[dim], 5)
    check_converter(lambda x, i: torch.gather(x, dim, i), [x, i],
                    [aten.gather.default], msg=f"{dtype} {dim}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_src_value(dtype, dim):
    x, src = data((4, 5, 6), dtype, 1), data((4, 5, 6), dtype, 2)
    i = rand_index((3, 2, 4), x.shape[dim], 6)
    value = True if dtype == torch.bool else 3
    check_converter(lambda x, i, src: (x.scatter(dim, i, src), x.scatter(dim, i, value)), [x, i, src],
                    [aten.scatter.src, aten.scatter.value], msg=f"{dtype} {dim}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("dim", [0, -1])
def test_scatter_reductions(dtype, dim):
    x, src = data((4, 5, 6), dtype, 1), data((4, 5, 6), dtype, 2)
    i = rand_index((4, 5, 6), x.shape[dim], 7)  # many duplicates: the reductions apply in index order
    check_converter(lambda x, i, src: (x.scatter_add(dim, i, src), x.scatter_reduce(dim, i, src, "sum"),
                                       x.scatter_reduce(dim, i, src, "prod"), x.scatter_reduce(dim, i, src, "amax"),
                                       x.scatter_reduce(dim, i, src, "amin"), x.scatter(dim, i, src, reduce="add"),
                                       x.scatter(dim, i, src, reduce="multiply"), x.scatter(dim, i, 2, reduce="add")),
                    [x, i, src], [aten.scatter_add.default, aten.scatter_reduce.two, aten.scatter.reduce,
                                  aten.scatter.value_reduce], msg=f"{dtype} {dim}",
                    # prod of several float16/bfloat16 factors is rounded per step by both sides,
                    # in different association when torch vectorizes: allow a few ulps
                    **({"atol": 0.5, "rtol": 4e-2} if dtype in (torch.float16, torch.bfloat16) else {}))


def test_scatter_with_unique_indices_is_exact():
    x, src = randn(3, 8, seed=1), randn(3, 8, seed=2)
    i = torch.stack([torch.randperm(8, generator=torch.Generator().manual_seed(k)) for k in range(3)])
    check_converter(lambda x, i, src: x.scatter(1, i, src), [x, i, src], [aten.scatter.src])


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_tensor_with_several_indices(dtype):
    x = data((4, 5, 6), dtype)
    i = rand_index((3,), 4, 1)
    j = -1 - rand_index((3,), 5, 2)  # negative: from the end
    k = rand_index((2, 1), 6, 3, torch.int32)  # broadcasts against j's (3,)

    def fn(x, i, j, k):
        return [x[i, j], x[:, j, k], x[i, :, k.reshape(-1)[:1]], x[i, j, k], x[..., j, k], x[i, j, :2],
                x.transpose(0, 1)[j, i]]
    report = check_converter(fn, [x, i, j, k], [aten.index.Tensor], msg=str(dtype))
    assert "aten.index.Tensor" not in report.unsupported


def test_index_tensor_pooling_by_computed_positions():
    # CLIP's text pooling: each sequence's hidden state at its largest token id
    hidden, ids = randn(3, 7, 8, seed=1), rand_index((3, 7), 50, 2)
    check_converter(lambda h, ids: h[torch.arange(h.shape[0]), ids.argmax(-1)] * 2, [hidden, ids],
                    [aten.index.Tensor])


def test_index_tensor_with_several_indices_out_of_range_fails():
    # An index past its own dim must fail, not read the element the combined index lands on
    # (x[0, 5] of a [4, 5] tensor would be x[1, 0] in the flattened dims).
    x = randn(4, 5, seed=1)
    compiled = torch.compile(lambda x, i, j: x[i, j] * 2, backend="tensorforge", dynamic=False,
                             options={"min_block_size": 1})
    good = compiled(x, torch.tensor([0, 3]), torch.tensor([4, -5]))
    torch.testing.assert_close(good, x[torch.tensor([0, 3]), torch.tensor([4, -5])] * 2)
    with pytest.raises(Exception, match="out of range"):
        compiled(x, torch.tensor([0, 3]), torch.tensor([5, 0]))
    with pytest.raises(Exception, match="out of range"):
        compiled(x, torch.tensor([0, 3]), torch.tensor([0, -6]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_with_one_index(dtype, accumulate):
    if accumulate and dtype == torch.bool:
        pytest.skip("a bool sum stays in PyTorch (index_put's capability refuses it)")
    x = data((3, 7, 4), dtype)
    i = torch.tensor([5, 0, -1, 2])  # negative: from the end
    v = data((3, 4, 4), dtype, seed=1)
    row = data((4,), dtype, seed=2)  # broadcast over the slices
    put = torch.ops.aten.index_put.default

    def fn(x, i, v, row):
        return (put(x, [None, i], v, accumulate), put(x, [i[2:]], row, accumulate),
                put(x, [None, None, i[:3].remainder(4)], x[:, :, :1], accumulate))
    check_converter(fn, [x, i, v, row], [put], msg=f"{dtype} {accumulate}")


def test_unsupported_indexing_stays_in_pytorch():
    x, src = randn(4, 5, seed=1), randn(4, 5, seed=2)
    idx = rand_index((4, 5), 5, 3)
    report = check_converter(
        lambda x, idx, src: (x.scatter_reduce(1, idx, src, "mean"),
                             x.scatter_reduce(1, idx, src, "sum", include_self=False), x * 2),
        [x, idx, src], [aten.mul.Tensor])
    assert report.unsupported["aten.scatter_reduce.two"]["count"] == 2
