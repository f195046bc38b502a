"""The CPU kernels that split their loops over the thread pool (cpu/parallel.h: normalization,
softmax, attention's softmax rows, pooling, binary and fused pointwise layers) give the same bits with one
thread as with several: each row or element range is computed by one thread the same way. Products
(the convolution's and attention's sgemm, whose longer side the pool splits over single-threaded
BLAS calls: oneDNN's dnnl_sgemm where the build has oneDNN, else OpenBLAS) sum in another blocking, so they agree within float32 rounding. The pool's size is
fixed per process (TENSORFORGE_CPU_THREADS), so each setting runs in a child process over the same
inputs, sized so that every loop splits (a range is about 16K elements)."""

import os
import subprocess
import sys

import numpy as np

CHILD = r"""
import sys, numpy as np, tensorforge as tf
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 16, 64, 64)).astype(np.float32)
w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1
b = rng.standard_normal(32).astype(np.float32)
res = rng.standard_normal((1, 32, 64, 64)).astype(np.float32)
t = rng.standard_normal((4, 64, 512)).astype(np.float32)
u = rng.standard_normal((64, 512)).astype(np.float32)
q, k, v = (rng.standard_normal((1, 2, 256, 64)).astype(np.float32) for _ in range(3))
net = tf.Network()
xi, ti, ri = net.add_input("x", x.dtype, x.shape), net.add_input("t", t.dtype, t.shape), net.add_input("r", res.dtype, res.shape)
qi, ki, vi, ui = (net.add_input(n, a.dtype, a.shape) for n, a in (("q", q), ("k", k), ("v", v), ("u", u)))
outs = [
    net.add_convolution(xi, net.add_constant(w), net.add_constant(b), padding=(1, 1), residual=ri, activation="relu"),
    net.add_layer_norm(ti, 1, eps=1e-5),
    net.add_softmax(ti, axis=-1),
    net.add_softmax(ti, axis=1),
    net.add_elementwise(ti, ti, "mul"),
    net.add_attention(qi, ki, vi, causal=True),
    net.add_pooling(xi, "max", (3, 3), stride=(2, 2), padding=(1, 1)),
    net.add_adaptive_pooling(xi, (7, 7), "avg"),
    # A fused pointwise layer, as the optimizer makes them, over a broadcast second input.
    net.add_pointwise([ti, ui], "input %a: float32[4,64,512]\ninput %b: float32[64,512]\n"
                      "%m: float32[4,64,512] = elementwise \"m\" (%a, %b) {op=\"mul\"}\n"
                      "%t: float32[4,64,512] = unary \"t\" (%m) {op=\"tanh\"}\noutput %t\n")[0],
]
for i, o in enumerate(outs):
    net.mark_output(o, f"out{i}")
engine = tf.Builder(tf.BuilderConfig(device="cpu")).build(net)
got = engine(x, t, res, q, k, v, u)
np.savez(sys.argv[1], *got)
"""


def run_with_threads(threads: int, path: str) -> list:
    env = dict(os.environ, TENSORFORGE_CPU_THREADS=str(threads))
    r = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]


def test_threads_do_not_change_the_bits(tmp_path):
    one = run_with_threads(1, str(tmp_path / "one.npz"))
    four = run_with_threads(4, str(tmp_path / "four.npz"))
    assert len(one) == len(four) == 9
    products = {0, 5}  # the convolution and the attention
    for i, (a, b) in enumerate(zip(one, four)):
        assert a.shape == b.shape and np.isfinite(a).all()
        if i in products:
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=f"output {i} with 4 threads")
        else:
            assert np.array_equal(a, b, equal_nan=True), f"output {i} differs with 4 threads"
