"""CUDA kernels of topk, cumsum and scatter against the CPU kernels: the same network built for both
devices, over odd sizes, rows short and long (each topk path: a threshold over 16-bit keys, packed
keys in registers, 16-byte keys in registers, one shared-memory sort, rows streamed through shared
memory, rows sorted in the workspace), many ties, NaN/inf/-0.0, empty tensors,
non-contiguous inputs and every accepted dtype. topk matches exactly (values and indices; ties keep
the lower index first). cumsum integers match exactly (wrapping), floats within the dtype tolerance.
scatter: reduce "none" is tested with distinct targets only (which of several writes to one element
lands is unspecified on CUDA); sums and products use values whose results are exact in any order,
so atomics combining duplicates in any order still match the CPU exactly; max/min are exact."""

import pytest
import torch

from cuda_harness import both, check

pytestmark = pytest.mark.cuda

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
NUMERIC = FLOATS + (torch.int8, torch.int32, torch.int64, torch.uint8)
ALL = NUMERIC + (torch.bool,)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def tied(shape, dtype, seed):
    """Values with many ties: quarters in [-4, 4] for floats, small integers otherwise."""
    if dtype.is_floating_point:
        return ((torch.randn(shape, generator=gen(seed)) * 4).round() / 4).to(dtype)
    lo = 0 if dtype == torch.uint8 else -3
    return torch.randint(lo, 4, shape, generator=gen(seed)).to(dtype)


TOPK_CASES = [((7,), 0, 3), ((5, 37), 1, 5), ((5, 37), 0, 5), ((3, 6, 4), 1, 6), ((4, 2048), -1, 17),
              ((3, 5000), -1, 10), ((2, 4100), 1, 1024), ((2, 3000), -1, 1500), ((2, 3000, 3), 1, 1025),
              ((6, 1), -1, 1), ((4, 5), 1, 0), ((0, 5), 1, 2), ((1000, 9), 1, 4), ((2, 2049), 1, 2049),
              ((2, 3000, 3), 1, 10), ((2, 5000), 1, 1), ((3, 2100), 1, 1000), ((2, 1100), 1, 1024),
              ((3, 1024), -1, 16), ((2, 4100, 2), 1, 9), ((4, 9000), 1, 8),
              # packed keys (k <= 16, rows of 64 or more): whole 16-byte words or not, one warp or four,
              # and a row too long for 16-bit indices (2-byte elements go to the 16-byte keys)
              ((33, 4096), -1, 8), ((5, 100), 1, 3), ((3, 640), 1, 16), ((4, 64), 1, 2), ((2, 70000), 1, 5)]


@pytest.mark.parametrize("largest", (True, False))
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("shape,axis,k", TOPK_CASES)
def test_topk(shape, axis, k, dtype, largest):
    check(lambda n, t: n.add_topk(t, k, axis=axis, largest=largest), [tied(shape, dtype, seed=1)],
          f"topk {shape} axis={axis} k={k} {dtype} largest={largest}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_topk_random_values_unsorted_flag(dtype):
    x = torch.randn((3, 2500), generator=gen(2)).to(dtype)
    for largest in (True, False):
        check(lambda n, t: n.add_topk(t, 40, largest=largest, sorted=False), [x], f"topk sorted=0 {dtype} {largest}")


@pytest.mark.parametrize("largest", (True, False))
@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
@pytest.mark.parametrize("shape,k", [((64, 4096), 8), ((9, 4096), 16), ((5, 1000), 1), ((7, 64), 5),
                                     ((3, 1032), 9), ((2, 3000), 16)])
def test_topk_threshold_rows(shape, k, dtype, largest):
    """Rows of 64 to 4096 16-bit floats in whole 16-byte words (the threshold kernel): random values
    (a few candidates above the threshold), rows whose best elements all sit in four lanes' words (more
    candidates than the shared buffer in rows of 4096: the per-lane lists), a constant row, and NaN, infinities and
    signed zeros, whose values are read back rather than rebuilt from their keys."""
    x = torch.randn(shape, generator=gen(4)).to(dtype)
    n = shape[1]
    first4 = (torch.arange(n) // 8) % 32 < 4  # the 16-byte words of lanes 0-3
    x[0] = torch.where(first4, torch.arange(n) / 8.0, -torch.arange(n) / 8.0).to(dtype)
    x[1] = 0.5
    if shape[0] > 2:
        x[2, 7] = x[2, n - 1] = float("nan")
        x[2, 11] = float("inf")
        x[2, 13] = float("-inf")
        x[2, 17] = -0.0
        x[2, 19] = 0.0
    check(lambda net, t: net.add_topk(t, k, largest=largest), [x], f"topk threshold {shape} {k} {dtype} {largest}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_topk_nan_inf_signed_zero(dtype):
    x = tied((4, 3000), dtype, seed=3)
    x[0, 5] = x[0, 2999] = x[1, 100] = float("nan")
    x[0, 7] = x[2, 8] = float("inf")
    x[1, 9] = x[3, 0] = float("-inf")
    x[2, ::7] = 0.0
    x[2, 3::11] = -0.0
    for k in (3, 12, 2000):
        for largest in (True, False):
            check(lambda n, t: n.add_topk(t, k, largest=largest), [x], f"topk special {dtype} k={k} {largest}")


@pytest.mark.parametrize("dtype", (torch.float32, torch.int32, torch.int64, torch.float16))
@pytest.mark.parametrize("n,k", [(6000, 1), (6000, 300), (2100, 7), (2100, 1000), (40000, 64)])
def test_topk_monotonic_rows(n, k, dtype):
    """Ascending and descending rows: in the streamed path every element (or none) beats the k-th best."""
    up = torch.arange(n)
    x = torch.stack([up, up.flip(0), up % 97]).to(dtype)
    for largest in (True, False):
        check(lambda net, t: net.add_topk(t, k, largest=largest), [x], f"topk monotonic {n} {k} {dtype} {largest}")


@pytest.mark.parametrize("dtype", NUMERIC)
def test_topk_of_a_view_that_starts_off_alignment(dtype):
    """Rows of 1024 that start one element into the input (where the engine takes the slice as a
    view, its rows are off the 16-byte words that the packed-key kernel otherwise reads)."""
    x = tied((7 * 1024,), dtype, seed=5)

    def build(n, t):
        return n.add_topk(n.add_reshape(n.add_slice(t, [0], [1], [1 + 6 * 1024]), [6, 1024]), 8, largest=largest)

    for largest in (True, False):
        check(build, [x], f"topk of x[1:].view(6, 1024) {dtype} {largest}")


def test_topk_non_contiguous_input():
    x = tied((40, 9), torch.float32, seed=4).t()
    for axis in (0, 1):
        check(lambda n, t: n.add_topk(t, 5, axis=axis), [x], f"topk .t() axis={axis}")


CUMSUM_CASES = [((7,), 0), ((3, 1000), 1), ((5, 3000), -1), ((4, 65), 1), ((4, 64), 1), ((2, 33, 3), 1), ((6, 5), 0),
                ((0, 4), 1), ((1, 20000), 1), ((3, 4, 5), 2), ((2, 1, 70), -1), ((3, 2, 700), 0),
                # rows of whole 16-byte packs (most of the above too): one or two packs a thread, an odd
                # number of packs, a last tile of two packs
                ((40, 4096), 1), ((9, 4104), 1),
                # many rows (run AL tried a warp a row for these: slower than the block's scan)
                ((520, 4096), 1), ((600, 1000), 1), ((512, 72), -1)]


def cumsum_data(shape, dtype, seed):
    g = gen(seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    bound = {torch.int8: 100, torch.uint8: 255, torch.int32: 1 << 30, torch.int64: 1 << 62}[dtype]  # sums wrap
    return torch.randint(0 if dtype == torch.uint8 else -bound, bound, shape, generator=g).to(dtype)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("shape,axis", CUMSUM_CASES)
def test_cumsum(shape, axis, dtype):
    check(lambda n, t: n.add_cumsum(t, axis), [cumsum_data(shape, dtype, seed=5)], f"cumsum {shape} {axis} {dtype}")


def test_cumsum_non_contiguous_and_special():
    x = torch.randn((300, 7), generator=gen(6))
    x[3, 1] = float("nan")
    x[10, 2] = float("inf")
    for axis in (0, 1):
        check(lambda n, t: n.add_cumsum(t, axis), [x.t()], f"cumsum .t() axis={axis}")


# (x shape, index shape, src shape, axis)
SCATTER_CASES = [((5, 4), (3, 4), (3, 4), 0), ((5, 4), (5, 3), (6, 5), 1), ((3, 7, 2), (2, 5, 1), (2, 6, 2), -2),
                 ((3, 1100), (2, 1500), (3, 1600), 1), ((4, 3), (0, 3), (0, 3), 0), ((6,), (20,), (20,), 0),
                 ((2, 3, 4), (2, 3, 4), (2, 3, 4), 2), ((40, 3), (300, 2), (300, 3), 0),
                 ((3, 1100), (3, 1000), (3, 1000), 1)]


def scatter_values(shape, dtype, reduce, seed):
    """Values for which the reduction is exact in any order."""
    g = gen(seed)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if not dtype.is_floating_point:
        return torch.randint(0 if dtype == torch.uint8 else -3, 4, shape, generator=g).to(dtype)  # wraps exactly
    if reduce == "add":  # quarters: small sums are exact
        return (torch.randint(-4, 5, shape, generator=g) * 0.25).to(dtype)
    if reduce == "mul":  # +-2^-1, 2^0, 2^1: products are exact
        sign = torch.randint(0, 2, shape, generator=g) * 2 - 1
        return (sign * 2.0 ** torch.randint(-1, 2, shape, generator=g)).to(dtype)
    return torch.randn(shape, generator=g).to(dtype)


def distinct_index(ishape, n, axis, itype, seed):
    """Indices distinct along `axis` for every other coordinate; some negative (counted from the end)."""
    shape = list(ishape)
    shape[axis] = n
    perm = torch.rand(shape, generator=gen(seed)).argsort(dim=axis).narrow(axis, 0, ishape[axis])
    negative = torch.randint(0, 2, tuple(ishape), generator=gen(seed + 1)).bool()
    return torch.where(negative, perm - n, perm).to(itype)


@pytest.mark.parametrize("itype", (torch.int32, torch.int64))
@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("case", [c for c in SCATTER_CASES if c[1][c[3]] <= c[0][c[3]]])
def test_scatter_none(case, dtype, itype):
    xs, ishape, ss, axis = case
    axis = axis % len(xs)
    x, src = scatter_values(xs, dtype, "none", 7), scatter_values(ss, dtype, "none", 8)
    idx = distinct_index(ishape, xs[axis], axis, itype, seed=9)
    check(lambda n, a, i, b: n.add_scatter(a, i, b, axis=axis), [x, idx, src], f"scatter none {case} {dtype} {itype}")


@pytest.mark.parametrize("itype", (torch.int32, torch.int64))
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("reduce", ("add", "mul", "max", "min"))
@pytest.mark.parametrize("case", SCATTER_CASES)
def test_scatter_reduce(case, reduce, dtype, itype):
    xs, ishape, ss, axis = case
    n = xs[axis]
    x, src = scatter_values(xs, dtype, reduce, 10), scatter_values(ss, dtype, reduce, 11)
    idx = torch.randint(-n, n, ishape, generator=gen(12)).to(itype)  # duplicates
    check(lambda net, a, i, b: net.add_scatter(a, i, b, axis=axis, reduce=reduce), [x, idx, src],
          f"scatter {reduce} {case} {dtype} {itype}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_scatter_add_random_values(dtype):
    """Arbitrary floats: duplicates are summed in an unspecified order, each atomic add rounding to the
    dtype, so a target hit d times may differ from the CPU's sum by about d roundings: the tolerance
    is the dtype's unit roundoff times the most hits (up to 8 here) times the values' scale (2 x 3).
    (An H200 run with 8 test workers saw the replay differ from the first run by 1.5 such units.)"""
    x = torch.randn((50, 7), generator=gen(13)).to(dtype)
    src = torch.randn((120, 7), generator=gen(14)).to(dtype)
    idx = torch.randint(0, 50, (120, 7), generator=gen(15))
    hits = max(int(torch.bincount(idx[:, j], minlength=50).max()) for j in range(idx.shape[1]))
    tol = torch.finfo(dtype).eps / 2 * max(hits, 1) * 6
    # Two GPU runs may add in different orders too: each within tol of the exact sum.
    cpu, gpu = both(lambda n, a, i, b: n.add_scatter(a, i, b, axis=0, reduce="add"), [x, idx, src],
                    replay_atol=2 * tol)
    torch.testing.assert_close(gpu[0], torch.as_tensor(cpu[0]), atol=tol, rtol=0)


@pytest.mark.parametrize("reduce", ("max", "min"))
def test_scatter_max_min_nan(reduce):
    x = torch.randn((6, 5), generator=gen(16))
    src = torch.randn((9, 5), generator=gen(17))
    x[2, 1] = float("nan")
    src[4, 3] = float("nan")
    idx = torch.randint(0, 6, (9, 5), generator=gen(18))
    check(lambda n, a, i, b: n.add_scatter(a, i, b, axis=0, reduce=reduce), [x, idx, src], f"scatter {reduce} nan")


def test_scatter_non_contiguous_inputs():
    x = torch.randn((7, 5), generator=gen(19)).t()  # (5, 7)
    src = torch.randn((6, 4), generator=gen(20)).t()  # (4, 6)
    idx = distinct_index((4, 6), 7, 1, torch.int64, seed=21)
    check(lambda n, a, i, b: n.add_scatter(a, i, b, axis=1), [x, idx, src], "scatter none .t()")
    idx = torch.randint(0, 7, (4, 6), generator=gen(22))
    check(lambda n, a, i, b: n.add_scatter(a, i, b, axis=1, reduce="max"), [x, idx, src], "scatter max .t()")


@pytest.mark.parametrize("reduce,itype", [("add", torch.int64), ("add", torch.int32), ("max", torch.int64),
                                          ("none", torch.int64)])
def test_scatter_into_an_output_larger_than_half_the_l2(reduce, itype):
    """48 MB of float32 output (over half of an H100's or H200's 50 MB L2) and 1M index elements: the
    kernel does the output in L2-sized chunks, each copied from x and then combined with the index
    elements landing in it (the inspector says how many); the results are the CPU's (integer-valued
    floats, so sums are exact in any order; distinct targets for "none")."""
    import tensorforge as tf

    n, m = 12 << 20, 1 << 20
    x = torch.randint(-50, 50, (n,), generator=gen(23)).float()
    if reduce == "none":
        idx = torch.randperm(n, generator=gen(24))[:m]
        idx = torch.where(torch.arange(m) % 3 == 0, idx - n, idx).to(itype)  # a third counted from the end
    else:
        idx = torch.randint(-n, n, (m,), generator=gen(24)).to(itype)
    src = torch.randint(-8, 8, (m,), generator=gen(25)).float()
    build = lambda net, a, i, b: net.add_scatter(a, i, b, axis=0, reduce=reduce)  # noqa: E731
    check(build, [x, idx, src], f"scatter {reduce} {itype} in chunks")
    net = tf.Network()
    ins = [net.add_input(name, t.dtype, tuple(t.shape)) for name, t in (("x", x), ("i", idx), ("s", src))]
    net.mark_output(build(net, *ins), "y")
    text = tf.Builder(tf.BuilderConfig(device="cuda")).build(net).inspect()
    assert "L2-sized chunks" in text, text


@pytest.mark.parametrize("reduce", ("none", "add"))
def test_scatter_out_of_range_skipped_on_cuda(reduce):
    """The CPU raises for an out-of-range index; CUDA cannot raise and skips that element."""
    import tensorforge as tf

    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    idx = torch.tensor([[1, 7, -1], [-9, 0, 2]], dtype=torch.int64)
    src = torch.full((2, 3), 100.0)
    net = tf.Network()
    ins = [net.add_input(name, t.dtype, tuple(t.shape)) for name, t in (("x", x), ("i", idx), ("s", src))]
    net.mark_output(net.add_scatter(*ins, axis=0, reduce=reduce), "y")
    (out,) = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)(x.cuda(), idx.cuda(), src.cuda())
    expect = x.clone()
    for r, c in ((1, 0), (3, 2), (0, 1), (2, 2)):  # the targets of the four in-range indices
        expect[r, c] = 100.0 if reduce == "none" else expect[r, c] + 100.0
    assert torch.equal(out.cpu(), expect)
