"""Ops kept whole through ATen tracing by wrapping them as custom ops before the trace.

scaled_dot_product_attention is CompositeImplicit: tracing would decompose it into matmuls and a
softmax before any decomposition table is consulted. The dynamo graph's calls are swapped for
tensorforge::sdpa (whose implementation is PyTorch's own), which the trace keeps as one node.
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
    return query.new_empty((*query.shape[:-1], value.shape[-1]))


_SDPA_TARGETS = {F.scaled_dot_product_attention, torch._C._nn.scaled_dot_product_attention}


def wrap_kept_ops(gm: GraphModule) -> GraphModule:
    """Replaces F.scaled_dot_product_attention calls of a dynamo graph with tensorforge::sdpa."""
    changed = False
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in _SDPA_TARGETS:
            node.target = torch.ops.tensorforge.sdpa.default
            changed = True
    if changed:
        gm.recompile()
    return gm
