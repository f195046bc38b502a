"""The CPU kernels through oneDNN (src/kernels/cpu/conv_onednn.cc, matmul_onednn.cc), in builds that
have it: float32 2-D convolutions with a constant weight take it, over strides, padding whose last
window stops short, dilation, groups, bias, residual and each activation, matching PyTorch and the
im2col kernel; float32 products by a constant matrix likewise (either orientation, batched rows,
bias, residual, each activation) against PyTorch and the sgemm kernel; a weight computed at run
time keeps the other kernels; one engine called from several threads at once gives each call its
own answer."""

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tensorforge as tf

ACTS = {"none": lambda y: y, "relu": F.relu, "silu": F.silu, "hardswish": F.hardswish, "relu6": F.relu6}

CASES = [  # x shape, weight shape, stride, padding, dilation, groups, bias, residual, activation
    ((2, 8, 13, 11), (16, 8, 3, 3), (1, 1), (1, 1), (1, 1), 1, True, False, "relu"),
    ((1, 3, 32, 30), (8, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1, False, False, "none"),
    ((2, 8, 12, 12), (8, 1, 3, 3), (2, 2), (1, 1), (1, 1), 8, True, False, "silu"),
    ((1, 6, 9, 10), (12, 3, 3, 3), (1, 1), (2, 2), (2, 2), 2, True, True, "relu"),
    ((1, 16, 10, 10), (24, 16, 1, 1), (2, 2), (0, 0), (1, 1), 1, True, False, "hardswish"),  # last column unread
    ((3, 4, 10, 10), (4, 4, 3, 3), (2, 2), (1, 1), (1, 1), 1, False, True, "none"),  # a window short
    ((1, 16, 14, 14), (16, 1, 3, 3), (1, 1), (1, 1), (1, 1), 16, True, True, "relu6"),  # MobileNetV2's depthwise
]


def _build(case, disabled=()):
    xs, ws, stride, pad, dil, groups, bias, residual, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    w = rng.standard_normal(ws).astype(np.float32) * 0.2
    b = rng.standard_normal(ws[0]).astype(np.float32) if bias else None
    y_shape = F.conv2d(torch.zeros(xs), torch.from_numpy(w), None, stride, pad, dil, groups).shape
    net = tf.Network()
    x = net.add_input("x", np.float32, xs)
    r = net.add_input("r", np.float32, tuple(y_shape)) if residual else None
    y = net.add_convolution(x, net.add_constant(w), net.add_constant(b) if bias else None, stride=stride, padding=pad,
                            dilation=dil, groups=groups, activation=act, residual=r, name="conv")
    net.mark_output(y, "y")
    engine = tf.Builder(tf.BuilderConfig(disabled_tactics=list(disabled))).build(net)
    return engine, w, b, tuple(y_shape)


def _tactic(engine, kind="convolution") -> str:
    return next(layer["tactic"] for layer in engine.inspect("json")["layers"] if layer["kind"] == kind)


def _onednn_or_skip(engine, kind="convolution"):
    if not tf._C.built_with_onednn():
        pytest.skip("this build has no oneDNN (CMake found no libdnnl-dev), so im2col and sgemm take every layer")
    assert _tactic(engine, kind) == f"cpu.{'conv' if kind == 'convolution' else kind}.onednn", engine.inspect()


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_matches_pytorch_and_im2col(case):
    engine, w, b, y_shape = _build(case)
    _onednn_or_skip(engine)
    xs, _, stride, pad, dil, groups, _, residual, act = case
    x = torch.randn(xs)
    r = torch.randn(y_shape) if residual else None
    args = (x, r) if residual else (x,)
    (got,) = engine(*args)
    want = F.conv2d(x.double(), torch.from_numpy(w).double(), torch.from_numpy(b).double() if b is not None else None,
                    stride, pad, dil, groups)
    want = ACTS[act](want + r.double() if residual else want)
    torch.testing.assert_close(torch.as_tensor(got).double(), want, rtol=1e-4, atol=1e-4)
    im2col, *_ = _build(case, disabled=["cpu.conv.onednn"])
    assert _tactic(im2col) == "cpu.conv.im2col_gemm"
    torch.testing.assert_close(torch.as_tensor(got), torch.as_tensor(im2col(*args)[0]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_channels_last_layers_run_in_place(case):
    # Layout "nhwc" (as channels_last_float32 makes it): x, residual and y [N, H, W, C], the weight
    # [Cout, kh, kw, Cin / groups]; oneDNN reads and writes them without reordering.
    xs, ws, stride, pad, dil, groups, bias, residual, act = case
    g = torch.Generator().manual_seed(len(xs) + ws[0])
    x, w = torch.randn(xs, generator=g), torch.randn(ws, generator=g) * 0.2
    b = torch.randn(ws[0], generator=g) if bias else None
    want = F.conv2d(x.double(), w.double(), b.double() if bias else None, stride, pad, dil, groups)
    r = torch.randn(want.shape, generator=g) if residual else None
    want = ACTS[act](want + r.double() if residual else want).permute(0, 2, 3, 1)
    last = (0, 2, 3, 1)
    net = tf.Network()
    xi = net.add_input("x", np.float32, tuple(x.permute(last).shape))
    ri = net.add_input("r", np.float32, tuple(r.permute(last).shape)) if residual else None
    y = net.add_convolution(xi, net.add_constant(w.permute(last).contiguous().numpy()),
                            net.add_constant(b.numpy()) if bias else None, stride=stride, padding=pad, dilation=dil,
                            groups=groups, activation=act, residual=ri, layout="nhwc", name="conv")
    net.mark_output(y, "y")
    engine = tf.Builder().build(net)
    _onednn_or_skip(engine)
    args = [x.permute(last).contiguous()] + ([r.permute(last).contiguous()] if residual else [])
    (got,) = engine(*args)
    torch.testing.assert_close(torch.as_tensor(got).double(), want, rtol=1e-4, atol=1e-4)
    choice = next(layer for layer in engine.inspect("json")["layers"] if layer["kind"] == "convolution")
    assert "reordered" not in str(choice), choice


@pytest.mark.parametrize("mode,kernel,stride,padding,extra", [
    ("max", (3, 3), (2, 2), (1, 1), {}),  # ResNet's stem
    ("max", (2, 3), (1, 2), (1, 0), {"dilation": (2, 1)}),
    ("max", (3, 3), (2, 2), (1, 1), {"ceil_mode": True}),
    ("avg", (3, 3), (2, 2), (1, 1), {}),
    ("avg", (3, 2), (2, 1), (1, 1), {"count_include_pad": False}),
    ("avg", (2, 2), (2, 2), (0, 0), {"divisor_override": 3}),
])
def test_channels_last_pooling_in_place(mode, kernel, stride, padding, extra):
    x = torch.randn(2, 11, 9, 19)
    x[0, 3, 2, 4] = float("nan")
    last = (0, 2, 3, 1)
    net = tf.Network()
    xi = net.add_input("x", np.float32, tuple(x.permute(last).shape))
    net.mark_output(net.add_pooling(xi, mode, kernel, stride, padding, layout="nhwc", **extra), "y")
    net.mark_output(net.add_adaptive_pooling(xi, (4, 5), "max" if mode == "max" else "avg", layout="nhwc"), "a")
    engine = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
    y, a = engine(x.permute(last).contiguous())
    if mode == "max":
        want = F.max_pool2d(x, kernel, stride, padding, dilation=extra.get("dilation", 1),
                            ceil_mode=extra.get("ceil_mode", False))
        want_a = F.adaptive_max_pool2d(x, (4, 5))
    else:
        want = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=extra.get("count_include_pad", True),
                            divisor_override=extra.get("divisor_override"))
        want_a = F.adaptive_avg_pool2d(x, (4, 5))
    torch.testing.assert_close(torch.as_tensor(y), want.permute(last), equal_nan=True)
    torch.testing.assert_close(torch.as_tensor(a), want_a.permute(last), equal_nan=True)


def test_weight_computed_at_run_time_keeps_im2col():
    engine, *_ = _build(CASES[0])
    _onednn_or_skip(engine)
    net = tf.Network()
    x, w = net.add_input("x", np.float32, (1, 4, 6, 6)), net.add_input("w", np.float32, (5, 4, 3, 3))
    net.mark_output(net.add_convolution(x, w, padding=(1, 1)), "y")
    assert _tactic(tf.Builder().build(net)) == "cpu.conv.im2col_gemm"


def test_one_engine_from_several_threads():
    case = CASES[3]
    engine, *_ = _build(case)
    _onednn_or_skip(engine)
    _, _, y_shape = _build(case)[1:]
    inputs = [(torch.randn(case[0]), torch.randn(y_shape)) for _ in range(6)]
    want = [torch.as_tensor(engine(*a)[0]).clone() for a in inputs]
    got, errors = [None] * len(inputs), []

    def call(i):
        try:
            for _ in range(20):
                got[i] = torch.as_tensor(engine(*inputs[i])[0]).clone()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


MATMUL_ACTS = {"none": lambda y: y, "relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda y: F.gelu(y, approximate="tanh")}

MATMUL_CASES = [  # a shape, weight shape (as stored), transpose_b, bias, residual, activation
    ((5, 16), (16, 24), False, False, False, "none"),
    ((2, 7, 32), (48, 32), True, True, False, "gelu"),
    ((3, 4, 2, 8), (8, 12), False, True, True, "relu"),
    ((1, 9, 16), (40, 16), True, True, True, "gelu_tanh"),
]


def _matmul(case, disabled=()):
    a_shape, w_shape, tb, bias, residual, act = case
    rng = np.random.default_rng(len(a_shape) * 31 + w_shape[0])
    w = rng.standard_normal(w_shape).astype(np.float32) * 0.2
    n = w_shape[0] if tb else w_shape[1]
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    out_shape = a_shape[:-1] + (n,)
    net = tf.Network()
    a = net.add_input("a", np.float32, a_shape)
    r = net.add_input("r", np.float32, out_shape) if residual else None
    # The residual (added after the bias, before the activation) is the layer's fourth input.
    y = net.add_layer("matmul", [a, net.add_constant(w), net.add_constant(b) if bias else None, r],
                      {"transpose_a": 0, "transpose_b": int(tb), "activation": act}, "mm")[0]
    net.mark_output(y, "y")
    return tf.Builder(tf.BuilderConfig(disabled_tactics=list(disabled))).build(net), w, b, out_shape


@pytest.mark.parametrize("case", MATMUL_CASES, ids=[f"case{i}" for i in range(len(MATMUL_CASES))])
def test_matmul_matches_pytorch_and_sgemm(case):
    engine, w, b, out_shape = _matmul(case)
    _onednn_or_skip(engine, "matmul")
    a_shape, _, tb, _, residual, act = case
    a = torch.randn(a_shape)
    r = torch.randn(out_shape) if residual else None
    args = (a, r) if residual else (a,)
    (got,) = engine(*args)
    wt = torch.from_numpy(w).double()
    want = a.double() @ (wt.T if tb else wt) + (torch.from_numpy(b).double() if b is not None else 0)
    want = MATMUL_ACTS[act](want + r.double() if residual else want)
    torch.testing.assert_close(torch.as_tensor(got).double(), want, rtol=1e-4, atol=1e-4)
    sgemm, *_ = _matmul(case, disabled=["cpu.matmul.onednn"])
    assert _tactic(sgemm, "matmul") == "cpu.matmul.sgemm"
    torch.testing.assert_close(torch.as_tensor(got), torch.as_tensor(sgemm(*args)[0]), rtol=1e-4, atol=1e-4)


def test_matmul_by_a_computed_or_batched_matrix_keeps_sgemm():
    engine, *_ = _matmul(MATMUL_CASES[0])
    _onednn_or_skip(engine, "matmul")
    net = tf.Network()
    a, b = net.add_input("a", np.float32, (4, 8)), net.add_input("b", np.float32, (8, 3))
    c = net.add_constant(np.ones((2, 8, 3), np.float32))
    net.mark_output(net.add_matmul(a, b), "y")
    net.mark_output(net.add_matmul(net.add_reshape(a, (1, 4, 8)), c), "z")
    tactics = {layer["tactic"] for layer in tf.Builder().build(net).inspect("json")["layers"] if layer["kind"] == "matmul"}
    assert tactics == {"cpu.matmul.sgemm"}


def test_a_forked_child_runs_the_engines():
    """oneDNN's OpenMP threads do not survive fork(): a child forked after the parent ran the engines
    runs the same layers through im2col and sgemm, with the same results (within float32 rounding),
    instead of waiting forever for threads it does not have."""
    engine, *_ = _build(CASES[0])
    _onednn_or_skip(engine)
    import os
    import subprocess
    import sys

    script = """
import os, sys, torch
sys.path.insert(0, sys.argv[1])
import test_cpu_onednn as t
conv, *_ = t._build(t.CASES[0])
mm, *_ = t._matmul(t.MATMUL_CASES[1])
x, a = torch.randn(t.CASES[0][0]), torch.randn(t.MATMUL_CASES[1][0])
want = [torch.as_tensor(conv(x)[0]).clone(), torch.as_tensor(mm(a)[0]).clone()]
pid = os.fork()
if pid == 0:
    got = [torch.as_tensor(conv(x)[0]), torch.as_tensor(mm(a)[0])]
    os._exit(0 if all(torch.allclose(g, w, rtol=1e-4, atol=1e-4) for g, w in zip(got, want)) else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", script, os.path.dirname(os.path.abspath(__file__))],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
