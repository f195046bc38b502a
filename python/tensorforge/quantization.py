"""`tensorforge.quantize(model, calibration_data, ...)`: a model made INT8 by calibration, as a
GraphModule with quantize/dequantize pairs (docs/quantization.md).

The model is captured with torch.export (non-strict). Every convolution and linear layer whose
weight is a parameter (linear, and addmm/mm by a 2-D parameter [K, N]: Hugging Face's Conv1D) gets
its input activation quantized per tensor (symmetric int8, scale = threshold / 127, the threshold
calibrated by `method` from the values that input took on the calibration batches:
tensorforge.calibration) and its weight per output channel (symmetric int8 in [-127, 127], scale =
channel amax / 127), written as PyTorch's `quantized_decomposed` ops, the form PT2E's
convert_pt2e writes. The result runs in PyTorch as it is (the quantized model's
reference), compiles with `torch.compile(backend="tensorforge")` and saves with `tensorforge.save`.

With `weight_only=True` only the weights of linear layers are quantized (per output channel, as
above) and activations stay in float: nothing is calibrated, and one batch of example inputs (the
first of `calibration_data`, or `example_inputs`) serves to capture the model. The engine then
reads int8 weights where a kernel takes them (on CUDA, matrix-vector products of few rows: the
memory-bound layers of batch-1 decoding), else their float values.

Layers named in `keep_float` (a module's qualified name, as `model.named_modules()` gives it, or a
prefix of it ending in "."), stay in float. With `min_cosine`, the layers whose quantization costs
the most are kept in float too, as few as reach that cosine similarity between the quantized and
the float model's outputs on the calibration batches (sensitivity.py). A calibration `cache` file
(JSON) keeps the thresholds: a later call with the same model structure and method reads them and
runs no calibration batch.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os

import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401 - torch.ops.quantized_decomposed
from torch.fx import GraphModule, Node

from tensorforge.calibration import METHODS, RangeRecorder
from tensorforge.errors import InvalidArgumentError, UnsupportedError

qd = torch.ops.quantized_decomposed
aten = torch.ops.aten
_CONVS = {aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, aten.convolution.default}
_LINEARS = {aten.linear.default, aten.addmm.default, aten.mm.default}
# Per op: the argument positions of the activation and the weight, and the weight's output-channel
# axis (addmm and mm take a [K, N] weight: Hugging Face's Conv1D layers in GPT-2).
_OPERANDS = {aten.addmm.default: (1, 2, 1), aten.mm.default: (0, 1, 1)}


def _operands(n: Node) -> tuple[int, int, int]:
    return _OPERANDS.get(n.target, (0, 1, 0))
STATS = {"calibration_batches": 0}
"""Process-wide count of calibration batches run (a cache hit runs none)."""


def quantize(model: torch.nn.Module, calibration_data=None, *, dtype=torch.int8, method: str = "entropy",
             percentile: float = 99.99, keep_float=(), cache: str | os.PathLike | None = None,
             weight_only: bool = False, example_inputs=None, min_cosine: float | None = None,
             residuals: bool = False) -> GraphModule:
    """The INT8 form of `model` (float8_e4m3fn with `dtype=torch.float8_e4m3fn`: weights per output
    channel and activations per tensor scaled to the format's 448, float8_ops.py), calibrated on
    `calibration_data` (an iterable of input tuples, or of
    single tensors, as the model is called; a handful of batches); with `weight_only`, its linear
    layers' weights in int8 and nothing calibrated (`example_inputs`, one input tuple, may replace
    `calibration_data`). With `min_cosine` (in (0, 1]) the most sensitive layers stay in float until
    the outputs on the calibration batches reach that cosine similarity with the float model's; their
    module names (as keep_float takes them) are in the result's `meta["tensorforge_kept_float"]`.
    With `residuals` (int8 only), the skip operand of each residual add after a quantized
    convolution is quantized per tensor too (calibrated like the layers' inputs, sharing their pair
    where it is the same tensor at the same scale), so that on CUDA a convolutional network's block
    outputs stay int8 (docs/quantization.md); it adds that rounding to the skip path."""
    if dtype not in (torch.int8, torch.float8_e4m3fn):
        raise UnsupportedError(f"tensorforge.quantize: dtype {dtype} is not supported (int8 and float8_e4m3fn are)")
    if dtype == torch.float8_e4m3fn and (weight_only or min_cosine is not None):
        raise UnsupportedError("tensorforge.quantize: float8_e4m3fn takes calibrated activations, without "
                               "weight_only or min_cosine yet")
    if min_cosine is not None and not 0 < min_cosine <= 1:
        raise InvalidArgumentError(f"tensorforge.quantize: min_cosine must be in (0, 1], got {min_cosine}")
    if residuals and (weight_only or dtype != torch.int8):
        raise UnsupportedError("tensorforge.quantize: residuals=True quantizes int8 activations (not weight_only "
                               "or float8)")
    if min_cosine is not None and weight_only:
        raise InvalidArgumentError("tensorforge.quantize: min_cosine needs calibrated activations (not weight_only)")
    if method not in METHODS:
        raise InvalidArgumentError(f"tensorforge.quantize: method must be one of {', '.join(METHODS)}, got {method!r}")
    if weight_only and example_inputs is not None:
        calibration_data = [example_inputs]
    batches = [tuple(b) if isinstance(b, (tuple, list)) else (b,) for b in (calibration_data or ())]
    if not batches or not all(isinstance(t, torch.Tensor) for b in batches for t in b):
        if weight_only:
            raise InvalidArgumentError("tensorforge.quantize(weight_only=True): example_inputs (one input tuple, as "
                                       "the model is called) is needed to capture the model")
        raise InvalidArgumentError("tensorforge.quantize: calibration_data must be a non-empty iterable of input "
                                   "tuples (tensors), as the model is called; INT8 activations need it "
                                   "(weight_only=True needs none)")
    with torch.no_grad():
        batch_dims = tuple({0: torch.export.Dim.AUTO} if t.dim() else None for t in batches[0])  # any batch size
        gm = torch.export.export(model, batches[0], dynamic_shapes=batch_dims, strict=False).module()
    targets = _quantizable(gm, tuple(keep_float), linear_only=weight_only)
    if not targets:
        what = "linear layer" if weight_only else "convolution or linear layer"
        raise UnsupportedError(f"tensorforge.quantize: the model has no {what} with a parameter weight to quantize "
                               "(or keep_float names them all)")
    if weight_only:
        _rewrite(gm, targets, None)
        return gm
    adds = _residual_adds(gm, targets) if residuals else {}
    key = _structure_key(gm, method, percentile) + (" residuals" if residuals else "")
    thresholds = _read_cache(cache, key)
    if thresholds is None:
        thresholds = _calibrate(gm, targets, batches, method, percentile, adds)
        if cache is not None:
            _write_cache(cache, key, thresholds)
    kept = []
    if min_cosine is not None:
        from tensorforge.sensitivity import most_sensitive_kept

        kept = set(most_sensitive_kept(gm, targets, thresholds, batches, min_cosine))
    gm.meta["tensorforge_kept_float"] = [_module_name(n) or n.name for n in targets if n.name in kept]
    if dtype == torch.float8_e4m3fn:
        _rewrite_float8(gm, [n for n in targets if n.name not in kept], thresholds)
        return gm
    shared = _rewrite(gm, [n for n in targets if n.name not in kept], thresholds)
    if adds:
        _quantize_residuals(gm, adds, thresholds, shared)
    return gm


def _module_name(node: Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def _quantizable(gm: GraphModule, keep_float: tuple, linear_only: bool = False) -> list[Node]:
    """Convolution (unless `linear_only`) and linear nodes whose weight is a parameter (get_attr), not
    kept in float."""
    out = []
    kinds = _LINEARS if linear_only else _CONVS | _LINEARS
    for n in gm.graph.nodes:
        if n.op != "call_function" or n.target not in kinds:
            continue
        xi, wi, _ = _operands(n)
        if len(n.args) <= max(xi, wi) or not isinstance(n.args[xi], Node):
            continue
        if not (isinstance(n.args[wi], Node) and n.args[wi].op == "get_attr"):
            continue
        if n.target in _OPERANDS and _attr(gm, n.args[wi].target).dim() != 2:
            continue
        name = _module_name(n)
        if any(name == k or (k.endswith(".") and name.startswith(k)) for k in keep_float):
            continue
        out.append(n)
    return out


def _attr(gm: GraphModule, target: str) -> torch.Tensor:
    owner, _, attr = target.rpartition(".")
    return getattr(gm.get_submodule(owner) if owner else gm, attr)


def _structure_key(gm: GraphModule, method: str, percentile: float) -> str:
    h = hashlib.sha256(f"{method} {percentile}\n".encode())
    for n in gm.graph.nodes:
        h.update(f"{n.op} {n.name} {n.target}\n".encode())
    return h.hexdigest()


def _read_cache(path, key: str) -> dict | None:
    if path is None or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        if data.get("key") == key and isinstance(data.get("thresholds"), dict) and \
                all(isinstance(v, (int, float)) and v >= 0 for v in data["thresholds"].values()):
            return {k: float(v) for k, v in data["thresholds"].items()}
    except (OSError, ValueError, AttributeError):
        pass
    return None  # another model's, or damaged: calibrate again (and overwrite it)


def _write_cache(path, key: str, thresholds: dict) -> None:
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump({"format": "tensorforge calibration cache 1", "key": key, "thresholds": thresholds}, f, indent=1)
    os.replace(tmp, path)


def activation_scale(threshold: float) -> float:
    """The per-tensor scale of a symmetric int8 activation calibrated to `threshold` (an input that
    was all zeros still gets a valid scale)."""
    return max(threshold, 1e-12) / 127


def quantized_weight(w: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`w` in int8 per output channel (`axis`), symmetric in [-127, 127]: (values, scales, zero points)."""
    w_scale = (w.abs().amax(dim=tuple(d for d in range(w.dim()) if d != axis)).float().clamp_min(1e-12) / 127)
    w_zero = torch.zeros(w.shape[axis], dtype=torch.int64, device=w.device)
    return qd.quantize_per_channel(w.float(), w_scale, w_zero, axis, -127, 127, torch.int8), w_scale, w_zero


class _Observer(torch.fx.Interpreter):
    """Runs the graph, showing `see` each watched node's watched argument ({node name: argument
    index}: a layer's input activation, a residual add's skip operand) under the name `keys` gives."""

    def __init__(self, gm, watched: dict, keys: dict, see):
        super().__init__(gm)
        self.watched, self.keys, self.see = watched, keys, see

    def run_node(self, n):
        if n.name in self.watched:
            self.see(self.keys[n.name], self.env[n.args[self.watched[n.name]]])
        return super().run_node(n)


def _calibrate(gm: GraphModule, targets: list[Node], batches: list, method: str, percentile: float,
               adds: dict | None = None) -> dict:
    """Thresholds by target name (its input activation) and by _residual_key(add) (a skip operand)."""
    watched = {n.name: _operands(n)[0] for n in targets}
    keys = {n.name: n.name for n in targets}
    for add, index in (adds or {}).items():
        watched[add.name], keys[add.name] = index, _residual_key(add)
    recorders = {k: RangeRecorder() for k in keys.values()}
    passes = [RangeRecorder.observe_max] + ([] if method == "max" else [RangeRecorder.observe_histogram])
    with torch.no_grad():
        for observe in passes:
            for batch in batches:
                _Observer(gm, watched, keys, lambda name, x: observe(recorders[name], x)).run(*batch)
                STATS["calibration_batches"] += 1
    return {name: r.threshold(method, percentile) for name, r in recorders.items()}


_ADDS = {aten.add.Tensor, aten.add_.Tensor}  # torch.export keeps `out += identity` in place
# Between a convolution and the add of its residual: its batch norm (as torch.export writes it in eval mode).
_NORMS = {aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default}


def _residual_key(add: Node) -> str:
    return f"{add.name}#residual"


def _residual_adds(gm: GraphModule, targets: list[Node]) -> dict:
    """{add node: the index of its skip operand} for each add of a target convolution's result
    (directly or through its batch norm) and another tensor; where both come from convolutions (a
    downsampling block's shortcut), the second operand is the skip, as in torchvision's `out += identity`."""
    convs = {n for n in targets if n.target in _CONVS}

    def from_conv(v) -> bool:
        for _ in range(3):
            if not isinstance(v, Node):
                return False
            if v in convs:
                return True
            if v.op != "call_function" or not v.args:
                return False
            if v.target not in _NORMS and not (v.target is operator.getitem and v.args[1] == 0):
                return False
            v = v.args[0]
        return False

    out = {}
    for n in gm.graph.nodes:
        if n.op != "call_function" or n.target not in _ADDS or len(n.args) < 2:
            continue
        a, b = n.args[:2]
        if not (isinstance(a, Node) and isinstance(b, Node)) or n.kwargs.get("alpha", 1) != 1:
            continue
        if from_conv(a):
            out[n] = 1
        elif from_conv(b):
            out[n] = 0
    return out


def _quantize_residuals(gm: GraphModule, adds: dict, thresholds: dict, shared: dict) -> None:
    """Puts a per-tensor int8 quantize/dequantize pair on each add's skip operand, the layers' own
    pair where one reads the same tensor at the same scale."""
    graph = gm.graph
    for add, index in adds.items():
        x = add.args[index]
        scale = activation_scale(thresholds[_residual_key(add)])
        xd = shared.get((x, scale))
        if xd is None:
            with graph.inserting_before(add):
                xq = graph.call_function(qd.quantize_per_tensor.default, (x, scale, 0, -128, 127, torch.int8))
                x_dtype = x.meta["val"].dtype if isinstance(x.meta.get("val"), torch.Tensor) else torch.float32
                xd = graph.call_function(qd.dequantize_per_tensor.default, (xq, scale, 0, -128, 127, torch.int8),
                                         {"out_dtype": x_dtype})
            shared[(x, scale)] = xd
        args = list(add.args)
        args[index] = xd
        add.args = tuple(args)
    graph.lint()
    gm.recompile()


def _rewrite(gm: GraphModule, targets: list[Node], thresholds: dict | None) -> dict:
    """Quantizes each target's weight per output channel and, unless `thresholds` is None (weight
    only), its input activation per tensor with the calibrated threshold. Targets reading one
    activation with one scale (a transformer's query, key and value projections) share its
    quantize/dequantize pair, so the engine quantizes it once and can merge their products."""
    graph = gm.graph
    shared: dict = {}  # (activation node, scale) -> its dequantized int8 form
    for k, n in enumerate(targets):
        xi, wi, axis = _operands(n)
        x, w_node = n.args[xi], n.args[wi]
        threshold = thresholds.get(n.name) if thresholds is not None else 0.0
        if threshold is None:
            raise InvalidArgumentError(f"tensorforge.quantize: no calibrated range for {n.name}")
        scale = activation_scale(threshold)
        w = _attr(gm, w_node.target).detach()
        w_q, w_scale, w_zero = quantized_weight(w, axis)
        # (the converters tell calibrated scales from weight-only ones by these names: conversion/aten_ops/quantize.py)
        names = [f"_tf_{'wonly' if thresholds is None else 'quant'}_{k}_{s}" for s in ("weight", "scale", "zero")]
        for name, value in zip(names, (w_q, w_scale, w_zero)):
            gm.register_buffer(name, value)
        with graph.inserting_before(n):
            xd = x if thresholds is None else shared.get((x, scale))
            if xd is None:
                xq = graph.call_function(qd.quantize_per_tensor.default, (x, scale, 0, -128, 127, torch.int8))
                x_dtype = x.meta["val"].dtype if isinstance(x.meta.get("val"), torch.Tensor) else w.dtype
                xd = graph.call_function(qd.dequantize_per_tensor.default, (xq, scale, 0, -128, 127, torch.int8),
                                         {"out_dtype": x_dtype})  # back in the activation's dtype (float16 models)
                shared[(x, scale)] = xd
            attrs = [graph.get_attr(name) for name in names]
            wd = graph.call_function(qd.dequantize_per_channel.default, (*attrs, axis, -127, 127, torch.int8),
                                     {"out_dtype": w.dtype})
        args = list(n.args)
        args[xi], args[wi] = xd, wd
        n.args = tuple(args)
        n.meta["_tf_float_weight"] = w_node.target
    _drop_float_weights(gm, targets)
    return shared


def _rewrite_float8(gm: GraphModule, targets: list[Node], thresholds: dict) -> None:
    """As _rewrite, in float8_e4m3fn (float8_ops.py): each weight per output channel (scale amax / 448)
    as a float8 buffer read through dequantize_float8, each input activation per tensor (scale
    threshold / 448) through fake_quantize_float8, shared by the targets reading one activation."""
    from tensorforge.float8_ops import FLOAT8_MAX, quantize_float8

    graph = gm.graph
    shared: dict = {}  # (activation node, scale) -> its float8 round trip
    ops = torch.ops.tensorforge
    for k, n in enumerate(targets):
        xi, wi, axis = _operands(n)
        x, w_node = n.args[xi], n.args[wi]
        threshold = thresholds.get(n.name)
        if threshold is None:
            raise InvalidArgumentError(f"tensorforge.quantize: no calibrated range for {n.name}")
        scale = max(threshold, 1e-12) / FLOAT8_MAX
        w = _attr(gm, w_node.target).detach()
        shape = [1] * w.dim()
        shape[axis] = w.shape[axis]
        w_scale = (w.abs().amax(dim=tuple(d for d in range(w.dim()) if d != axis)).float().clamp_min(1e-12)
                   / FLOAT8_MAX).reshape(shape)
        # The converters tell calibrated scales by these names (conversion/aten_ops/quantize.py).
        buffers = {f"_tf_quant_{k}_weight": quantize_float8(w, w_scale), f"_tf_quant_{k}_scale": w_scale,
                   f"_tf_quant_{k}_input_scale": torch.tensor(scale, dtype=torch.float32, device=w.device)}
        for name, value in buffers.items():
            gm.register_buffer(name, value)
        with graph.inserting_before(n):
            xd = shared.get((x, scale))
            if xd is None:
                xd = graph.call_function(ops.fake_quantize_float8.default,
                                         (x, graph.get_attr(f"_tf_quant_{k}_input_scale")))
                shared[(x, scale)] = xd
            wd = graph.call_function(ops.dequantize_float8.default, (graph.get_attr(f"_tf_quant_{k}_weight"),
                                                                     graph.get_attr(f"_tf_quant_{k}_scale"), w.dtype))
        args = list(n.args)
        args[xi], args[wi] = xd, wd
        n.args = tuple(args)
        n.meta["_tf_float_weight"] = w_node.target
    _drop_float_weights(gm, targets)


def _drop_float_weights(gm: GraphModule, targets: list[Node]) -> None:
    """Drops the float weights the quantized copies replaced, and recompiles."""
    graph = gm.graph
    graph.eliminate_dead_code()
    used = {n.target for n in graph.nodes if n.op == "get_attr"}
    for n in targets:  # the float weights the int8 copies replaced
        target = n.meta.get("_tf_float_weight")
        if target is not None and target not in used:
            owner, _, attr = target.rpartition(".")
            delattr(gm.get_submodule(owner) if owner else gm, attr)
    graph.lint()
    gm.recompile()
