"""Writes the fuzz seed corpus: small CPU engines that together use every layer kind (a fused
pointwise layer's body text included), with weights, optional inputs, integer indices and string,
list and float attributes.

    python3 tools/fuzz/make_corpus.py [OUT_DIR]     (default: tests/fuzz_corpus)
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

import tensorforge as tf

F32 = np.float32


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(F32)


def conv_net(net):
    x = net.add_input("image", "float32", (1, 2, 8, 8))
    y = net.add_convolution(x, rand(4, 2, 3, 3), rand(4), padding=(1, 1), activation="relu")
    y = net.add_pooling(y, "max", kernel=(2, 2))
    y = net.add_adaptive_pooling(y, (2, 2), "avg")
    y = net.add_reshape(y, (1, 16))
    y = net.add_matmul(y, rand(16, 5), bias=rand(5), activation="gelu")
    net.mark_output(net.add_softmax(y, axis=-1), "probs")


def spatial_net(net):
    x = net.add_input("x", "float32", (1, 3, 4, 4))
    y = net.add_deconvolution(x, rand(3, 2, 2, 2), rand(2), stride=(2, 2))
    y = net.add_pad(y, (0, 0, 1, 1, 0, 0, 1, 1), mode="reflect")
    y = net.add_resize(y, (6, 6), mode="linear", align_corners=True)
    y = net.add_batch_norm(y, rand(2), np.abs(rand(2)) + 1, rand(2), rand(2))
    net.mark_output(net.add_group_norm(y, 2, rand(2), rand(2)), "y")


def pointwise_net(net):
    a = net.add_input("a", "float32", (2, 3))
    b = net.add_input("b", "float16", (3,))
    bf = net.add_cast(b, "float32")
    y = net.add_elementwise(a, bf, "pow")
    y = net.add_unary(y, "exp")
    y = net.add_activation(y, "leaky_relu", alpha=0.2)
    y = net.add_prelu(y, rand(3))
    c = net.add_elementwise(a, bf, "lt")
    y = net.add_select(c, y, a)
    net.mark_output(net.add_cast(y, "int32"), "ints")
    net.mark_output(y, "y")


def norm_reduce_net(net):
    x = net.add_input("x", "float32", (2, 4, 6))
    y = net.add_layer_norm(x, 1, rand(6), rand(6))
    y = net.add_rms_norm(y, 2, rand(4, 6), eps=1e-6)
    net.mark_output(net.add_reduce(y, "sum", axes=(1,), keepdim=True), "sum")
    net.mark_output(net.add_arg_reduce(y, "argmax", axis=2), "argmax")
    net.mark_output(net.add_cumsum(y, axis=1), "cumsum")
    values, indices = net.add_topk(y, 2, axis=-1)
    net.mark_output(values, "top")
    net.mark_output(indices, "top_idx")


def shape_index_net(net):
    x = net.add_input("x", "float32", (2, 3, 4))
    idx = net.add_input("idx", "int64", (2, 3, 2))
    t = net.add_transpose(x, (2, 0, 1))
    e = net.add_expand(net.add_slice(x, (1,), (0,), (1,)), (2, 3, 4))
    c = net.add_concat([x, e], axis=1)
    p, q = net.add_split(c, (2, 4), axis=1)
    g = net.add_gather(x, np.array([2, 0], np.int64), axis=2, mode="take")
    ge = net.add_gather(x, idx, axis=2, mode="elements")
    s = net.add_scatter(x, idx, ge, axis=2, reduce="add")
    net.mark_output(t, "t")
    net.mark_output(p, "p")
    net.mark_output(q, "q")
    net.mark_output(g, "g")
    net.mark_output(s, "s")


def attention_net(net):
    q = net.add_input("q", "float32", (1, 2, 4, 8))
    k = net.add_input("k", "float32", (1, 2, 4, 8))
    v = net.add_input("v", "float32", (1, 2, 4, 8))
    mask = net.add_input("mask", "bool", (4, 4))
    net.mark_output(net.add_attention(q, k, v, mask=mask, scale=0.25), "masked")
    net.mark_output(net.add_attention(q, k, v, causal=True), "causal")


def generator_net(net):
    f = net.add_fill((2, 3), 1.5, "float32")
    r = net.add_arange(3, start=1, step=2, dtype="int64")
    c = net.add_constant(rand(2, 3), "const")
    net.mark_output(net.add_elementwise(f, c, "max"), "filled")
    net.mark_output(r, "range")
    net.mark_output(c, "const_out")


def fused_net(net):
    x = net.add_input("x", "float16", (2, 5))
    m = net.add_input("m", "bool", (5,))
    body = ('input %x: float16[2,5]\ninput %b: float16[5]\ninput %m: bool[5]\n'
            '%a: float16[2,5] = elementwise "a" (%x, %b) {op="add"}\n'
            '%g: float16[2,5] = activation "g" (%a) {alpha=0.1, beta=0, op="leaky_relu"}\n'
            '%s: float16[2,5] = select "s" (%m, %g, %x)\n'
            '%f: float32[2,5] = cast "f" (%s) {dtype="float32"}\n'
            '%t: bool[2,5] = unary "t" (%f) {op="isnan"}\n'
            'output %f\noutput %t\n')
    f, t = net.add_pointwise([x, rand(5).astype(np.float16), m], body)
    net.mark_output(f, "f")
    net.mark_output(t, "t")


def quantized_net(net):
    x = net.add_input("x", "float32", (3, 4))
    scale = net.add_constant(np.array([0.05], dtype=F32))
    zero = net.add_constant(np.array([3], dtype=np.int32))
    q = net.add_quantize(x, scale, zero, dtype="int8", qmin=-127, qmax=127)
    net.mark_output(net.add_dequantize(q, scale, zero, dtype="float16"), "dequantized")
    w = net.add_constant((np.arange(8).reshape(2, 4) - 4).astype(np.int8))
    y = net.add_quantized_matmul(q, w, np.array([0.01, 0.02], dtype=F32), np.array([1, -1], dtype=F32),
                                 transpose_b=True, activation="relu")
    net.mark_output(y, "y")


BUILDERS = [conv_net, spatial_net, pointwise_net, norm_reduce_net, shape_index_net, attention_net, generator_net,
            fused_net, quantized_net]


def main(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    kinds = set()
    for build in BUILDERS:
        net = tf.Network()
        build(net)
        engine = tf.Builder().build(net)
        kinds |= {line.split(" = ", 1)[1].split()[0] for line in net.to_text().splitlines() if " = " in line}
        (out / f"{build.__name__}.tfengine").write_bytes(engine.serialize())
    missing = set(tf._C.layer_kinds()) - kinds
    print(f"wrote {len(BUILDERS)} engines to {out}; layer kinds not covered: {sorted(missing) or 'none'}")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz_corpus"))
