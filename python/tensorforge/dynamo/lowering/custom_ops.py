"""Ops kept whole through ATen tracing by wrapping them as custom ops before the trace.

scaled_dot_product_attention and interpolate are composite: tracing would decompose them (into
matmuls and a softmax; into index arithmetic) before any decomposition table is consulted. The
dynamo graph's calls (of the functions, or of the ATen op that exported graphs hold) are swapped for tensorforge::sdpa and tensorforge::interpolate, whose
implementations are PyTorch's own, and the trace keeps each as one node for one engine layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.fx import GraphModule


@torch.library.custom_op("tensorforge::sdpa", mutates_args=())
def sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None,
         dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
         enable_gqa: bool = False) -> torch.Tensor:
    return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
                                          is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)


@sdpa.register_fake
def _(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    # Laid out as the query is, as PyTorch's own shape function for the ATen op lays it out: an
    # exported graph (torch.export, tensorforge.quantize) keeps only the views that layout allows (a
    # multi-head attention's permute(2, 0, 1, 3).contiguous().view(...) is exported without the
    # contiguous), so a contiguous result here would make its later view fail.
    order = sorted(range(query.dim()), key=lambda d: -query.stride(d))
    return torch.empty_permuted((*query.shape[:-1], value.shape[-1]), order, dtype=query.dtype, device=query.device)


@torch.library.custom_op("tensorforge::interpolate", mutates_args=())
def interpolate(x: torch.Tensor, size: list[int] | None, scale_factor: list[float] | None, mode: str,
                align_corners: bool | None) -> torch.Tensor:
    return F.interpolate(x, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners)


@interpolate.register_fake
def _(x, size, scale_factor, mode, align_corners):
    spatial = size if size is not None else [int(d * s) for d, s in zip(x.shape[2:], scale_factor)]
    return x.new_empty((*x.shape[:2], *spatial))


# The ATen op too: graphs from torch.export (tensorforge.quantize's, PT2E's) call it directly, and
# tracing would otherwise decompose it as PyTorch's backend choice for the traced tensors goes (on
# CUDA, a boolean mask broadcast over heads gave the math form: two batched products, a softmax and
# four more kernels a layer).
_SDPA_TARGETS = {F.scaled_dot_product_attention, torch._C._nn.scaled_dot_product_attention,
                 torch.ops.aten.scaled_dot_product_attention.default}
_INTERPOLATE_MODES = {"nearest", "linear", "bilinear", "trilinear"}
# The deprecated F.upsample* functions, as the F.interpolate arguments they mean.
_UPSAMPLE = {F.upsample_bilinear: {"mode": "bilinear", "align_corners": True},
             F.upsample_nearest: {"mode": "nearest"}, F.upsample: {}}


def _interpolate_args(node):
    """(x, size, scale_factor, mode, align_corners) for an F.interpolate call the custom op can
    express (static sizes, no antialiasing, no recomputed scale factor), else None."""
    names = ["input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"]
    defaults = [None, None, None, "nearest", None, None, False]
    values = dict(zip(names, defaults))
    values.update(zip(names, node.args))
    values.update(node.kwargs)
    x, size, scale, mode = values["input"], values["size"], values["scale_factor"], values["mode"]
    val = x.meta.get("example_value") if isinstance(x, torch.fx.Node) else None
    if val is None or values["antialias"] or values["recompute_scale_factor"]:
        return None
    # Float inputs in the modes the engine has stay whole for its resize layer; integer inputs in
    # any mode stay whole too, so that PyTorch runs its own integer kernel (whose rounding the traced
    # float decomposition does not reproduce).
    if mode not in _INTERPOLATE_MODES and val.is_floating_point():
        return None
    spatial = val.dim() - 2
    if spatial < 1:
        return None
    as_list = lambda v, kind: [kind(e) for e in (v if isinstance(v, (list, tuple)) else [v] * spatial)]  # noqa: E731
    try:
        size = None if size is None else as_list(size, int)
        scale = None if scale is None else as_list(scale, float)
    except (TypeError, ValueError):  # symbolic sizes or tensors
        return None
    if (size is None) == (scale is None):
        return None
    return (x, size, scale, mode, values["align_corners"])


def wrap_kept_ops(gm: GraphModule) -> GraphModule:
    """Replaces F.scaled_dot_product_attention and F.interpolate calls of a dynamo graph with the
    tensorforge:: custom ops."""
    changed = False
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target in _SDPA_TARGETS:
            node.target = torch.ops.tensorforge.sdpa.default
            changed = True
        elif node.target in _UPSAMPLE:
            node.target, node.kwargs = F.interpolate, {**node.kwargs, **_UPSAMPLE[node.target]}
            args = _interpolate_args(node)
            if args is not None:
                node.target = torch.ops.tensorforge.interpolate.default
                node.args, node.kwargs = args, {}
            changed = True
        elif node.target is F.interpolate:
            args = _interpolate_args(node)
            if args is not None:
                node.target = torch.ops.tensorforge.interpolate.default
                node.args, node.kwargs = args, {}
                changed = True
    if changed:
        gm.recompile()
    return gm
