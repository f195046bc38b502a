"""Random networks through the Python engine API, for the network fuzzer.

Layer kinds, their input slots and attribute names and types come from the IR's own schema
(`tensorforge._C.layer_schema`); values are drawn to sit near the edges that matter (empty and
mismatched lists, negative, zero, huge and non-finite numbers, unknown strings, wrong dtypes and
ranks). A generated network is built on the CPU and, when small enough, run on random inputs.
Whatever happens must be a result or a tensorforge.Error.
"""

from __future__ import annotations

import random

import numpy as np

import tensorforge as tf

DTYPES = ["float32", "float16", "bfloat16", "int8", "int32", "int64", "bool", "uint8"]
NP = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "int32": np.int32, "int64": np.int64,
      "bool": np.bool_, "uint8": np.uint8}
# Every string attribute value the layers know (docs/layers.md), plus a few they do not.
STRINGS = ["add", "sub", "mul", "div", "floor_div", "mod", "pow", "min", "max", "eq", "ne", "lt", "le", "gt",
           "ge", "logical_and", "logical_or", "logical_xor", "exp", "log", "sqrt", "rsqrt", "abs", "neg", "sign",
           "floor", "ceil", "round", "trunc", "not", "isnan", "isinf", "erf", "sin", "tanh", "relu", "sigmoid",
           "gelu_erf", "gelu_tanh", "silu", "leaky_relu", "elu", "celu", "softplus", "clip", "hardswish",
           "hardsigmoid", "mish", "gelu", "none", "sum", "mean", "prod", "any", "all", "argmax", "argmin", "avg",
           "nearest", "linear", "constant", "reflect", "replicate", "take", "elements", "float32", "float16",
           "int64", "bool", "", "RELU", "\u00e9\u00e8", "x" * 200]
# The values each (kind, string attribute) takes, so that most drawn layers are valid and the
# fuzzer gets past inference to the kernels.
ELEMENTWISE = ["add", "sub", "mul", "div", "floor_div", "mod", "pow", "min", "max", "eq", "ne", "lt", "le", "gt",
               "ge", "logical_and", "logical_or", "logical_xor"]
UNARY = ["exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tan", "asin",
         "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "abs", "neg", "sign", "floor",
         "ceil", "round", "trunc", "not", "isnan", "isinf"]
ACTIVATION = ["relu", "sigmoid", "tanh", "gelu_erf", "gelu_tanh", "silu", "leaky_relu", "elu", "celu", "softplus",
              "clip", "hardswish", "hardsigmoid", "mish", "selu", "softsign", "relu6", "hardtanh", "logsigmoid"]
KIND_STRINGS = {
    ("elementwise", "op"): ELEMENTWISE, ("unary", "op"): UNARY, ("activation", "op"): ACTIVATION,
    ("reduce", "op"): ["sum", "mean", "max", "min", "prod", "any", "all"], ("arg_reduce", "op"): ["argmax", "argmin"],
    ("pooling", "mode"): ["max", "avg"], ("adaptive_pooling", "mode"): ["max", "avg"],
    ("resize", "mode"): ["nearest", "linear"], ("pad", "mode"): ["constant", "reflect", "replicate"],
    ("gather", "mode"): ["take", "elements"], ("scatter", "reduce"): ["none", "add", "mul", "max", "min"],
    ("convolution", "activation"): ["none", "relu"], ("matmul", "activation"): ["none", "relu", "gelu", "gelu_tanh"],
}
MAX_RUN_BYTES = 64 << 20
MAX_BUILD_ELEMENTS = 1 << 28  # networks with more tensor elements are valid but only exhaust memory: not built  # engines whose arena or I/O is larger are built but not run


def _int(rng: random.Random) -> int:
    return rng.choice([0, 1, 2, 3, -1, -2, 4, 7, 1 << 20, 1 << 31, -(1 << 31), (1 << 62), -(1 << 63), 2**63 - 1])


def _float(rng: random.Random) -> float:
    return rng.choice([0.0, 1.0, 0.5, -1.0, 1e-5, 2.0, 1e30, -1e30, float("nan"), float("inf"), 1e-300, 3.0])


def _shape(rng: random.Random) -> tuple:
    rank = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 4, 5])
    return tuple(rng.choice([1, 1, 2, 3, 4, 5, 0]) if rng.random() < 0.97 else rng.choice([7, 16, 1 << 40])
                 for _ in range(rank))


def _array(rng: random.Random, shape=None, dtype=None) -> np.ndarray:
    shape = _shape(rng) if shape is None else shape
    if any(d > 1 << 20 for d in shape):
        shape = tuple(min(d, 4) for d in shape)
    dtype = dtype or rng.choice([d for d in DTYPES if d in NP])
    a = np.random.default_rng(rng.getrandbits(32)).standard_normal(shape) * 3
    return a.astype(NP[dtype])


def _value(rng: random.Random, layer: str, name: str, kind: str, rank: int):
    r = rng.random()
    if kind == "int":
        return rng.choice([0, 1, -1, rank - 1, 2]) if r < 0.7 else _int(rng)
    if kind == "float":
        return rng.choice([0.0, 1e-5, 0.5, 1.0]) if r < 0.7 else _float(rng)
    if kind == "string":
        if name == "dtype" and r < 0.9:
            return rng.choice(DTYPES)
        known = KIND_STRINGS.get((layer, name))
        return rng.choice(known) if known and r < 0.9 else rng.choice(STRINGS)
    if kind == "ints":
        n = rng.choice([0, 1, 2, rank, 2 * rank, max(rank - 2, 0), 3])
        return [rng.choice([0, 1, 1, 2, 3, -1]) if rng.random() < 0.85 else _int(rng) for _ in range(n)]
    if kind == "floats":
        return [rng.choice([0.5, 1.0, 2.0]) if rng.random() < 0.8 else _float(rng) for _ in range(rng.choice([0, 1, 2, 3]))]
    if kind == "weights":
        return _array(rng)
    return None


def _random_layer(rng: random.Random, net, kind: str, tensors: list, name: str):
    """Adds one layer of `kind` with random inputs and attributes; its outputs, or None if the
    network refused it (with a tensorforge.Error, as it must)."""
    slots, min_inputs, variadic, attrs = tf._C.layer_schema(kind)
    count = len(slots) if not variadic else rng.randint(1, 4)
    count = rng.randint(min(min_inputs, count), count) if rng.random() < 0.9 else rng.randint(0, count + 1)
    ins = []
    for _ in range(count):
        u = rng.random()
        ins.append(rng.choice(tensors) if u < 0.75 else None if u < 0.82 else net.add_constant(_array(rng)))
    rank = len(ins[0].shape) if ins and ins[0] is not None else 2
    values = {}
    for attr, attr_type, required in attrs:
        if required or rng.random() < 0.6:
            values[attr] = _value(rng, kind, attr, attr_type, rank)
    if rng.random() < 0.03:
        values["no_such_attribute"] = 1
    try:
        return net.add_layer(kind, ins, values, name=name)
    except tf.Error:
        return None


def random_network(rng: random.Random, max_layers: int = 5):
    """(network, {input name: array}) with 1-3 inputs and 1-max_layers random layers."""
    net = tf.Network()
    inputs, tensors = {}, []
    for i in range(rng.randint(1, 3)):
        dtype = rng.choice(["float32"] * 4 + [d for d in DTYPES if d in NP])
        shape = _shape(rng)
        if any(d > 1 << 20 for d in shape) and rng.random() < 0.9:
            shape = tuple(min(d, 4) for d in shape)
        name = f"in{i}"
        tensors.append(net.add_input(name, dtype, shape))
        inputs[name] = (dtype, shape)
    kinds = tf._C.layer_kinds()
    for n in range(rng.randint(1, max_layers)):
        for _attempt in range(8):  # most random layers are invalid; retry a few to get deeper networks
            outs = _random_layer(rng, net, rng.choice(kinds), tensors, f"l{n}")
            if outs:
                tensors.extend(outs)
                break
    net.fuzz_elements = sum(int(np.prod(t.shape, dtype=np.float64)) for t in tensors)
    produced = [t for t in tensors if t.name not in inputs]
    for i, t in enumerate(rng.sample(produced, k=min(len(produced), rng.randint(1, 2)))):
        net.mark_output(t, f"out{i}")
    return net, inputs


def feeds(rng: random.Random, inputs: dict):
    """Random arrays for the engine's inputs (bfloat16 through torch, which alone holds it)."""
    import torch

    out = []
    for dtype, shape in inputs.values():
        if dtype == "bfloat16":
            out.append(torch.randn(shape).to(torch.bfloat16))
        else:
            out.append(_array(rng, shape, dtype))
    return out


def run_one(rng: random.Random) -> str:
    """Builds (and maybe runs) one random network; returns the outcome's name. Errors other than
    tensorforge.Error propagate to the caller, which counts them as failures."""
    try:
        net, inputs = random_network(rng)
    except tf.Error:
        return "network-error"
    if not net.outputs:
        return "no-output"
    if net.fuzz_elements > MAX_BUILD_ELEMENTS:
        return "too-large-to-build"
    try:
        engine = tf.Builder(tf.BuilderConfig(optimization_level=rng.choice([0, 3]))).build(net)
    except tf.Error:
        return "build-error"
    io_bytes = sum(int(np.prod(t.shape, dtype=np.float64)) * 8 for t in engine.io_tensors)
    if engine.arena_size > MAX_RUN_BYTES or io_bytes > MAX_RUN_BYTES:
        return "built-too-large-to-run"
    try:
        engine(*feeds(rng, inputs))
    except tf.Error:
        return "run-error"
    return "ran"
