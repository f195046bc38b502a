"""CUDA kernels of the data-movement layers (reshape, transpose, expand, slice, concat, split,
select, fill, arange, gather, prelu) against the CPU kernels: the same network built for both
devices, over odd sizes, size-1 and empty dims, broadcasts, rows longer than 1024 elements,
non-contiguous inputs and every accepted dtype. Data movement is exact, so every dtype compares
bit for bit (close() uses the float tolerances, which an exact copy meets trivially)."""

import pytest
import torch

from cuda_harness import check

pytestmark = pytest.mark.cuda

ALL = (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64, torch.bool, torch.uint8)
FLOAT = (torch.float32, torch.float16, torch.bfloat16)


def data(shape, dtype, seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 20
    return x > 0 if dtype == torch.bool else x.to(dtype)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,perm", [((2, 3, 4), (2, 0, 1)), ((5, 7), (1, 0)), ((33, 1100), (1, 0)),
                                        ((4, 1, 6), (1, 2, 0)), ((2, 3, 4, 5), (0, 2, 1, 3)), ((4, 6), (-1, 0)),
                                        ((3, 0, 2), (2, 1, 0)), ((7,), (0,)),
                                        # innermost dim kept: copied 16 bytes at a time where it divides
                                        ((2, 5, 3, 64), (0, 2, 1, 3)), ((3, 4, 128), (1, 0, 2)),
                                        # NCHW -> NHWC of 2-4 planes: a pixel a thread (interleave_kernel)
                                        ((2, 3, 17, 19), (0, 2, 3, 1)), ((1, 4, 9, 8), (0, 2, 3, 1)),
                                        ((3, 2, 5, 7), (0, 2, 3, 1)), ((3, 11), (1, 0)), ((2, 3, 5, 6, 7), (0, 2, 3, 4, 1))])
def test_transpose(dtype, shape, perm):
    check(lambda n, t: n.add_transpose(t, perm), [data(shape, dtype)], f"transpose {dtype} {shape} {perm}")


@pytest.mark.parametrize("dtype", ALL)
def test_transpose_non_contiguous_input(dtype):
    x = data((37, 1030), dtype).t()  # (1030, 37), not contiguous on the torch side
    check(lambda n, t: n.add_transpose(t, (1, 0)), [x], f"transpose .t() {dtype}")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,target", [((6, 7), (42,)), ((2, 3, 5), (5, 6)), ((1025, 3), (3, 1025)),
                                          ((3, 0), (0, 3)), ((), (1, 1))])
def test_reshape(dtype, shape, target):
    check(lambda n, t: n.add_reshape(t, target), [data(shape, dtype)], f"reshape {dtype} {shape}->{target}")


def test_reshape_non_contiguous_input():
    x = data((5, 9), torch.float32).t()
    check(lambda n, t: n.add_reshape(t, (45,)), [x], "reshape .t()")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,target", [((3, 1), (3, 5)), ((1,), (2, 3, 4)), ((4, 1, 3), (2, 4, 7, 3)),
                                          ((1, 1), (1, 2000)), ((5,), (5,)), ((2, 1), (2, 0))])
def test_expand(dtype, shape, target):
    check(lambda n, t: n.add_expand(t, target), [data(shape, dtype)], f"expand {dtype} {shape}->{target}")


SLICES = [((10,), (0,), (2,), (9,), (3,)), ((4, 6, 5), (2, 0), (-100, 1), (100, -1), (2, 1)),
          ((3, 1200), (1,), (5,), (1190,), (7,)), ((5, 4), (0,), (3,), (3,), ()), ((2, 3, 4), (-1,), (1,), (3,), ()),
          ((6, 5), (0, 1), (1, 0), (5, 5), (2, 2)), ((4, 6, 64), (1,), (1,), (5,), (1,))]


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,axes,starts,ends,steps", SLICES)
def test_slice(dtype, shape, axes, starts, ends, steps):
    check(lambda n, t: n.add_slice(t, axes, starts, ends, steps), [data(shape, dtype)],
          f"slice {dtype} {shape} {axes} {starts} {ends} {steps}")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shapes,axis", [(((2, 3), (2, 5), (2, 1)), 1), (((1, 4), (3, 4)), 0), (((3, 5),), -1),
                                         (((2, 0, 3), (2, 4, 3)), 1), (((3, 700), (3, 500)), -1),
                                         (((2, 3, 5), (2, 3, 5), (2, 3, 5)), 2),
                                         (((2, 5, 32), (2, 5, 64)), -1)])  # 16 bytes at a time
def test_concat(dtype, shapes, axis):
    xs = [data(s, dtype, seed=i) for i, s in enumerate(shapes)]
    check(lambda n, *ts: n.add_concat(ts, axis=axis), xs, f"concat {dtype} {shapes} {axis}")


def test_concat_non_contiguous_input():
    a, b = data((4, 3), torch.float32).t(), data((2, 4), torch.float32, seed=1)
    check(lambda n, x, y: n.add_concat([x, y], axis=0), [a, b], "concat .t()")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,sizes,axis", [((5, 4), (2, 0, 3), 0), ((2, 7, 3), (1, 6), -2), ((3,), (3,), 0),
                                              ((0, 4), (4, 0), 1), ((3, 2100), (1000, 1100), 1),
                                              ((2, 5, 3), (1, 1, 1), 2),
                                              ((2, 6, 192), (64, 64, 64), 2)])  # a fused QKV split, 16 B at a time
def test_split(dtype, shape, sizes, axis):
    check(lambda n, t: n.add_split(t, sizes, axis=axis), [data(shape, dtype)], f"split {dtype} {shape} {sizes} {axis}")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("sc,sa,sb", [((7,), (7,), (7,)), ((2, 1, 5), (3, 1), (1,)), ((), (4, 3), (3,)),
                                      ((1, 1100), (3, 1), (3, 1100)), ((4, 0), (4, 1), ()), ((3, 4), (3, 4), (3, 4))])
def test_select(dtype, sc, sa, sb):
    c = data(sc, torch.bool, seed=3)
    a, b = data(sa, dtype, seed=4), data(sb, dtype, seed=5)
    check(lambda n, x, y, z: n.add_select(x, y, z), [c, a, b], f"select {dtype} {sc} {sa} {sb}")


def test_select_non_contiguous_input():
    c = data((5, 6), torch.bool, seed=3).t()
    a, b = data((6, 5), torch.float32, seed=4), data((5, 6), torch.float32, seed=5).t()
    check(lambda n, x, y, z: n.add_select(x, y, z), [c, a, b], "select .t()")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape", [(2, 3), (1,), (0, 4), (3, 1500)])
def test_fill(dtype, shape):
    for value in (1, -2.5, 0, 300.75):
        check(lambda n: n.add_fill(shape, value, dtype), [], f"fill {dtype} {shape} {value}")


@pytest.mark.parametrize("dtype", [d for d in ALL if d != torch.bool])  # arange cannot produce bool
@pytest.mark.parametrize("size,start,step", [(5, -2, 3), (1, 0, 1), (0, 1, 1), (2000, 0.5, 0.25), (37, 10, -0.7)])
def test_arange(dtype, size, start, step):
    check(lambda n: n.add_arange(size, start=start, step=step, dtype=dtype), [], f"arange {dtype} {size} {start} {step}")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("itype", (torch.int32, torch.int64))
@pytest.mark.parametrize("shape,ishape,axis", [((5, 4), (3,), 0), ((5, 4), (2, 3), 1), ((3, 7, 2), (4,), -2),
                                               ((50, 1100), (6,), 0), ((4, 3), (0,), 0), ((4, 3), (), 1),
                                               ((2, 3, 4), (1, 1), 2), ((7, 64), (5,), 0), ((3, 6, 12), (4,), 1)])
def test_gather_take(dtype, itype, shape, ishape, axis):
    n = shape[axis]
    idx = torch.randint(-n, n, ishape, generator=torch.Generator().manual_seed(6)).to(itype)
    check(lambda net, x, i: net.add_gather(x, i, axis=axis), [data(shape, dtype), idx],
          f"gather take {dtype} {itype} {shape} {ishape} {axis}")


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("itype", (torch.int32, torch.int64))
@pytest.mark.parametrize("shape,ishape,axis", [((5, 4), (3, 4), 0), ((5, 4), (5, 9), 1), ((3, 7, 2), (2, 5, 1), -2),
                                               ((3, 1100), (2, 1500), 1), ((4, 3), (0, 3), 0), ((1,), (6,), 0)])
def test_gather_elements(dtype, itype, shape, ishape, axis):
    n = shape[axis]
    idx = torch.randint(-n, n, ishape, generator=torch.Generator().manual_seed(7)).to(itype)
    check(lambda net, x, i: net.add_gather(x, i, axis=axis, mode="elements"), [data(shape, dtype), idx],
          f"gather elements {dtype} {itype} {shape} {ishape} {axis}")


def test_gather_out_of_range_writes_zero_on_cuda():
    """CPU raises for an out-of-range index; CUDA cannot raise and writes 0 at that position."""
    import tensorforge as tf

    x = torch.arange(1, 13, dtype=torch.float32).reshape(4, 3)
    idx = torch.tensor([1, 7, -5, -1], dtype=torch.int64)
    net = tf.Network()
    tx, ti = net.add_input("x", x.dtype, tuple(x.shape)), net.add_input("i", idx.dtype, tuple(idx.shape))
    net.mark_output(net.add_gather(tx, ti, axis=0), "y")
    (out,) = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)(x.cuda(), idx.cuda())
    expect = torch.stack([x[1], torch.zeros(3), torch.zeros(3), x[3]])
    assert torch.equal(out.cpu(), expect)


@pytest.mark.parametrize("dtype", FLOAT)
@pytest.mark.parametrize("shape,wshape", [((2, 3, 4, 5), (3, 1, 1)), ((7,), (7,)), ((6, 1100), (1,)),
                                          ((3, 5), ()), ((0, 3), (3,)), ((2, 3, 9), (2, 3, 9))])
def test_prelu(dtype, shape, wshape):
    x = data(shape, dtype)
    w = (torch.rand(wshape, generator=torch.Generator().manual_seed(9)) * 0.5).to(dtype)
    check(lambda n, t: n.add_prelu(t, w), [x], f"prelu {dtype} {shape} {wshape}")


def test_prelu_non_contiguous_input():
    x = data((9, 4), torch.float32).t()
    w = torch.rand(9) * 0.3
    check(lambda n, t: n.add_prelu(t, w), [x], "prelu .t()")
