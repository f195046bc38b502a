"""Attention builder: one engine attention layer (scale 0 means 1/sqrt(E), as PyTorch's None);
query, key and value in the node's dtype, a float mask too (a bool mask stays bool)."""

from __future__ import annotations

import torch

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext


def attention(ctx: ConversionContext, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask, causal: bool,
              scale) -> tf.Tensor:
    dtype = ctx.out_dtype()
    q, k, v = ctx.cast(q, dtype), ctx.cast(k, dtype), ctx.cast(v, dtype)
    if mask is not None and ctx.torch_dtype(mask) != torch.bool:
        mask = ctx.cast(mask, dtype)
    return ctx.net.add_attention(q, k, v, mask, causal=bool(causal), scale=0.0 if scale is None else float(scale),
                                 name=ctx.name())
