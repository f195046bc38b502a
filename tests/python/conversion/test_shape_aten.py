"""Converters of shape ops (views, permutes, expand, (un)squeeze, cat/stack, splits, slicing,
identity copies, slice_scatter, repeat, flip, roll, diagonal, unfold, as_strided) against eager over several shapes and
every dtype (floats, int32, int64, bool); they move data only, so results must match exactly."""

import pytest
import torch

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten
DTYPES = FLOAT_DTYPES + (torch.int32, torch.int64, torch.bool)
SHAPES = [(2, 3, 4), (1, 5, 6), (3, 2, 2)]


def data(shape, dtype, seed=0):
    x = randn(*shape, seed=seed) * 5
    return (x > 0) if dtype == torch.bool else x.to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_views_and_permutes(dtype, shape):
    a, b, c = shape
    check_converter(lambda x: (x.view(a * b, c), x.reshape(c, a * b), x.permute(2, 0, 1), x.transpose(0, 2),
                               x.unsqueeze(1), x.unsqueeze(-1), x[:, :1].squeeze(1), x[:1].squeeze(),
                               x.flatten(1), x.movedim(0, -1), x.mT, x.view(-1)),
                    [data(shape, dtype)],
                    [aten.view.default, aten.permute.default, aten.transpose.int, aten.unsqueeze.default,
                     aten.squeeze.dim, aten.squeeze.dims, aten.slice.Tensor], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_t_expand_repeat(dtype):
    x = data((3, 4), dtype)
    check_converter(lambda x: (x.t(), x[:1].expand(5, 4), x[:, :1].expand(2, 3, 6), x.repeat(2, 1, 3), x.tile(2),
                               x[0].t()),
                    [x], [aten.t.default, aten.expand.default, aten.repeat.default], msg=str(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_cat_stack(dtype, shape):
    x, y = data(shape, dtype, 1), data(shape, dtype, 2)
    check_converter(lambda x, y: (torch.cat([x, y], 1), torch.cat([x, y, x], -1), torch.stack([x, y], 0),
                                  torch.stack([x, y, x], -1), torch.cat([x, torch.empty(0, dtype=x.dtype)])),
                    [x, y], [aten.cat.default, aten.stack.default], msg=f"{dtype} {shape}")


def test_cat_promotes_dtypes():
    x, y = data((2, 3), torch.int32), data((2, 3), torch.float16)
    check_converter(lambda x, y: (torch.cat([x, y]), torch.stack([y, x])), [x, y],
                    [aten.cat.default, aten.stack.default])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_split_chunk_unbind(dtype, shape):
    check_converter(lambda x: (x.split(2, -1), x.split([1, shape[1] - 1], 1), x.chunk(2, 2), x.unbind(1),
                               x.unbind(-1)),
                    [data(shape, dtype)],
                    [aten.split.Tensor, aten.split_with_sizes.default, aten.unbind.int], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_slice_select_narrow(dtype, shape):
    check_converter(lambda x: (x[:, 1:], x[..., ::2], x[:, -2:], x[1:-1], x[:, 1], x[..., -1], x.narrow(2, 1, 1),
                               x[:, 5:], x[::3, ::2, 1::2]),
                    [data(shape, dtype)], [aten.slice.Tensor, aten.select.int], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_slice_scatter(dtype):
    x, s = data((3, 5, 4), dtype), data((3, 5, 4), dtype, seed=1)
    check_converter(lambda x, s: (aten.slice_scatter.default(x, s[:, :4], 1, 1),          # BART's shift right
                                  aten.slice_scatter.default(x, s[:, :2], 1, 0, 2),       # at the start
                                  aten.slice_scatter.default(x, s[:, 1:4], 1, -3),        # negative start
                                  aten.slice_scatter.default(x, s[..., :2], 2, 0, 4, 2),  # a step: scattered
                                  aten.slice_scatter.default(x, s[:, :1], 1, 1, 9, 5),    # end clamped
                                  aten.slice_scatter.default(x, s, 0)),                   # everything
                    [x, s], [aten.slice_scatter.default], msg=str(dtype))


def test_slice_scatter_promotes_src_and_an_empty_slice_copies():
    x, s = randn(2, 6, seed=2), randn(2, 3, seed=3).half()
    check_converter(lambda x, s: (aten.slice_scatter.default(x * 1, s, 1, 3) + 1,
                                  aten.slice_scatter.default(x * 2, s[:, :0], 1, 4, 4)),
                    [x, s], [aten.slice_scatter.default])


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy_variants(dtype):
    x = data((2, 3, 4), dtype)
    check_converter(lambda x: (aten.narrow_copy.default(x, 1, -2, 2), aten.slice_copy.Tensor(x, 2, 1, 3),
                               aten.view_copy.default(x, [6, 4]), aten.permute_copy.default(x, [1, 0, 2]),
                               aten.select_copy.int(x, 2, -1)),
                    [x], [aten.narrow_copy.default, aten.slice_copy.Tensor, aten.view_copy.default,
                          aten.permute_copy.default, aten.select_copy.int], msg=str(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_clone_alias_of_inputs(dtype):
    x = data((2, 3), dtype)
    # alias is a no-op the lowering removes; the returned copies of the input stay clones.
    check_converter(lambda x: (x.clone(), aten.alias.default(x)), [x], [aten.clone.default], msg=str(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_flip_roll(dtype, shape):
    check_converter(lambda x: (x.flip(0), x.flip(-1, 1), x.roll(1, 2), x.roll((-1, 5), (0, 1)), x.roll(3)),
                    [data(shape, dtype)], [aten.flip.default, aten.roll.default], msg=f"{dtype} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (2, 3, 5)])
def test_diagonal_unfold(dtype, shape):
    check_converter(lambda x: (x.diagonal(), x.diagonal(1), x.diagonal(-1), x.diagonal(0, -1, 0), x.unfold(-1, 2, 1),
                               x.unfold(0, 2, 2), x.unfold(-1, 3, 2)),
                    [data(shape, dtype)], [aten.diagonal.default, aten.unfold.default], msg=f"{dtype} {shape}")


def test_slice_bounds_clamp():
    x = data((4, 6), torch.float32)
    check_converter(lambda x: (x[:, -100:100], x[10:], x[:, :-100]), [x], [aten.slice.Tensor])


@pytest.mark.parametrize("dtype", DTYPES)
def test_as_strided(dtype):
    """torch.as_strided of a contiguous tensor (overlapping windows, a broadcast stride, an offset, the
    1x1 adaptive average pool's as_strided) becomes the engine's as_strided layer."""
    x = data((4, 6), dtype)
    check_converter(lambda x: (x.as_strided((3, 2), (6, 1), 1), x.as_strided((5, 3), (4, 1)),
                               x.as_strided((2, 3, 2), (0, 5, 2), 3), (x * 2).as_strided((24,), (1,))),
                    [x], [aten.as_strided.default], msg=f"{dtype}")


def test_as_strided_of_a_view_counts_from_its_storage():
    """as_strided reads the input's storage: over a slice of a graph input (storage offset 6) the
    offset is absolute, so the engine's contiguous copy starts at element 6 - 6 = 0 of the slice."""
    check_converter(lambda x: (x + 1)[1:].as_strided((2, 3), (3, 1), 6), [data((4, 6), torch.float32)],
                    [aten.as_strided.default])


def test_as_strided_reads_the_storage_owner():
    """The view before the traced input's first element: as_strided_base rewrites it over relu's output
    (the storage's owner), so the engine reads the elements eager reads."""
    check_converter(lambda x: torch.relu(x)[1:].as_strided((2, 2), (6, 1), 0), [data((4, 6), torch.float32)],
                    [aten.as_strided.default])


def test_as_strided_of_transposed_values():
    """A transposed graph input and an elementwise op of it (eager keeps the transposed strides): their
    storage is their transpose's contiguous copy, which as_strided_base inserts and the engine reads."""
    x = data((6, 4), torch.float32).t()
    check_converter(lambda x: ((x * 1).as_strided((3, 3), (4, 1), 2), x.as_strided((2, 2), (1, 4), 1)),
                    [x], [aten.as_strided.default])


def test_as_strided_of_a_strided_view_input_stays_in_pytorch():
    """A graph input that is a strided window of a larger tensor holds no storage of its own the engine
    could copy: the node stays in PyTorch, which reads the caller's storage, and matches eager."""
    x = data((4, 6), torch.float32)[:, 1:4]
    report = check_converter(lambda x: (torch.relu(x), x.as_strided((2, 2), (6, 1), 2)), [x], [],
                             expect_engine=False)
    assert "aten.as_strided.default" in report.unsupported
