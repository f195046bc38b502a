"""The decomposition table used when tracing to ATen: PyTorch's core ATen decompositions, minus the
ops the engine runs better whole (one engine layer each, or a fused pattern).

Only ops that reach the dispatcher belong here. Composite ops (linear, layer_norm, softmax.int,
F.interpolate, scaled_dot_product_attention, ...) are decomposed before the table is consulted;
the ones worth keeping whole are wrapped as tensorforge:: custom ops instead (custom_ops.py)."""

from __future__ import annotations

import functools

import torch
from torch._decomp import core_aten_decompositions

aten = torch.ops.aten

# Kept whole: the engine has a layer (or a converter) for each.
KEPT_WHOLE = [
    aten.addmm.default, aten._softmax.default, aten._log_softmax.default, aten.native_layer_norm.default,
    aten.native_group_norm.default, aten._native_batch_norm_legit_no_training.default, aten.gelu.default,
    aten.silu.default, aten.hardswish.default, aten.hardsigmoid.default, aten.mish.default, aten.elu.default,
    aten.celu.default, aten.selu.default, aten.softplus.default, aten.leaky_relu.default, aten.hardtanh.default,
    aten.sigmoid.default, aten.tanh.default, aten.prelu.default, aten.clamp.default, aten.constant_pad_nd.default,
    aten.reflection_pad2d.default, aten.replication_pad2d.default, aten._adaptive_avg_pool2d.default,
    aten.avg_pool2d.default, aten.max_pool2d_with_indices.default, aten.topk.default, aten.cumsum.default,
    aten.embedding.default, aten.index_select.default, aten.stack.default, aten.split.Tensor,
    aten.split_with_sizes.default, aten.chunk.default, aten.expand.default, aten.squeeze.dim,
    aten.unsqueeze.default, aten.transpose.int, aten.t.default, aten.var_mean.correction, aten.mean.dim,
    aten.full.default, aten.full_like.default, aten.zeros_like.default, aten.ones_like.default, aten.where.self,
    aten.masked_fill.Scalar, aten.masked_fill.Tensor, aten.rsub.Scalar, aten.rsub.Tensor, aten.clamp_min.default,
    aten.clamp_max.default, aten.all.default, aten.any.default, aten.norm.ScalarOpt_dim,
    aten.upsample_linear1d.default, aten.upsample_trilinear3d.default, aten.reflection_pad1d.default,
    aten.reflection_pad3d.default, aten.replication_pad1d.default, aten.replication_pad3d.default, aten.all.dim,
    aten.all.dims, aten.std.correction, aten.std_mean.correction, aten.roll.default, aten.unbind.int,
    aten.mv.default, aten.dot.default, aten.baddbmm.default,
    aten._scaled_dot_product_flash_attention_for_cpu.default,
]


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    table = dict(core_aten_decompositions())  # PyTorch builds this anew each call: about 0.2 s
    for op in KEPT_WHOLE:
        table.pop(op, None)
    return table


def decomposition_table() -> dict:
    """Core ATen decompositions without KEPT_WHOLE (a fresh copy of a table built once)."""
    return dict(_table())
