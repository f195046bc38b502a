"""Block outputs that are views: the engine returns the tensor they view, PyTorch takes the view.

An engine's outputs are contiguous tensors, so a block output that is a strided view of a tensor
the block computes (GPT-2 returns each layer's key and value heads, permuted slices of its fused
QKV projection) costs a copy kernel per call in the engine. When such views together cover at least
half of the tensor they view, the block returns that tensor instead and the stitched graph takes
each view of it with one as_strided call (a few hundred nanoseconds of host time, no kernel); the
view has the strides eager PyTorch gives it. Views of a block input, dtype reinterpretations and
views whose tensor is not contiguous in eager PyTorch stay engine outputs.
"""

from __future__ import annotations

import operator

import torch
from torch.fx import GraphModule, Node

_aten = torch.ops.aten
VIEW_OPS = frozenset([
    _aten.view.default, _aten._unsafe_view.default, _aten.permute.default, _aten.transpose.int,
    _aten.t.default, _aten.slice.Tensor, _aten.select.int, _aten.expand.default, _aten.squeeze.dim,
    _aten.squeeze.dims, _aten.squeeze.default, _aten.unsqueeze.default, _aten.alias.default,
    _aten.narrow.default,
])
"""ATen overloads whose result always shares its first argument's storage."""
SPLIT_OPS = frozenset([_aten.split.Tensor, _aten.split_with_sizes.default, _aten.unbind.int,
                       _aten.chunk.default])
"""Overloads returning a list of views of their first argument (read through getitem)."""


def view_of(base: torch.Tensor, size, stride, offset: int) -> torch.Tensor:
    """The view of `base` (a contiguous tensor, perhaps itself a slice of a larger allocation) with
    `size`, `stride` and element `offset` counted from base's first element."""
    return base.as_strided(size, stride, base.storage_offset() + offset)


def _viewed(node: Node) -> Node | None:
    """The node whose storage `node` views through a chain of view ops, or None if `node` is no view."""
    base, seen = node, False
    while isinstance(base, Node) and base.op == "call_function":
        if base.target in VIEW_OPS:
            base = base.args[0]
        elif base.target is operator.getitem and isinstance(base.args[0], Node) and base.args[0].target in SPLIT_OPS:
            base = base.args[0].args[0]
        else:
            break
        seen = True
    return base if seen and isinstance(base, Node) else None


def _hoistable(out: Node, base: Node) -> bool:
    o, b = out.meta.get("val"), base.meta.get("val")
    if not isinstance(o, torch.Tensor) or not isinstance(b, torch.Tensor):
        return False
    if base.op != "call_function" or o.dtype != b.dtype or o.dtype == torch.float64 or o.numel() == 0:
        return False
    if not b.is_contiguous() or b.storage_offset() != 0:
        return False
    try:
        if o.untyped_storage()._cdata != b.untyped_storage()._cdata:  # fake tensors keep views' storage
            return False
    except (NotImplementedError, RuntimeError):
        return False
    return not (o.is_contiguous() and o.storage_offset() == 0)  # that view costs the engine no copy


def hoist_output_views(gm: GraphModule, block: str) -> int:
    """Rewrites block `block` of the stitched `gm` (a submodule still in ATen) so that its outputs
    that are views (see the module docstring) become views taken after it; returns how many."""
    sub: GraphModule = getattr(gm, block)
    out_node = next(n for n in sub.graph.nodes if n.op == "output")
    single = not isinstance(out_node.args[0], (tuple, list))
    outs = [out_node.args[0]] if single else list(out_node.args[0])
    bases = {i: _viewed(o) for i, o in enumerate(outs) if isinstance(o, Node)}
    bases = {i: b for i, b in bases.items() if b is not None and _hoistable(outs[i], b)}
    covered: dict = {}
    for i, b in bases.items():
        covered[b] = covered.get(b, 0) + outs[i].meta["val"].numel()
    bases = {i: b for i, b in bases.items() if 2 * covered[b] >= b.meta["val"].numel()}
    if not bases:
        return 0
    call = next(n for n in gm.graph.nodes if n.op == "call_module" and n.target == block)
    old_values = {0: call} if single else {u.args[1]: u for u in call.users if u.target is operator.getitem}
    if not single and (len(old_values) != len(outs) or len(call.users) != len(outs) or
                       any(u.target is not operator.getitem for u in call.users)):
        return 0  # an output read other than through one getitem each: leave the block as it is
    new_outs = [o for i, o in enumerate(outs) if i not in bases]
    for b in bases.values():
        if b not in new_outs:
            new_outs.append(b)
    out_node.args = (new_outs[0] if len(new_outs) == 1 else tuple(new_outs),)
    sub.graph.eliminate_dead_code()
    sub.recompile()

    call.meta["val"] = new_outs[0].meta.get("val") if len(new_outs) == 1 else tuple(o.meta.get("val") for o in new_outs)
    created = set()
    if len(new_outs) == 1:
        new_values = [call]
    else:
        new_values = []
        for j, o in enumerate(new_outs):
            # each after the one before: inserting several nodes after `call` would put them in reverse
            with gm.graph.inserting_after(new_values[-1] if new_values else call):
                g = gm.graph.call_function(operator.getitem, (call, j))
            g.meta["val"] = o.meta.get("val")
            new_values.append(g)
            created.add(g)
    last = new_values[-1]
    for i, old in old_values.items():
        if i in bases:
            val = outs[i].meta["val"]
            with gm.graph.inserting_after(last):
                value = gm.graph.call_function(
                    view_of, (new_values[new_outs.index(bases[i])], tuple(val.shape), tuple(val.stride()),
                              val.storage_offset()))
            value.meta["val"] = val
            created.add(value)
            last = value
        else:
            value = new_values[new_outs.index(outs[i])]
        if value is not old:
            old.replace_all_uses_with(value, delete_user_cb=lambda u: u not in created)
    for old in old_values.values():
        if old is not call and not old.users:
            gm.graph.erase_node(old)
    gm.graph.lint()
    gm.recompile()
    return len(bases)
