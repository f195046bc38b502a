"""Converters of scaled dot-product attention: tensorforge.sdpa (our wrapper of
F.scaled_dot_product_attention) and the backend-specific ATen forms that calls from C++ (such as
nn.MultiheadAttention's) reach directly: _scaled_dot_product_flash_attention_for_cpu, and on CUDA
_scaled_dot_product_flash_attention, _efficient_attention and _cudnn_attention (output 0 only: the
node stays in PyTorch when its logsumexp or other outputs are used). Dropout, scale 0, masks of another
float dtype and batch shapes the engine does not broadcast stay in PyTorch."""

from __future__ import annotations

import operator

import torch

from tensorforge.dynamo.conversion.impl import attention as impl
from tensorforge.dynamo.lowering import custom_ops  # noqa: F401 - defines torch.ops.tensorforge.sdpa
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten
FLOATS = (torch.float32, torch.float16, torch.bfloat16)


# Backend forms without a mask argument (flash) and with one at position 3 (attn_bias), whose first
# output is the attention; their other outputs (logsumexp, seeds) must be unused.
_FLASH = (aten._scaled_dot_product_flash_attention_for_cpu.default, aten._scaled_dot_product_flash_attention.default)
_WITH_BIAS = (aten._scaled_dot_product_efficient_attention.default, aten._scaled_dot_product_cudnn_attention.default)
_BACKEND_FORMS = _FLASH + _WITH_BIAS


def _parse(node, args, kwargs):
    """(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa) of any of the ops."""
    def get(i, name, default):
        return args[i] if len(args) > i else kwargs.get(name, default)
    q, k, v = args[:3]
    if node.target == aten._scaled_dot_product_flash_attention_for_cpu.default:
        return (q, k, v, kwargs.get("attn_mask"), get(3, "dropout_p", 0.0), get(4, "is_causal", False),
                kwargs.get("scale"), False)
    if node.target == aten._scaled_dot_product_flash_attention.default:
        return (q, k, v, None, get(3, "dropout_p", 0.0), get(4, "is_causal", False), kwargs.get("scale"), False)
    if node.target in _WITH_BIAS:  # (q, k, v, attn_bias, compute_log_sumexp, dropout_p, is_causal, ...)
        return (q, k, v, get(3, "attn_bias", None), get(5, "dropout_p", 0.0), get(6, "is_causal", False),
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
    # One key/value head broadcasts over the query heads without enable_gqa too (multi-query
    # attention written as broadcasting: Falcon's); the engine's grouped heads compute the same.
    return hq == hk or hk == 1 or (gqa and hk > 0 and hq % hk == 0)


def _sdpa_ok(node, settings) -> bool:
    q, k, v, mask, dropout_p, causal, scale, gqa = _parse(node, node.args, node.kwargs)
    q, k, v = (n.meta["val"] for n in (q, k, v))
    if dropout_p != 0 or scale == 0 or q.dtype not in FLOATS or not (q.dtype == k.dtype == v.dtype):
        return False
    if mask is not None and (causal or mask.meta["val"].dtype not in (torch.bool, q.dtype)):
        return False
    if node.target in _BACKEND_FORMS:
        # only the attention output converts; the logsumexp (output 1) and the rest must be unused
        if any(u.target is not operator.getitem or u.args[1] != 0 for u in node.users):
            return False
        # the CUDA kernels align a causal mask bottom-right when L != S; the engine aligns it top-left
        # (as F.scaled_dot_product_attention): the two agree only for square scores
        if causal and node.target != aten._scaled_dot_product_flash_attention_for_cpu.default and \
                q.shape[-2] != k.shape[-2]:
            return False
    return _shapes_ok(q, k, v, bool(gqa))


@converter(torch.ops.tensorforge.sdpa.default, capability=_sdpa_ok)
def tensorforge_ops_sdpa(ctx, node, args, kwargs):
    q, k, v, mask, _, causal, scale, _ = _parse(node, args, kwargs)
    return impl.attention(ctx, q, k, v, mask, causal, scale)


@converter(*_BACKEND_FORMS, capability=_sdpa_ok)
def aten_ops_sdpa_backend_form(ctx, node, args, kwargs):
    q, k, v, mask, _, causal, scale, _ = _parse(node, args, kwargs)
    outputs = len(node.meta["val"])
    return (impl.attention(ctx, q, k, v, mask, causal, scale),) + (None,) * (outputs - 1)

