"""Converters of matrix products: mm, bmm, mv, dot, addmm, addmv, addbmm, baddbmm (beta/alpha);
one engine matmul each, in float or int32/int64 (other dtypes stay in PyTorch)."""

from __future__ import annotations

import torch

from tensorforge.dynamo.conversion.context import compute_dtype
from tensorforge.dynamo.conversion.impl import matmul as impl
from tensorforge.dynamo.conversion.registry import converter

aten = torch.ops.aten


def _dtype_ok(node, settings) -> bool:
    return compute_dtype(node.meta["val"].dtype, settings) in impl.MATMUL_DTYPES


@converter(aten.mm.default, aten.bmm.default, aten.mv.default, aten.dot.default, capability=_dtype_ok)
def aten_ops_mm(ctx, node, args, kwargs):
    return impl.matmul(ctx, args[0], args[1], node.args[0].meta["val"].dim(), node.args[1].meta["val"].dim())


def _scales(args, kwargs):
    beta = kwargs.get("beta", args[3] if len(args) > 3 else 1)
    alpha = kwargs.get("alpha", args[4] if len(args) > 4 else 1)
    return beta, alpha


@converter(aten.addmm.default, aten.addmv.default, aten.baddbmm.default, capability=_dtype_ok)
def aten_ops_addmm(ctx, node, args, kwargs):
    product = impl.matmul(ctx, args[1], args[2], node.args[1].meta["val"].dim(), node.args[2].meta["val"].dim(),
                          "_matmul")
    return impl.add_scaled(ctx, args[0], product, *_scales(args, kwargs))


@converter(aten.addbmm.default, capability=_dtype_ok)
def aten_ops_addbmm(ctx, node, args, kwargs):
    return impl.add_scaled(ctx, args[0], impl.addbmm_product(ctx, args[1], args[2]), *_scales(args, kwargs))
