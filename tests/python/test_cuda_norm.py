"""CUDA kernels of the row-reduction layers (softmax, log-softmax, batch_norm, layer_norm, rms_norm,
group_norm, reduce, arg_reduce) against the CPU kernels: the same network built for both devices,
over several shapes (odd sizes, size-1 dims, rows longer than 1024, empty tensors, non-contiguous
inputs) and every accepted dtype, with the tolerances of layer_harness."""

import pytest
import torch

from cuda_harness import both, close

pytestmark = pytest.mark.cuda

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
ALL = (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64, torch.bool, torch.uint8)


def randn(shape, dtype, seed=0, scale=1.0):
    return (torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale).to(dtype)


def values(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype == torch.uint8:
        return torch.randint(0, 4, shape, generator=g).to(dtype)
    return torch.randint(-3, 4, shape, generator=g).to(dtype)


SOFTMAX_CASES = [((7,), -1), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4, 5), 1), ((4, 2000), -1), ((3, 1500, 2), 1),
                 ((1, 1), 0), ((5, 1), -1), ((0, 4), 1), ((64, 33), -1),
                 # one warp per row (rows up to 1024: 1 .. 32 elements a lane, a partly filled last block),
                 # then the first length past it
                 ((37, 49), -1), ((3, 2, 300), -1), ((5, 1024), -1), ((2, 1025), -1), ((9, 197), 1),
                 # rows of whole packs held in registers: a warp a row (one pack a lane, more rows than a
                 # block's four warps), a block a row (1, 2 and 4 packs a thread; float32's 1028 is 257
                 # packs, float16's is not whole packs and takes the unpacked block)
                 ((40, 128), -1), ((6, 4096), -1), ((3, 8192), -1), ((7, 1028), -1), ((5, 2000), 1),
                 # rows of at most 32 16-byte packs: a group of 4, 8, 16 or 32 lanes a row, several rows a
                 # warp, the last warp's rows partly past the end
                 ((7, 8), -1), ((9, 24), -1), ((11, 64), -1), ((13, 96), 1), ((5, 256), -1)]


@pytest.mark.parametrize("log", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES)
def test_softmax(shape, axis, dtype, log):
    x = randn(shape, dtype, scale=3)
    cpu, gpu = both(lambda n, t: n.add_softmax(t, axis=axis, log=log), [x])
    close(gpu[0], cpu[0], f"softmax log={log} {shape} axis={axis} {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_packed_rows_nan_inf(dtype):
    """Rows held in registers as packs (lanes a row at 128 and 512, a block a row at 4096): a NaN spreads
    over its row, a row of -inf is NaN, an inf takes the whole row; log-softmax too."""
    for n in (128, 512, 4096):
        x = torch.randn(5, n)
        x[1, 77] = float("nan")
        x[2, :] = float("-inf")
        x[3, n - 1] = float("inf")
        for log in (False, True):
            cpu, gpu = both(lambda net, t: net.add_softmax(t, axis=1, log=log), [x.to(dtype)])
            close(gpu[0], cpu[0], f"softmax packed special n={n} log={log} {dtype}")


def test_softmax_nan_inf_and_non_contiguous():
    x = torch.randn(6, 40)
    x[1, 3] = float("nan")
    x[2, :] = float("-inf")
    x[3, 5] = float("inf")
    for t in (x, x.t()):
        for axis in (0, 1):
            cpu, gpu = both(lambda n, a: n.add_softmax(a, axis=axis), [t])
            close(gpu[0], cpu[0], f"softmax special axis={axis}")


# the last ones take the one-warp-per-row kernel (rows of 8 .. 2048 elements, a multiple of a pack):
# a lane holding 1, 2, 4 and 8 packs, and more rows than one block's four warps
NORM_SHAPES = [((7,), 1), ((3, 5), 1), ((2, 3, 4), 2), ((4, 3000), 1), ((5, 1), 1), ((0, 8), 1), ((2, 129), 1),
               ((9, 16), 1), ((3, 5, 768), 1), ((6, 2, 256), 2), ((5, 2048), 1), ((3, 24), 1)]


@pytest.mark.parametrize("affine", (0, 1, 2))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,rank", NORM_SHAPES)
def test_layer_norm(shape, rank, dtype, affine):
    x = randn(shape, dtype, scale=2) + 1
    pshape = shape[len(shape) - rank:]
    w = randn(pshape, dtype, seed=1) if affine >= 1 else None
    b = randn(pshape, dtype, seed=2) if affine >= 2 else None
    cpu, gpu = both(lambda n, t: n.add_layer_norm(t, rank, weight=w, bias=b, eps=1e-5), [x])
    close(gpu[0], cpu[0], f"layer_norm {shape} {rank} {dtype} affine={affine}")


@pytest.mark.parametrize("variant", ("warp", "block"))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 17, 768), (3, 1024), (128, 2048), (2, 5, 520)])
def test_norm_few_rows_variants(shape, dtype, variant, monkeypatch):
    """Few rows of two or more packs a lane: the block-a-row kernel and the warp-a-row kernel (timed
    against each other at build; each forced here) both match the CPU, layer and RMS norm."""
    monkeypatch.setenv("TENSORFORGE_NORM_VARIANT", variant)
    x = randn(shape, dtype, scale=2) + 1
    w, b = randn(shape[-1:], dtype, seed=1), randn(shape[-1:], dtype, seed=2)
    cpu, gpu = both(lambda n, t: n.add_layer_norm(t, 1, weight=w, bias=b, eps=1e-5), [x])
    close(gpu[0], cpu[0], f"layer_norm {shape} {dtype} {variant}")
    cpu, gpu = both(lambda n, t: n.add_rms_norm(t, 1, weight=w, eps=1e-6), [x])
    close(gpu[0], cpu[0], f"rms_norm {shape} {dtype} {variant}")


def test_norm_variant_is_timed_and_shown():
    """Without the override the build times both kernels and the inspector shows the choice."""
    import tensorforge as tf
    from tensorforge.testing.networks import network_of

    x = randn((1, 64, 768), torch.float16)
    net = network_of(lambda n, t: n.add_layer_norm(t, 1, eps=1e-5), [x])
    text = tf.Builder(tf.BuilderConfig(device="cuda")).build(net).inspect()
    assert "a warp a row (timed" in text or "a block a row (timed" in text, text


@pytest.mark.parametrize("eps", (-1.0, 1e-6))
@pytest.mark.parametrize("weight", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,rank", NORM_SHAPES)
def test_rms_norm(shape, rank, dtype, weight, eps):
    x = randn(shape, dtype, scale=2)
    w = randn(shape[len(shape) - rank:], dtype, seed=1) if weight else None
    cpu, gpu = both(lambda n, t: n.add_rms_norm(t, rank, weight=w, eps=eps), [x])
    close(gpu[0], cpu[0], f"rms_norm {shape} {rank} {dtype} weight={weight} eps={eps}")


@pytest.mark.parametrize("affine", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((1, 4, 3, 3), 2), ((3, 8), 8), ((2, 6, 40, 40), 1),
                                           ((0, 4, 3), 2), ((2, 5, 1), 5)])
def test_group_norm(shape, groups, dtype, affine):
    x = randn(shape, dtype, scale=2) + 0.5
    c = shape[1]
    w = randn((c,), dtype, seed=1) if affine else None
    b = randn((c,), dtype, seed=2) if affine else None
    cpu, gpu = both(lambda n, t: n.add_group_norm(t, groups, weight=w, bias=b), [x])
    close(gpu[0], cpu[0], f"group_norm {shape} {groups} {dtype}")


@pytest.mark.parametrize("affine", (False, True))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (1, 4, 3, 3), (3, 7, 33, 2), (0, 3, 4)])
def test_batch_norm(shape, dtype, affine):
    x = randn(shape, dtype, scale=2)
    c = shape[1]
    mean = randn((c,), dtype, seed=3)
    var = randn((c,), dtype, seed=4).abs() + 0.5
    w = randn((c,), dtype, seed=5) if affine else None
    b = randn((c,), dtype, seed=6) if affine else None
    cpu, gpu = both(lambda n, t: n.add_batch_norm(t, mean, var, weight=w, bias=b, eps=1e-5), [x])
    close(gpu[0], cpu[0], f"batch_norm {shape} {dtype}")


REDUCE_CASES = [((7,), ()), ((3, 5), (1,)), ((3, 5), (0,)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (1,)),
                ((4, 2500), (-1,)), ((2500, 3), (0,)), ((2, 3, 4), ()), ((5, 1, 3), (1,)), ((0, 3), (1,)),
                ((3, 0), (1,)), ((6, 40), (0, 1)), ((100, 37), (1,)),
                # channels-last spatial reductions (the column kernel: 32 adjacent outputs a block; the
                # last has so few outputs that the reduction also splits over 4 blocks)
                ((2, 13, 11, 40), (1, 2)), ((3, 33, 70), (1,)), ((1, 40, 30, 24), (1, 2)),
                # few long rows: each row also splits over blocks of >= 8 KB (16-byte loads where
                # rows are whole packs apart; over 32 splits a block combines the partials: the last
                # case, 36 to 293 splits by dtype)
                ((3, 20000), (1,)), ((40000,), ()), ((2, 100, 300), (1, 2)), ((300000,), ()),
                # columns in packs (the outputs' run and the strides whole packs of 16 bytes, at most 8
                # elements): a first axis over many rows (split over blocks), a middle axis, a pooling
                ((300, 256), (0,)), ((4, 16, 96), (1,)), ((2, 49, 960), (1,)),
                # ... one reduced dim over [outer, inner] outputs, not split over blocks (the strided
                # column kernel): a middle axis of odd length, a first axis
                ((3, 37, 1024), (1,)), ((50, 2048), (0,)),
                # many short contiguous rows: a warp a row (16-byte loads; the longest row a lane reads
                # 16 packs of in float16, in float32 a block a row again)
                ((600, 256), (1,)), ((512, 4096), (1,))]


@pytest.mark.parametrize("keepdim", (False, True))
@pytest.mark.parametrize("op", ("sum", "mean", "max", "min", "prod", "any", "all"))
@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,axes", REDUCE_CASES)
def test_reduce(shape, axes, dtype, op, keepdim):
    if dtype == torch.bool and op in ("sum", "mean", "prod"):
        pytest.skip("not accepted for bool")
    if op == "mean" and not dtype.is_floating_point:
        pytest.skip("mean is float-only")
    if op in ("max", "min") and 0 in shape:
        pytest.skip("max/min of an empty set is rejected by inference")
    x = values(shape, dtype)
    if op == "prod" and dtype.is_floating_point:
        x = (x.float() * 0.3 + 1).to(dtype)  # keep products of long rows finite
    cpu, gpu = both(lambda n, t: n.add_reduce(t, op, axes=axes, keepdim=keepdim), [x])
    close(gpu[0], cpu[0], f"reduce {op} {shape} {axes} {dtype}")


def test_reduce_nan_and_non_contiguous():
    x = torch.randn(50, 30)
    x[4, 7] = float("nan")
    packed = torch.randn(64, 40)  # columns in packs
    packed[17, 9] = float("nan")
    strided = torch.randn(20, 2048)  # the strided column kernel
    strided[13, 1029] = float("nan")
    for t in (x, x.t(), packed, strided):
        for op in ("sum", "max", "min", "mean"):
            for axes in ((0,), (1,), ()):
                cpu, gpu = both(lambda n, a: n.add_reduce(a, op, axes=axes), [t])
                close(gpu[0], cpu[0], f"reduce {op} {axes}")


@pytest.mark.parametrize("pred", ("isinf", "isnan", "not"))
@pytest.mark.parametrize("op", ("any", "all"))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axes", [((3, 5), (1,)), ((100, 37), (1,)), ((2, 100, 300), (1, 2)), ((40000,), ()),
                                        ((1, 40, 30, 24), (1, 2)), ((6, 40), (0,)), ((520, 1000), (1,))])
def test_reduce_prologue(shape, axes, dtype, op, pred):
    """any/all of a predicate is one reduce with the predicate as its prologue (fuse_reduce_prologue,
    on both engines); both match torch, over rows that hold infinities and NaNs and rows that do not."""
    x = values(shape, dtype).float()
    flat = x.view(-1)
    flat[::7] = float("inf")   # some rows hit, some not (with the long rows: every one)
    flat[3::11] = float("nan")
    flat[5::13] = 0.0
    if op == "all":            # make "all" true somewhere: a row of only the predicate's values
        row = {"isinf": float("-inf"), "isnan": float("nan"), "not": 0.0}[pred]
        x.view(-1, shape[-1])[0] = row
    x = x.to(dtype)
    reference = {"isinf": torch.isinf, "isnan": torch.isnan, "not": lambda t: t == 0}[pred](x)
    expected = reference.any(dim=axes) if op == "any" else reference.all(dim=axes)
    if not axes:
        expected = reference.any() if op == "any" else reference.all()
    cpu, gpu = both(lambda n, t: n.add_reduce(n.add_unary(t, pred), op, axes=axes), [x])
    assert torch.equal(cpu[0], expected), f"cpu {pred} {op}"
    assert torch.equal(gpu[0], expected), f"cuda {pred} {op}"


@pytest.mark.parametrize("op", ("argmax", "argmin"))
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int32,
                                   torch.int64, torch.uint8))
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), 1), ((4, 2000), 1),
                                        ((1, 1), 0), ((0, 3), 1), ((5, 64), 1), ((3, 5000), -1), ((2, 3, 700), 2),
                                        ((600, 256), 1), ((520, 2048), 1), ((520, 3328), 1),  # a warp a row
                                        ((520, 4096), 1), ((520, 40), 1)])
def test_arg_reduce(shape, axis, dtype, op):
    x = values(shape, dtype)  # small integers: many ties, the first occurrence must win
    cpu, gpu = both(lambda n, t: n.add_arg_reduce(t, op, axis=axis), [x])
    close(gpu[0], cpu[0], f"{op} {shape} {axis} {dtype}")


def test_arg_reduce_nan():
    x = torch.randn(4, 9)
    x[1, 2] = x[1, 6] = float("nan")
    for op in ("argmax", "argmin"):
        for axis in (0, 1):
            cpu, gpu = both(lambda n, t: n.add_arg_reduce(t, op, axis=axis, keepdim=True), [x])
            close(gpu[0], cpu[0], f"{op} nan {axis}")


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
def test_arg_reduce_long_rows_nan_and_ties(dtype):
    """Rows long enough for a block per row: the first NaN wins wherever the threads meet it, and
    among equal extremes the first index wins (the extreme repeated in several threads' elements)."""
    x = torch.randn(5, 3001)
    x[1, 2900] = x[1, 700] = x[1, 2000] = float("nan")  # first NaN at 700
    x[2, 5] = float("nan")
    x[3, 1000] = x[3, 1513] = x[3, 2999] = 50.0  # ties for max
    x[3, 1777] = x[3, 12] = -50.0  # ties for min
    x[4, 3000] = float("nan")  # the last element
    for op in ("argmax", "argmin"):
        cpu, gpu = both(lambda n, t: n.add_arg_reduce(t, op, axis=1), [x.to(dtype)])
        close(gpu[0], cpu[0], f"{op} long rows {dtype}")
        assert cpu[0][1] == 700 and cpu[0][2] == 5 and cpu[0][4] == 3000
    assert both(lambda n, t: n.add_arg_reduce(t, "argmax", axis=1), [x.to(dtype)])[1][0][3] == 1000


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
def test_arg_reduce_many_rows_nan_and_ties(dtype):
    """Many rows of 1024: a warp a row, each lane reading 16-byte packs; NaNs and equal extremes in
    several lanes' packs, and in one pack, keep the first."""
    x = torch.randn(640, 1024)
    x[1, 900] = x[1, 300] = x[1, 301] = float("nan")  # first NaN at 300 (a pack holds 301 too)
    x[2, 1023] = float("nan")
    x[3, 640] = x[3, 129] = x[3, 130] = x[3, 1000] = 50.0  # ties for max: 129
    x[3, 515] = x[3, 8] = -50.0  # ties for min: 8
    x[4] = -x[4].abs() - 1.0
    x[4, 9], x[4, 40] = -0.0, 0.0  # -0.0 ties with 0.0: the first is the max
    for op in ("argmax", "argmin"):
        cpu, gpu = both(lambda n, t: n.add_arg_reduce(t, op, axis=1), [x.to(dtype)])
        close(gpu[0], cpu[0], f"{op} many rows {dtype}")
        assert cpu[0][1] == 300 and cpu[0][2] == 1023
    assert both(lambda n, t: n.add_arg_reduce(t, "argmax", axis=1), [x.to(dtype)])[1][0][4] == 9
    assert both(lambda n, t: n.add_arg_reduce(t, "argmax", axis=1), [x.to(dtype)])[1][0][3] == 129
    assert both(lambda n, t: n.add_arg_reduce(t, "argmin", axis=1), [x.to(dtype)])[1][0][3] == 8


@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
def test_arg_reduce_16_bit_rows_of_4096_infinities_zeros_and_nan(dtype):
    """Rows of 4096 16-bit floats (each lane of a warp holds 16 words): the extreme by pair maxima, then
    its first occurrence: infinities tie, a row of -inf (argmax) or +inf (argmin) answers 0, signed
    zeros tie (the first of either), and a NaN in a row's last word or beside the extreme wins."""
    x = torch.randn(512, 4096)
    x[0] = float("-inf")
    x[1] = float("inf")
    x[2, 4000] = x[2, 17] = float("inf")  # argmax 17
    x[2, 3000] = x[2, 2999] = float("-inf")  # argmin 2999
    x[3] = x[3].abs() + 1.0
    x[3, 4095], x[3, 4094] = -0.0, 0.0  # argmin: the first zero, 4094
    x[4, 4095] = float("nan")
    x[5, 8], x[5, 9] = 100.0, float("nan")  # the NaN wins
    x[6, 255] = x[6, 256] = x[6, 1] = 60.0  # ties across words and lanes: 1
    for op in ("argmax", "argmin"):
        cpu, gpu = both(lambda n, t: n.add_arg_reduce(t, op, axis=1), [x.to(dtype)])
        close(gpu[0], cpu[0], f"{op} rows of 4096 {dtype}")
        assert cpu[0][4] == 4095 and cpu[0][5] == 9
    big = both(lambda n, t: n.add_arg_reduce(t, "argmax", axis=1), [x.to(dtype)])[1][0]
    small = both(lambda n, t: n.add_arg_reduce(t, "argmin", axis=1), [x.to(dtype)])[1][0]
    assert (big[0], big[2], big[6], small[1], small[2], small[3]) == (0, 17, 1, 0, 2999, 4094)


@pytest.mark.parametrize("dtype", (torch.int8, torch.uint8, torch.int32, torch.int64))
def test_arg_reduce_many_rows_integer_extremes(dtype):
    """The type's own minimum and maximum, repeated, in many rows of 1024 (a warp a row; packed keys
    below 8 bytes): the first of each wins."""
    info = torch.iinfo(dtype)
    x = torch.randint(-3, 4, (600, 1024)).clamp(min=info.min).to(dtype)
    x[5, 700] = x[5, 64] = x[5, 1023] = info.max
    x[6, 9] = x[6, 8] = x[6, 1000] = info.min
    x[7, :] = info.max
    for op in ("argmax", "argmin"):
        cpu, gpu = both(lambda n, t: n.add_arg_reduce(t, op, axis=1), [x])
        close(gpu[0], cpu[0], f"{op} integer extremes {dtype}")
    cpu = both(lambda n, t: n.add_arg_reduce(t, "argmax", axis=1), [x])[0][0]
    assert cpu[5] == 64 and cpu[7] == 0
