"""Converters of scaled dot-product attention: tensorforge.sdpa (our wrapper of
F.scaled_dot_product_attention) and aten._scaled_dot_product_flash_attention_for_cpu (output 0
only: the node stays in PyTorch when its logsumexp is used). Dropout, scale 0, masks of another
float dtype and batch shapes the engine does not broadcast stay in PyTorch."""

from __future__ import annotations

import operator

import torch

from tensorforge.dynamo.conversion.impl import attention as impl
from tensorforge.dynamo.lowering import custom_ops  # noqa: F401 - defines torch.ops.tensorforge.sdpa
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten
FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def _parse(node, args, kwargs):
    """(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa) of either op."""
    def get(i, name, default):
        return args[i] if len(args) > i else kwargs.get(name, default)
    q, k, v = args[:3]
    if node.target == aten._scaled_dot_product_flash_attention_for_cpu.default:
        return (q, k, v, kwargs.get("attn_mask"), get(3, "dropout_p", 0.0), get(4, "is_causal", False),
                kwargs.get("scale"), False)
    return (q, k, v, get(3, "attn_mask", None), get(4, "dropout_p", 0.0), get(5, "is_causal", False),
            get(6, "scale", None), get(7, "enable_gqa", False))


def _shapes_ok(q, k, v, gqa: bool) -> bool:
    if not (q.dim() == k.dim() == v.dim() >= 2) or k.shape[-1] != q.shape[-1] or k.shape[-2] != v.shape[-2]:
        return False
    if q.dim() == 2:
        return True
    if not (q.shape[:-3] == k.shape[:-3] == v.shape[:-3]) or k.shape[-3] != v.shape[-3]:
        return False
    hq, hk = q.shape[-3], k.shape[-3]
    return hq == hk or (gqa and hk > 0 and hq % hk == 0)


def _sdpa_ok(node, settings) -> bool:
    q, k, v, mask, dropout_p, causal, scale, gqa = _parse(node, node.args, node.kwargs)
    q, k, v = (n.meta["val"] for n in (q, k, v))
    if dropout_p != 0 or scale == 0 or q.dtype not in FLOATS or not (q.dtype == k.dtype == v.dtype):
        return False
    if mask is not None and (causal or mask.meta["val"].dtype not in (torch.bool, q.dtype)):
        return False
    if node.target == aten._scaled_dot_product_flash_attention_for_cpu.default:
        # only the attention output converts; the logsumexp (output 1) must be unused
        if any(u.target is not operator.getitem or u.args[1] != 0 for u in node.users):
            return False
    return _shapes_ok(q, k, v, bool(gqa))


@converter(torch.ops.tensorforge.sdpa.default, capability=_sdpa_ok)
def tensorforge_ops_sdpa(ctx, node, args, kwargs):
    q, k, v, mask, _, causal, scale, _ = _parse(node, args, kwargs)
    return impl.attention(ctx, q, k, v, mask, causal, scale)


@converter(aten._scaled_dot_product_flash_attention_for_cpu.default, capability=_sdpa_ok)
def aten_ops_sdpa_flash_cpu(ctx, node, args, kwargs):
    q, k, v, mask, _, causal, scale, _ = _parse(node, args, kwargs)
    return (impl.attention(ctx, q, k, v, mask, causal, scale), None)
