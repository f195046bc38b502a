"""Spatial layers through the Python API against torch on CPU: convolution, deconvolution, pooling,
adaptive_pooling, pad, resize. Low-precision results are checked against a float32 reference
(layer_harness.reference) with the tolerances of layer_harness.TOLERANCE."""

import pytest
import torch
import torch.nn.functional as F

import tensorforge as tf
from layer_harness import FLOAT_DTYPES, assert_close, randn, reference, run_network

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
ADAPTIVE = {("avg", 1): F.adaptive_avg_pool1d, ("avg", 2): F.adaptive_avg_pool2d, ("avg", 3): F.adaptive_avg_pool3d,
            ("max", 1): F.adaptive_max_pool1d, ("max", 2): F.adaptive_max_pool2d, ("max", 3): F.adaptive_max_pool3d}

# (input shape, weight shape, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 3, 11), (4, 3, 3), (1,), (0,), (1,), 1),
    ((1, 4, 9), (6, 2, 4), (2,), (1,), (2,), 2),
    ((2, 3, 8, 7), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((1, 6, 9, 10), (6, 1, 3, 3), (2, 1), (1, 0), (1, 2), 6),  # depthwise
    ((2, 8, 5, 5), (4, 8, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1 direct path
    ((1, 4, 6, 6), (4, 4, 1, 1), (2, 2), (0, 0), (1, 1), 1),  # strided 1x1 goes through im2col
    ((1, 2, 5, 6, 7), (3, 2, 2, 3, 2), (1, 2, 1), (1, 0, 1), (2, 1, 1), 1),
    ((1, 4, 4, 5, 3), (4, 2, 1, 2, 3), (1, 1, 2), (0, 1, 1), (1, 1, 1), 2),
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", ["none", "relu", "silu", "hardswish", "relu6"])
def test_convolution(case, dtype, bias, activation):
    xs, ws, stride, padding, dilation, groups = case
    x, w = randn(*xs, dtype=dtype, seed=1), randn(*ws, dtype=dtype, seed=2)
    b = randn(ws[0], dtype=dtype, seed=3) if bias else None
    inputs = [x, w] + ([b] if bias else [])
    (out,) = run_network(lambda n, x_, w_, *b_: n.add_convolution(x_, w_, b_[0] if b_ else None, stride, padding,
                                                                     dilation, groups, activation=activation),
                         inputs, roundtrip=bias)
    act = {"relu": F.relu, "silu": F.silu, "hardswish": F.hardswish, "relu6": F.relu6}.get(activation, lambda t: t)
    expected = reference(lambda x_, w_, *b_: act(CONV[len(xs) - 2](x_, w_, b_[0] if b_ else None, stride, padding,
                                                                     dilation, groups)), *inputs)
    # sums over up to 48 products: low-precision inputs are exact in float32, only the output rounding counts
    assert_close(out, expected, dtype, msg=f"conv {case} {activation}")


def test_convolution_relu_keeps_nan():
    x, w = randn(1, 2, 4, 4, seed=14), randn(3, 2, 1, 1, seed=15)
    x[0, 0, 1, 2] = float("nan")
    (out,) = run_network(lambda n, x_, w_: n.add_convolution(x_, w_, None, activation="relu"), [x, w])
    assert out[0, :, 1, 2].isnan().all()
    assert_close(out, F.relu(F.conv2d(x, w)), msg="relu nan")


def test_convolution_activation_attribute():
    net = tf.Network()
    x, w = net.add_input("x", torch.float32, (1, 2, 4, 4)), net.add_input("w", torch.float32, (3, 2, 1, 1))
    net.add_convolution(x, w, name="plain")
    net.add_convolution(x, w, name="fused", activation="relu")
    text = net.to_text()
    assert 'activation="none"' in text or "activation=none" in text, text
    assert 'activation="relu"' in text or "activation=relu" in text, text


def test_convolution_resnet_stem():
    x, w = randn(1, 3, 32, 32, seed=4), randn(16, 3, 7, 7, seed=5) * 0.1
    (out,) = run_network(lambda n, x_, w_: n.add_convolution(x_, w_, None, (2, 2), (3, 3)), [x, w])
    # 147-term sums: BLAS reassociation differs from torch's by a few float32 ulps of the terms
    assert_close(out, F.conv2d(x, w, None, 2, 3), atol=1e-4, rtol=1e-4, msg="stem")


# (input shape, weight shape, stride, padding, output_padding, dilation, groups)
DECONV_CASES = [
    ((2, 3, 7), (3, 4, 3), (1,), (0,), (0,), (1,), 1),
    ((1, 4, 5), (4, 3, 4), (3,), (1,), (2,), (1,), 2),
    ((2, 3, 4, 5), (3, 2, 3, 3), (2, 2), (1, 1), (1, 0), (1, 1), 1),
    ((1, 4, 5, 4), (4, 1, 2, 3), (1, 2), (0, 1), (0, 1), (2, 1), 4),
    ((1, 2, 3, 4, 3), (2, 3, 2, 2, 3), (2, 1, 2), (0, 1, 1), (1, 0, 0), (1, 2, 1), 1),
]


@pytest.mark.parametrize("case", DECONV_CASES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_deconvolution(case, dtype, bias):
    xs, ws, stride, padding, opad, dilation, groups = case
    x, w = randn(*xs, dtype=dtype, seed=6), randn(*ws, dtype=dtype, seed=7)
    b = randn(ws[1] * groups, dtype=dtype, seed=8) if bias else None
    inputs = [x, w] + ([b] if bias else [])
    (out,) = run_network(lambda n, x_, w_, *b_: n.add_deconvolution(x_, w_, b_[0] if b_ else None, stride, padding,
                                                                       opad, dilation, groups), inputs, roundtrip=bias)
    expected = reference(lambda x_, w_, *b_: DECONV[len(xs) - 2](x_, w_, b_[0] if b_ else None, stride, padding, opad,
                                                                   groups, dilation), *inputs)
    assert_close(out, expected, dtype, msg=f"deconv {case}")


# (input shape, kernel, stride, padding, dilation, ceil_mode)
POOL_CASES = [
    ((2, 3, 11), (3,), (), (1,), (1,), False),
    ((1, 2, 10), (4,), (3,), (2,), (2,), True),
    ((2, 3, 7, 8), (2, 2), (), (0, 0), (1, 1), False),
    ((1, 2, 9, 7), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 8, 8), (3, 2), (2, 3), (1, 0), (2, 1), True),
    ((1, 1, 5, 5), (2, 2), (2, 2), (1, 1), (1, 1), True),  # ceil_mode drops a window starting in the padding
    ((1, 2, 5, 6, 7), (2, 3, 2), (2, 2, 3), (1, 1, 0), (1, 1, 1), True),
    ((1, 1, 4, 4, 4), (2, 2, 2), (), (0, 0, 0), (1, 1, 1), False),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_max_pooling(case, dtype):
    xs, k, s, p, d, ceil = case
    x = randn(*xs, dtype=dtype, seed=9)
    (out,) = run_network(lambda n, x_: n.add_pooling(x_, "max", k, s, p, d, ceil), [x], roundtrip=True)
    expected = reference(lambda x_: MAXPOOL[len(xs) - 2](x_, k, s or None, p, d, ceil_mode=ceil), x)
    assert_close(out, expected, dtype, msg=f"max {case}")


@pytest.mark.parametrize("case", [c for c in POOL_CASES if all(v == 1 for v in c[4])])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor", [0, 5])
def test_avg_pooling(case, dtype, count_include_pad, divisor):
    xs, k, s, p, _, ceil = case
    if divisor and len(xs) == 3:
        pytest.skip("avg_pool1d has no divisor_override")
    x = randn(*xs, dtype=dtype, seed=10)
    (out,) = run_network(lambda n, x_: n.add_pooling(x_, "avg", k, s, p, (), ceil, count_include_pad, divisor), [x])
    extra = {"divisor_override": divisor or None} if len(xs) > 3 else {}
    expected = reference(lambda x_: AVGPOOL[len(xs) - 2](x_, k, s or None, p, ceil, count_include_pad, **extra), x)
    assert_close(out, expected, dtype, msg=f"avg {case}")


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_int8_max_pooling(case, layout):
    """Max pooling of int8 (a quantized network's, after move_quantize_before_max_pool) equals the
    float maximum of the same integers, in both layouts; an int8 average is refused."""
    xs, k, s, p, d, ceil = case
    if layout == "nhwc" and len(xs) != 4:
        return
    g = torch.Generator().manual_seed(7)
    x = torch.randint(-128, 128, xs, generator=g, dtype=torch.int32).to(torch.int8)
    xin = x.permute(0, 2, 3, 1).contiguous() if layout == "nhwc" else x
    (out,) = run_network(lambda n, x_: n.add_pooling(x_, "max", k, s, p, d, ceil, layout=layout), [xin])
    want = MAXPOOL[len(xs) - 2](x.float(), k, s or None, p, d, ceil_mode=ceil).to(torch.int8)
    if layout == "nhwc":
        want = want.permute(0, 2, 3, 1)
    assert out.dtype == torch.int8 and torch.equal(out, want), case


def test_int8_average_pooling_is_refused():
    x = torch.zeros(1, 2, 4, 4, dtype=torch.int8)
    with pytest.raises(tf.Error, match="floating-point"):
        run_network(lambda n, x_: n.add_pooling(x_, "avg", (2, 2)), [x])


def test_max_pooling_nan():
    x = randn(1, 1, 4, 4, seed=11)
    x[0, 0, 1, 2] = float("nan")
    (out,) = run_network(lambda n, x_: n.add_pooling(x_, "max", (2, 2)), [x])
    assert_close(out, F.max_pool2d(x, 2), msg="nan")


@pytest.mark.parametrize("ceil", [False, True])
def test_max_pooling_nan_inf_padded_stride(ceil):
    """A ResNet stem's 3x3/2 window with padding 1 (rows combined first, then columns): NaN at an
    edge, in the middle and in a window's last tap, -inf rows, on odd and even sizes."""
    for h, w in ((9, 8), (12, 13)):
        x = randn(2, 3, h, w, seed=13)
        x[0, 0, 0, 0] = x[0, 1, 4, 5] = x[1, 2, h - 1, w - 1] = float("nan")
        x[1, 0, 2, :] = float("-inf")
        x[1, 1] = float("-inf")
        (out,) = run_network(lambda n, x_: n.add_pooling(x_, "max", (3, 3), (2, 2), (1, 1), (1, 1), ceil), [x])
        assert_close(out, F.max_pool2d(x, 3, 2, 1, ceil_mode=ceil), msg=f"nan/inf {h}x{w} ceil={ceil}")


@pytest.mark.parametrize("shape,size", [((2, 3, 10), (4,)), ((1, 2, 7), (7,)), ((2, 2, 7, 9), (3, 4)),
                                        ((1, 3, 5, 5), (1, 1)), ((1, 1, 3, 4), (5, 7)),
                                        ((1, 2, 5, 6, 7), (2, 3, 4))])
@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_adaptive_pooling(shape, size, mode, dtype):
    x = randn(*shape, dtype=dtype, seed=12)
    (out,) = run_network(lambda n, x_: n.add_adaptive_pooling(x_, size, mode), [x], roundtrip=True)
    fn = ADAPTIVE[(mode, len(shape) - 2)]
    assert_close(out, reference(lambda x_: fn(x_, size), x), dtype, msg=f"adaptive {mode} {shape} {size}")


def _torch_pads(pads, rank):
    """Engine pads (begins of every dim, then ends) -> F.pad's (last dim first, begin/end pairs)."""
    out = []
    for i in reversed(range(rank)):
        out += [pads[i], pads[rank + i]]
    return out


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64, torch.int8, torch.uint8, torch.bool))
@pytest.mark.parametrize("shape,pads", [((5,), (2, 3)), ((2, 3, 4), (0, 1, 2, 1, 0, 3)),
                                        ((2, 3, 4), (0, -1, 2, 1, 0, -2)), ((3, 4), (-1, 0, 0, -2)),
                                        ((1, 2, 3, 4), (0, 0, 1, 1, 0, 0, 2, 0)),
                                        # rows split over the CPU threads; TF-style asymmetric padding
                                        ((2, 16, 50, 60), (0, 0, 0, -1, 0, 0, 1, 1))])
def test_pad_constant(dtype, shape, pads):
    x = randn(*shape, seed=13).mul(3).to(dtype) if dtype != torch.bool else randn(*shape, seed=13) > 0
    value = 1 if dtype in (torch.bool, torch.uint8) else -2.5 if dtype.is_floating_point else -2
    (out,) = run_network(lambda n, x_: n.add_pad(x_, pads, "constant", value), [x], roundtrip=True)
    assert_close(out, F.pad(x, _torch_pads(pads, len(shape)), value=value), dtype, msg=f"pad {shape} {pads}")


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (torch.int32, torch.int64))
@pytest.mark.parametrize("shape,pads", [((2, 3, 5), (0, 0, 2, 0, 0, 4)), ((1, 2, 4, 5), (0, 0, 1, 3, 0, 0, 3, 2)),
                                        ((1, 2, 3, 4, 3), (0, 0, 2, 1, 1, 0, 0, 1, 3, 2))])
def test_pad_reflect_replicate(mode, dtype, shape, pads):
    x = randn(*shape, seed=14).mul(10).to(dtype)
    (out,) = run_network(lambda n, x_: n.add_pad(x_, pads, mode), [x])
    rank = len(shape)
    tp = _torch_pads(pads, rank)[: 2 * (rank - 2)]  # torch pads only the spatial dims in these modes
    assert_close(out, F.pad(x, tp, mode=mode), dtype, msg=f"{mode} {shape} {pads}")


# (input shape, output sizes or None, scale factors or None)
RESIZE_CASES = [
    ((2, 3, 7), (13,), None), ((1, 2, 8), (4,), None), ((1, 2, 5), None, (2.5,)),
    ((1, 2, 5, 6), (9, 4), None), ((2, 1, 4, 4), (8, 8), None), ((1, 2, 6, 5), None, (1.7, 0.6)),
    ((1, 2, 3, 4), (3, 11), None), ((1, 1, 1, 3), (4, 2), None),
    ((1, 2, 3, 4, 5), (5, 2, 7), None), ((1, 1, 2, 3, 4), None, (2.0, 1.5, 0.75)),
]


@pytest.mark.parametrize("case", RESIZE_CASES)
@pytest.mark.parametrize("mode,align", [("nearest", False), ("linear", False), ("linear", True)])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_resize(case, mode, align, dtype):
    shape, sizes, factors = case
    x = randn(*shape, dtype=dtype, seed=15)
    nsp = len(shape) - 2
    torch_mode = mode if mode == "nearest" else {1: "linear", 2: "bilinear", 3: "trilinear"}[nsp]
    kw = {} if mode == "nearest" else {"align_corners": align}
    if factors:
        fn = lambda x_: F.interpolate(x_, scale_factor=factors, mode=torch_mode, **kw)  # noqa: E731
        sizes = tuple(int(s * f) for s, f in zip(shape[2:], factors))
        scales = [1.0 / f for f in factors]
    else:
        fn = lambda x_: F.interpolate(x_, size=sizes, mode=torch_mode, **kw)  # noqa: E731
        scales = []
    (out,) = run_network(lambda n, x_: n.add_resize(x_, sizes, mode, align, scales), [x], roundtrip=bool(factors))
    assert_close(out, reference(fn, x), dtype, msg=f"resize {case} {mode} {align}")


def _add(kind, attrs, shapes, dtype=torch.float32):
    net = tf.Network()
    xs = [net.add_input(f"in{i}", dtype, s) for i, s in enumerate(shapes)]
    return getattr(net, f"add_{kind}")(*xs, **attrs)


@pytest.mark.parametrize("kind,shapes,attrs,message", [
    ("convolution", [(1, 4, 5, 5), (2, 3, 3, 3)], {}, "weight dim 1"),
    ("convolution", [(1, 4, 5, 5), (3, 2, 3, 3)], {"groups": 2}, "output channels (3) not divisible"),
    ("convolution", [(1, 4, 2, 2), (2, 4, 3, 3)], {}, "larger than the padded input"),
    ("convolution", [(1, 4, 5, 5), (2, 4, 3, 3)], {"stride": (1,)}, "one value per spatial dim"),
    ("convolution", [(1, 4, 5, 5), (2, 4, 3, 3)], {"activation": "gelu"}, "activation must be 'none', 'relu', 'silu', 'hardswish' or 'relu6'"),
    ("deconvolution", [(1, 4, 5), (4, 2, 3)], {"stride": (2,), "output_padding": (2,)}, "output_padding"),
    ("pooling", [(1, 2, 5, 5)], {"mode": "max", "kernel": (2, 2), "padding": (2, 2)}, "at most half"),
    ("pooling", [(1, 2, 5, 5)], {"mode": "avg", "kernel": (2, 2), "dilation": (2, 2)}, "only supported by max"),
    ("adaptive_pooling", [(1, 2, 5, 5)], {"output_size": (0, 2)}, "output_size values"),
    ("pad", [(2, 3)], {"pads": (1, 2, 3)}, "pads must have 2 * rank"),
    ("pad", [(2, 3)], {"pads": (0, 3, 0, 0), "mode": "reflect"}, "smaller than the extent"),
    ("resize", [(1, 2, 4)], {"sizes": (8,), "mode": "nearest", "align_corners": True}, "align_corners"),
])
def test_errors(kind, shapes, attrs, message):
    with pytest.raises(tf.Error) as e:
        _add(kind, attrs, shapes)
    assert message in str(e.value) and kind in str(e.value)
