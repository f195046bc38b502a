"""CUDA kernels of the spatial layers without a library behind them (pooling, adaptive pooling, resize,
pad) against the CPU kernels: the same network built for both devices, over odd sizes, 1-3 spatial
dims, every window attribute (padding, dilation, ceil_mode, count_include_pad, divisor_override),
whole-plane windows (the row-reduction path), large tensors, NaN, non-contiguous inputs and every
accepted dtype, with the tolerances of layer_harness (windowed pooling, resize and pad are computed
in the CPU's order and usually match bit for bit; whole-plane sums are a tree)."""

import pytest
import torch

from cuda_harness import both, check
from test_spatial import POOL_CASES as CPU_POOL_CASES

pytestmark = pytest.mark.cuda

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
ALL = (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64, torch.bool, torch.uint8)


def data(shape, dtype, seed=0, scale=1.0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale
    return x > 0 if dtype == torch.bool else x.to(dtype)


# (input shape, kernel, stride, padding, dilation, ceil_mode): the CPU tests' cases and larger ones
POOL_CASES = CPU_POOL_CASES + [
    ((2, 64, 57, 57), (3, 3), (2, 2), (1, 1), (1, 1), False),  # the CNN stem's max pool (odd extent)
    ((1, 3, 113, 120), (3, 3), (2, 2), (1, 1), (1, 1), True),
    # 3x3/2 pad 1 over widths of whole 16-byte packs, twice the output's (the strips kernel): strips
    # of output rows cut short by the height, odd and even heights
    ((2, 3, 22, 16), (3, 3), (2, 2), (1, 1), (1, 1), False), ((1, 4, 15, 48), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((3, 5, 7, 7), (7, 7), (), (0, 0), (1, 1), False),  # one window over the whole plane
    ((1, 2, 50, 60), (50, 60), (), (0, 0), (1, 1), False),  # whole plane of more than 2048 elements
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pooling(case, dtype):
    xs, k, s, p, d, ceil = case
    check(lambda n, t: n.add_pooling(t, "max", k, s, p, d, ceil), [data(xs, dtype, seed=1)], f"max {case} {dtype}")


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_int8_max_pooling(case, layout):
    """int8 max pooling (quantized networks' stems) equals the CPU kernel, both layouts (channels last
    takes the 16-byte pack kernel where the channels allow)."""
    xs, k, s, p, d, ceil = case
    if layout == "nhwc" and len(xs) != 4:
        pytest.skip("channels last is 2-D only")
    x = torch.randint(-128, 128, xs, generator=torch.Generator().manual_seed(8), dtype=torch.int32).to(torch.int8)
    if layout == "nhwc":
        x = x.permute(0, 2, 3, 1).contiguous()
    check(lambda n, t: n.add_pooling(t, "max", k, s, p, d, ceil, layout=layout), [x], f"int8 max {case} {layout}")


@pytest.mark.parametrize("divisor", [0, 5])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", [c for c in POOL_CASES if all(v == 1 for v in c[4])])
def test_avg_pooling(case, dtype, count_include_pad, divisor):
    xs, k, s, p, _, ceil = case
    check(lambda n, t: n.add_pooling(t, "avg", k, s, p, (), ceil, count_include_pad, divisor),
          [data(xs, dtype, seed=2)], f"avg {case} {dtype} {count_include_pad} {divisor}")


def test_pooling_nan_and_inf():
    x = data((2, 3, 9, 9), torch.float32, seed=3)
    x[0, 0, 1, 2] = float("nan")
    x[1, 2, 8, 8] = float("nan")
    x[0, 1, 4, 4] = float("inf")
    x[1, 0] = float("-inf")
    for mode in ("max", "avg"):
        check(lambda n, t: n.add_pooling(t, mode, (3, 3), (2, 2), (1, 1)), [x], f"{mode} pool nan/inf")
        check(lambda n, t: n.add_pooling(t, mode, (9, 9)), [x], f"{mode} whole-plane pool nan/inf")
        check(lambda n, t: n.add_adaptive_pooling(t, (1, 1), mode), [x], f"adaptive {mode} nan/inf")
    y = data((2, 3, 10, 16), torch.float16, seed=4)  # the 3x3/2 strips kernel
    y[0, 0, 3, 7] = y[1, 2, 0, 8] = y[0, 1, 9, 15] = float("nan")
    y[1, 1, 4, 4] = float("inf")
    y[0, 2] = float("-inf")
    check(lambda n, t: n.add_pooling(t, "max", (3, 3), (2, 2), (1, 1)), [y], "max pool strips nan/inf")


@pytest.mark.parametrize("dtype", FLOATS)
def test_pooling_non_contiguous_input(dtype):
    x = data((2, 9, 11, 16), dtype, seed=4).permute(0, 3, 1, 2)  # NCHW view of NHWC memory
    check(lambda n, t: n.add_pooling(t, "max", (3, 3), (2, 2), (1, 1)), [x], f"max pool channels_last {dtype}")
    check(lambda n, t: n.add_adaptive_pooling(t, (1, 1), "avg"), [x], f"global avg pool channels_last {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("shape,size", [((2, 3, 10), (4,)), ((1, 2, 7), (7,)), ((2, 2, 7, 9), (3, 4)),
                                        ((1, 3, 5, 5), (1, 1)), ((1, 1, 3, 4), (5, 7)), ((2, 5, 1), (1,)),
                                        ((1, 2, 5, 6, 7), (2, 3, 4)), ((2, 3, 4, 5, 6), (1, 1, 1)),
                                        ((4, 2048, 7, 7), (1, 1)), ((1, 3, 61, 47), (1, 1)), ((1, 2, 33, 35), (6, 5))])
def test_adaptive_pooling(shape, size, mode, dtype):
    check(lambda n, t: n.add_adaptive_pooling(t, size, mode), [data(shape, dtype, seed=5)],
          f"adaptive {mode} {shape} {size} {dtype}")


# (input shape, output sizes, scales)
RESIZE_CASES = [
    ((2, 3, 7), (13,), ()), ((1, 2, 8), (4,), ()), ((1, 2, 5), (12,), (0.4,)),
    ((1, 2, 5, 6), (9, 4), ()), ((2, 1, 4, 4), (8, 8), ()), ((1, 2, 6, 5), (10, 3), (0.6, 1.7)),
    ((1, 2, 3, 4), (3, 11), ()), ((1, 1, 1, 3), (4, 2), ()), ((1, 3, 37, 41), (75, 83), ()),
    ((1, 2, 3, 4, 5), (5, 2, 7), ()), ((1, 1, 2, 3, 4), (4, 4, 3), (0.5, 0.75, 4 / 3)),
    ((2, 3, 20), (41,), ()), ((1, 2, 3, 4, 20), (5, 2, 37), ()), ((2, 3, 8, 16), (16, 32), ()),
    # rows of whole 16-byte packs for every float dtype (the packed row kernel), 1-3 spatial dims
    ((2, 3, 9, 13), (7, 40), ()), ((1, 2, 3, 5, 7), (4, 6, 24), ()), ((3, 2, 50), (16,), ()),
    ((1, 2, 6, 10), (9, 16), ()), ((1, 2, 4, 100), (3, 272), ()),  # the last: more than 32 packs a row
    # exact doubling of rows of whole packs (the doubling kernel), with a depth kept
    ((1, 2, 3, 4, 8), (3, 8, 16), ()), ((2, 5, 7, 24), (14, 48), ()),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode,align", [("nearest", False), ("linear", False), ("linear", True)])
@pytest.mark.parametrize("case", RESIZE_CASES)
def test_resize(case, mode, align, dtype):
    shape, sizes, scales = case
    check(lambda n, t: n.add_resize(t, sizes, mode, align, scales), [data(shape, dtype, seed=6)],
          f"resize {case} {mode} {align} {dtype}")


# Exact doubling of two spatial dims (the doubling kernels: bilinear by the half-pixel rule and
# nearest): heights and widths of 1 and 2, widths of whole half packs for every float dtype, more
# packs than a warp, explicit scales of 0.5. Their taps and weights are the general formulas' at
# scale 0.5, so the results must equal the CPU's bit for bit, infinities and NaN among the inputs.
DOUBLING_CASES = [((2, 3, 5, 8), ()), ((1, 2, 1, 4), ()), ((1, 4, 6, 2), ()), ((3, 2, 9, 12), (0.5, 0.5)),
                  ((2, 16, 40, 56), ()), ((1, 1, 2, 40), ())]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("shape,scales", DOUBLING_CASES)
def test_resize_doubling_is_exact(shape, scales, mode, dtype):
    x = data(shape, dtype, seed=8, scale=4.0)
    flat = x.view(-1)
    flat[3], flat[-2], flat[len(flat) // 2] = float("inf"), float("nan"), float("-inf")
    sizes = (2 * shape[2], 2 * shape[3])
    cpu, gpu = both(lambda n, t: n.add_resize(t, sizes, mode, False, scales), [x])
    c, g = torch.as_tensor(cpu[0]), gpu[0]
    assert g.shape == c.shape and torch.equal(g.isnan(), c.isnan()), f"{shape} {mode} {dtype}"
    assert torch.equal(g.nan_to_num(0.0), c.nan_to_num(0.0)), f"{shape} {mode} {dtype}: not bit-equal"


def test_resize_non_contiguous_input():
    x = data((1, 6, 5, 3), torch.float32, seed=7).permute(0, 3, 1, 2)
    for mode in ("nearest", "linear"):
        check(lambda n, t: n.add_resize(t, (11, 4), mode), [x], f"resize .permute {mode}")


PAD_CASES = [((5,), (2, 3)), ((2, 3, 4), (0, 1, 2, 1, 0, 3)), ((2, 3, 4), (0, -1, 2, 1, 0, -2)),
             ((3, 4), (-1, 0, 0, -2)),
             ((1, 2, 3, 4), (0, 0, 1, 1, 0, 0, 2, 0)), ((3, 1030), (1, 5, 2, 7)), ((0, 3), (1, 0, 1, 1)),
             ((2, 1, 2, 1, 3), (0, 1, 0, 2, 1, 1, 0, 1, 2, 0)), ((), ()),
             ((2, 40), (0, -3, 1, 5)), ((2, 3, 9, 20), (0, 0, 1, 1, 0, 0, 1, 1)), ((2, 3, 30), (0, 1, 0, 0, 2, 0)),
             # outputs of whole 16-byte packs for every element size (the packed kernel): rows of 16,
             # rows shorter than a pack, a crop beside a pad, rank 1
             ((2, 3, 14, 14), (0, 0, 1, 1, 0, 0, 1, 1)), ((8, 3), (0, 0, 0, 1)), ((4, 6, 30), (0, 1, -2, 0, 1, 0)),
             ((13,), (1, 2))]


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,pads", PAD_CASES)
def test_pad_constant(dtype, shape, pads):
    value = 1 if dtype in (torch.bool, torch.uint8) else -2.5 if dtype.is_floating_point else -2.7
    check(lambda n, t: n.add_pad(t, pads, "constant", value), [data(shape, dtype, seed=8, scale=20)],
          f"pad constant {dtype} {shape} {pads}")


@pytest.mark.parametrize("dtype", [d for d in ALL if d != torch.bool])
@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("shape,pads", [((2, 3, 5), (0, 0, 2, 0, 0, 4)), ((1, 2, 4, 5), (0, 0, 1, 3, 0, 0, 3, 2)),
                                        ((1, 2, 3, 4, 3), (0, 0, 2, 1, 1, 0, 0, 1, 3, 2)), ((7,), (6, 5)),
                                        ((3, 1100), (2, 1, 1, 1099)), ((2, 3, 9, 20), (0, 0, 2, 3, 0, 0, 1, 4)),
                                        ((2, 3, 14, 14), (0, 0, 1, 1, 0, 0, 1, 1)), ((8, 3), (0, 0, 0, 1)),
                                        ((4, 1), (3, 0, 0, 0))])  # the extent-1 dim is not padded
def test_pad_reflect_replicate(mode, dtype, shape, pads):
    check(lambda n, t: n.add_pad(t, pads, mode), [data(shape, dtype, seed=9, scale=20)], f"pad {mode} {dtype} {shape}")


def test_pad_non_contiguous_input():
    x = data((6, 5), torch.float32, seed=10).t()
    for mode in ("constant", "reflect", "replicate"):
        check(lambda n, t: n.add_pad(t, (1, 2, 3, 4), mode, 0.5), [x], f"pad .t() {mode}")
