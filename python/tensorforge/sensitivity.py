"""Which layers to keep in float so that an INT8 model stays close to its float one
(`tensorforge.quantize(..., min_cosine=...)`, docs/quantization.md).

The quantized model is simulated on the float graph: an interpreter runs it with the chosen layers'
input activations and weights replaced by their int8 values dequantized, exactly the values the
rewritten graph computes with (quantization.py). Each layer's sensitivity is the cosine similarity
between the float model's outputs on the calibration batches and the outputs with that layer alone
quantized. The layers are then kept in float most sensitive first: the fewest kept whose model,
with every other layer quantized, reaches the target (a binary search over that count, which
assumes that keeping more layers in float does not lower the similarity).
"""

from __future__ import annotations

import logging

import torch
from torch.fx import GraphModule, Node

from tensorforge.quantization import _module_name, _operands, activation_scale, qd, quantized_weight

logger = logging.getLogger("tensorforge")


class _Simulated(torch.fx.Interpreter):
    """Runs the float graph with the layers in `chosen` computing on dequantized int8 operands."""

    def __init__(self, gm: GraphModule, chosen: set, thresholds: dict, weights: dict):
        super().__init__(gm)
        self.chosen, self.thresholds, self.weights = chosen, thresholds, weights

    def run_node(self, n: Node):
        if n.name not in self.chosen:
            return super().run_node(n)
        xi, wi, axis = _operands(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        args = list(args)
        x, w = args[xi], args[wi]
        scale = activation_scale(self.thresholds[n.name])
        args[xi] = qd.dequantize_per_tensor(qd.quantize_per_tensor(x, scale, 0, -128, 127, torch.int8), scale, 0,
                                            -128, 127, torch.int8, out_dtype=x.dtype)
        if n.name not in self.weights:
            self.weights[n.name] = qd.dequantize_per_channel(*quantized_weight(w, axis), axis, -127, 127, torch.int8,
                                                             out_dtype=w.dtype)
        args[wi] = self.weights[n.name]
        return getattr(self, n.op)(n.target, tuple(args), kwargs)


def _flat(out) -> torch.Tensor:
    """Every floating-point tensor of an output structure, flattened and joined in float64."""
    leaves = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor) and t.is_floating_point()]
    return torch.cat([t.detach().double().flatten() for t in leaves]) if leaves else torch.zeros(1, dtype=torch.float64)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return (a @ b / (na * nb)).item()


def most_sensitive_kept(gm: GraphModule, targets: list[Node], thresholds: dict, batches: list,
                        min_cosine: float) -> list[str]:
    """The names of the target nodes to keep in float (most sensitive first) so that the outputs on
    `batches` reach `min_cosine` against the float graph's; [] when quantizing all of them does."""
    weights: dict = {}
    with torch.no_grad():
        reference = torch.cat([_flat(gm(*b)) for b in batches])

        def cosine(chosen) -> float:
            sim = _Simulated(gm, set(chosen), thresholds, weights)
            return _cosine(torch.cat([_flat(sim.run(*b)) for b in batches]), reference)

        names = [n.name for n in targets]
        if cosine(names) >= min_cosine:
            return []
        alone = {name: cosine([name]) for name in names}
        order = sorted(names, key=lambda name: alone[name])  # the costliest alone first
        lo, hi = 1, len(order)  # keeping all in float reaches any target
        while lo < hi:
            k = (lo + hi) // 2
            if cosine(order[k:]) >= min_cosine:
                hi = k
            else:
                lo = k + 1
    kept = order[:lo]
    by_name = {n.name: n for n in targets}
    logger.info("tensorforge.quantize: %d of %d layers kept in float for cosine %.4f: %s", len(kept), len(names),
                min_cosine, ", ".join(_module_name(by_name[k]) or k for k in kept))
    return kept
